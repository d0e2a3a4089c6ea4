// Replay on the page: the picker that starts one (live mode) and the bar that drives one (replay mode).
// The server plays the day; this module only shows its clock and sends play, pause, seek and speed.

import { isInt } from "./format.js";

const MINUTE_MS = 60000;
const SPEEDS = new Set(["1", "10", "60", "600", "max"]);

// ?replay=<session>&speed=<x>&at=<ms>: the session to watch, or null on the live page.
export function replayOf(params) {
  const session = params.get("replay");
  if (session === null || !/^[A-Za-z0-9_-]{1,100}$/.test(session)) return null;
  const speed = params.get("speed");
  const at = Number(params.get("at"));
  return {
    session,
    speed: SPEEDS.has(speed) ? speed : "600",
    at: Number.isInteger(at) && at > 0 ? at : null,
  };
}

// Keeps ?token= on every URL the page builds, so a protected dashboard stays reachable.
export function withToken(path, params) {
  const token = params.get("token");
  if (token === null) return path;
  return path + (path.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token);
}

function authHeaders(params) {
  const token = params.get("token");
  return token === null ? {} : { Authorization: "Bearer " + token };
}

function clockText(ms) {
  return new Date(ms).toISOString().slice(11, 19) + " UTC";
}

// ---- live mode: list the log's days and start a replay of one ----

export async function setupPicker(params) {
  const form = document.getElementById("replay-pick");
  const daySelect = document.getElementById("replay-day");
  const speedSelect = document.getElementById("replay-speed");
  const error = document.getElementById("replay-error");
  let days;
  try {
    const response = await fetch("/api/days", { headers: authHeaders(params) });
    if (!response.ok) return;
    days = (await response.json()).days;
  } catch (err) {
    return; // no picker rather than a broken one; the live page works without it
  }
  if (!Array.isArray(days) || days.length === 0) return;
  for (const d of days) {
    if (!d || typeof d.day !== "string" || !isInt(d.records)) continue;
    const option = document.createElement("option");
    option.value = d.day;
    option.textContent = d.day + " · " + d.records.toLocaleString("en-US") + " records";
    daySelect.append(option);
  }
  form.hidden = false;
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    error.textContent = "";
    form.dataset.busy = "true";
    try {
      const response = await fetch("/api/replays", {
        method: "POST",
        headers: { "Content-Type": "application/json", ...authHeaders(params) },
        body: JSON.stringify({ day: daySelect.value }),
      });
      const body = await response.json().catch(() => ({}));
      if (!response.ok || typeof body.session !== "string") {
        error.textContent = body.error || "the replay could not start (" + response.status + ")";
        return;
      }
      const q = new URLSearchParams({ replay: body.session, speed: speedSelect.value });
      location.assign(withToken("/?" + q.toString(), params));
    } catch (err) {
      error.textContent = "the replay could not start: the server did not answer";
    } finally {
      delete form.dataset.busy;
    }
  });
}

// ---- replay mode: the bar under the header ----

export class ReplayBar {
  constructor(replay, params, send) {
    this.send = send;
    this.status = null;
    this.dragging = false;
    const byId = (id) => document.getElementById(id);
    this.el = {
      bar: byId("replay-bar"),
      day: byId("replay-day-shown"),
      toggle: byId("replay-toggle"),
      scrub: byId("replay-scrub"),
      clock: byId("replay-clock"),
      rate: byId("replay-rate"),
      state: byId("replay-state"),
      exit: byId("replay-exit"),
    };
    document.body.dataset.mode = "replay";
    this.el.bar.hidden = false;
    this.el.rate.value = replay.speed;
    this.el.exit.href = withToken("/", params);
    this.el.toggle.addEventListener("click", () => {
      if (!this.status) return;
      const playing = this.status.playing && this.status.state !== "ended";
      this.send({ type: playing ? "pause" : "play" });
    });
    this.el.scrub.addEventListener("input", () => {
      this.dragging = true;
      if (this.status) this.el.clock.textContent = clockText(this.scrubbedMs());
    });
    this.el.scrub.addEventListener("change", () => {
      this.dragging = false;
      if (this.status) this.send({ type: "seek", to_ms: this.scrubbedMs() });
    });
    this.el.rate.addEventListener("change", () => this.send({ type: "speed", speed: this.el.rate.value }));
  }

  scrubbedMs() {
    return this.status.start_ms + Number(this.el.scrub.value) * MINUTE_MS;
  }

  // Where the replay stands, for a reconnect to pick up from.
  position() {
    return this.status && isInt(this.status.clock_ms) ? this.status.clock_ms : null;
  }

  show(status) {
    if (!status || typeof status !== "object") return;
    const el = this.el;
    el.state.textContent = status.state === "failed" ? "failed: " + (status.error || "unknown error") : status.state;
    el.bar.dataset.state = status.state;
    if (!isInt(status.clock_ms) || !isInt(status.start_ms) || !isInt(status.end_ms)) return;
    this.status = status;
    el.day.textContent = status.day;
    el.day.setAttribute("datetime", status.day);
    el.toggle.disabled = false;
    el.scrub.disabled = false;
    const playing = status.playing && status.state !== "ended";
    el.toggle.textContent = playing ? "Pause" : "Play";
    el.toggle.dataset.playing = String(playing);
    el.bar.dataset.clockMs = String(status.clock_ms);
    if (SPEEDS.has(status.speed) && document.activeElement !== el.rate) el.rate.value = status.speed;
    if (!this.dragging) {
      el.scrub.max = String(Math.round((status.end_ms - status.start_ms) / MINUTE_MS));
      el.scrub.value = String(Math.floor((status.clock_ms - status.start_ms) / MINUTE_MS));
      el.clock.textContent = status.clock_ms >= status.end_ms ? "24:00:00 UTC" : clockText(status.clock_ms);
    }
  }
}
