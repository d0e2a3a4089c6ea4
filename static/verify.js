// Verify on the page: the Verify button runs the audit of the shown day on the server (a child process
// there, app/verify.py) and shows its verdict, when it ran and the offsets it covered; the report of a
// closed day is a download link.

import { withToken } from "./replay.js";

const POLL_MS = 1000;

function authHeaders(params) {
  const token = params.get("token");
  return token === null ? {} : { Authorization: "Bearer " + token };
}

function timeText(ms) {
  return new Date(ms).toISOString().slice(11, 19) + " UTC";
}

// "0:0–8309, 1:0–5556": the raw records each partition's recount covered.
export function offsetsText(offsets) {
  if (!offsets || typeof offsets !== "object") return "";
  return Object.keys(offsets).sort((a, b) => Number(a) - Number(b))
    .map((p) => (Array.isArray(offsets[p]) ? p + ":" + offsets[p][0] + "–" + offsets[p][1] : p + ":?"))
    .join(", ");
}

export class VerifyPanel {
  constructor(params) {
    this.params = params;
    this.day = null;
    this.polling = 0;
    const byId = (id) => document.getElementById(id);
    this.el = {
      box: byId("verify-box"), button: byId("verify"), state: byId("verify-state"), line: byId("verify-line"),
      report: byId("report-link"),
    };
    this.el.button.addEventListener("click", () => this.start());
  }

  // The day shown (known once the first snapshot came): what Verify audits and the report is of.
  async setDay(day) {
    if (!/^\d{4}-\d{2}-\d{2}$/.test(day || "") || day === this.day) return;
    this.day = day;
    this.el.box.dataset.day = day;
    this.mark("none", "not verified", "");
    try {
      const response = await fetch(withToken("/api/audits?day=" + day, this.params),
        { headers: authHeaders(this.params) });
      if (!response.ok || day !== this.day) return;
      const body = await response.json();
      // Only a day the orders log holds can be recounted: no button for one it does not.
      this.el.box.hidden = body.in_log !== true;
      this.showReport(body.report);
      if (body.latest) this.show(body.latest);
    } catch (err) {
      // no report link rather than a broken one; Verify still works
    }
  }

  showReport(url) {
    const link = this.el.report;
    link.hidden = typeof url !== "string";
    if (!link.hidden) {
      link.href = withToken(url, this.params);
      link.download = "salesdash-report-" + this.day + ".html";
    }
  }

  mark(state, text, line) {
    this.el.state.dataset.state = state;
    this.el.state.textContent = text;
    this.el.line.textContent = line;
    this.el.line.title = line;
  }

  async start() {
    if (!this.day) return;
    this.el.button.disabled = true;
    this.mark("running", "verifying…", "recounting " + this.day + " from the raw orders");
    try {
      const response = await fetch("/api/audits", {
        method: "POST",
        headers: { "Content-Type": "application/json", ...authHeaders(this.params) },
        body: JSON.stringify({ day: this.day }),
      });
      const body = await response.json().catch(() => ({}));
      if (!response.ok || typeof body.audit !== "string") {
        this.mark("failed", "not verified", body.error || "the audit could not start (" + response.status + ")");
        this.el.button.disabled = false;
        return;
      }
      this.poll(body.audit);
    } catch (err) {
      this.mark("failed", "not verified", "the audit could not start: the server did not answer");
      this.el.button.disabled = false;
    }
  }

  async poll(audit) {
    clearTimeout(this.polling);
    try {
      const response = await fetch(withToken("/api/audits/" + encodeURIComponent(audit), this.params),
        { headers: authHeaders(this.params) });
      const status = await response.json();
      if (response.ok && status.state === "running") {
        this.polling = setTimeout(() => this.poll(audit), POLL_MS);
        return;
      }
      this.show(status);
    } catch (err) {
      this.polling = setTimeout(() => this.poll(audit), POLL_MS * 3);
      return;
    }
    this.el.button.disabled = false;
  }

  show(status) {
    if (!status || status.day !== this.day) return;
    this.el.box.dataset.audit = status.audit;
    if (status.state === "running") {
      this.mark("running", "verifying…", "recounting " + this.day + " from the raw orders");
      this.el.button.disabled = true;
      this.poll(status.audit);
      return;
    }
    if (status.state !== "done" || !status.verdict) {
      this.mark("failed", "audit failed", status.error || "the audit failed");
      return;
    }
    const ok = status.verdict.ok === true;
    const when = Number.isSafeInteger(status.ms) ? " · at " + timeText(status.ms) : "";
    const covered = offsetsText(status.offsets);
    this.mark(ok ? "verified" : "differs", ok ? "verified" : "differs",
      status.line + when + (covered ? " · offsets " + covered : ""));
    this.el.box.dataset.ms = String(status.ms);
    this.el.box.dataset.offsets = JSON.stringify(status.offsets || {});
  }
}
