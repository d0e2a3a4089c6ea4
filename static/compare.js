// Compare with another day: the header's choice, that day's minutes aligned by time of day (UTC, so no
// daylight saving shifts them) behind the shown day's bars, and both days' cumulative figures through the
// current minute with the change. The server counts the other day once for every viewer (app/compare.py);
// this module only sums and draws what it sent.

import { DASH, formatCents, groupThousands, isInt } from "./format.js";
import { project, showProjection } from "./projection.js";

const MINUTE_MS = 60000;
const LINE = "#58a6ff";

function dayStart(day) {
  return /^\d{4}-\d{2}-\d{2}$/.test(day || "") ? Date.parse(day + "T00:00:00Z") : NaN;
}

function hhmm(minuteOfDay) {
  return String(Math.floor(minuteOfDay / 60)).padStart(2, "0") + ":" + String(minuteOfDay % 60).padStart(2, "0");
}

// The compare object as sent, checked; null for none or anything malformed.
export function readCompare(body) {
  if (!body || typeof body.day !== "string" || !isInt(body.start_ms) || !Array.isArray(body.minutes)) return null;
  const c = body.cumulative || {};
  if (!Array.isArray(c.orders) || !Array.isArray(c.net_cents) || c.orders.length !== body.minutes.length
      || c.net_cents.length !== body.minutes.length) return null;
  const ok = body.minutes.every((m) => m && isInt(m.start_ms) && isInt(m.orders) && isInt(m.net_cents));
  if (!ok || !c.orders.every(isInt) || !c.net_cents.every(isInt)) return null;
  const rows = (list, key) => (Array.isArray(list) ? list : [])
    .filter((r) => r && typeof r[key] === "string" && isInt(r.orders) && isInt(r.net_cents));
  const whole = body.totals && isInt(body.totals.net_cents) ? body.totals.net_cents : null;
  return {
    day: body.day, start_ms: body.start_ms, minutes: body.minutes, cumulative: c, whole_net_cents: whole,
    channels: rows(body.channels, "channel"), countries: rows(body.countries, "country"),
  };
}

// The change in tenths of a percent, rounded half away from zero, in exact integers (BigInt): the same
// figure app/compare.py's change_tenths gives. null when there is nothing to compare with.
export function changeTenths(now, then) {
  if (!(then > 0)) return null;
  const q = 1000n * (BigInt(now) - BigInt(then));
  const b = BigInt(then);
  const tenths = Number(((q < 0n ? -q : q) * 2n + b) / (2n * b));
  return q < 0n ? -tenths : tenths;
}

export function percentText(tenths) {
  if (tenths === null) return DASH;
  const sign = tenths > 0 ? "+" : tenths < 0 ? "-" : "±";
  const abs = Math.abs(tenths);
  return sign + Math.floor(abs / 10) + "." + (abs % 10) + "%";
}

// The other day's orders and net from its midnight through the end of minute `minuteOfDay`.
export function otherThrough(body, minuteOfDay) {
  const last = body.start_ms + minuteOfDay * MINUTE_MS;
  let lo = 0, hi = body.minutes.length; // the first minute after `last`
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (body.minutes[mid].start_ms <= last) lo = mid + 1; else hi = mid;
  }
  return lo === 0 ? { orders: 0, net_cents: 0 }
    : { orders: body.cumulative.orders[lo - 1], net_cents: body.cumulative.net_cents[lo - 1] };
}

// The shown day's orders and net through the end of minute `minuteOfDay`, from the page's minutes.
export function shownThrough(state, minuteOfDay) {
  const last = dayStart(state.day) + minuteOfDay * MINUTE_MS;
  let orders = 0, net = 0;
  for (const m of state.minutes.values()) {
    if (m.start_ms > last) continue;
    orders += m.orders;
    net += m.gross_cents - m.refunds_cents;
  }
  return { orders, net_cents: net };
}

// The minute to compare at: now's while the shown day runs (a replay's clock on a replay), the day's
// last minute once it is over.
export function currentMinute(state, nowMs) {
  const start = dayStart(state.day);
  if (Number.isNaN(start)) return null;
  const at = state.clockMs !== null ? state.clockMs : nowMs;
  return Math.max(0, Math.min(1439, Math.floor((at - start) / MINUTE_MS)));
}

export function comparison(state, body, nowMs) {
  const minute = currentMinute(state, nowMs);
  if (minute === null || !body) return null;
  const shown = shownThrough(state, minute);
  const other = otherThrough(body, minute);
  return {
    minute, at: hhmm(minute), shown, other,
    net_tenths: changeTenths(shown.net_cents, other.net_cents),
    orders_tenths: changeTenths(shown.orders, other.orders),
  };
}

// The other day's net per minute as a line, each minute moved onto the shown day's clock.
export function compareTrace(state) {
  const body = state.compare;
  const start = dayStart(state.day);
  if (!body || Number.isNaN(start)) return null;
  const x = [], y = [];
  for (const m of body.minutes) {
    x.push(new Date(start + (m.start_ms - body.start_ms)).toISOString().slice(0, 19).replace("T", " "));
    y.push(m.net_cents / 100);
  }
  return {
    type: "scatter", mode: "lines", name: "compare", x, y,
    line: { color: LINE, width: 1.5, shape: "hvh" }, opacity: 0.8,
    hovertemplate: "%{x|%H:%M} UTC<br>" + body.day + ": $%{y:,.2f}<extra></extra>",
  };
}

function share(rows, key, name) {
  const total = rows.reduce((sum, r) => sum + Math.max(0, r.net_cents), 0);
  const row = rows.find((r) => r[key] === name);
  return total > 0 && row ? Math.max(0, row.net_cents) * 1000 / total : null; // tenths of a percent
}

function shareText(mine, theirs, day) {
  const fmt = (t) => (t === null ? DASH : (Math.round(t) / 10).toFixed(1) + "%");
  const diff = mine !== null && theirs !== null ? Math.round(mine - theirs) : null;
  const pt = diff === null ? "" : " (" + (diff >= 0 ? "+" : "-") + (Math.abs(diff) / 10).toFixed(1) + " pt)";
  return fmt(mine) + " of net · " + day + ": " + fmt(theirs) + pt;
}

// Hover text for a country on the map: its share of net beside the other day's (whole-day) share.
export function countryText(state, country) {
  const body = state.compare;
  if (!body || !state.countries) return "";
  return "<br>" + shareText(share(state.countries, "country", country), share(body.countries, "country", country),
    body.day);
}

// ---- the header's choice and the comparison line ----

export class ComparePanel {
  // `fixed`: the server picks the day (a merchant's view), so the header has no choice to show.
  constructor(params, send, fixed = false) {
    this.send = send;
    this.fixed = fixed;
    const asked = params.get("compare");
    // What the viewer asked for: a day, "none", or the server's default.
    this.choice = asked === "none" || /^\d{4}-\d{2}-\d{2}$/.test(asked || "") ? asked : "default";
    this.el = {
      form: document.getElementById("compare-pick"),
      select: document.getElementById("compare-day"),
      line: document.getElementById("compare-line"),
      projection: document.getElementById("projection-line"),
    };
    this.el.select.addEventListener("change", () => {
      const day = this.el.select.value;
      this.choice = day === "none" ? "none" : day;
      const url = new URL(location.href);
      url.searchParams.set("compare", this.choice);
      history.replaceState(null, "", url); // a reload keeps the choice
      this.send({ type: "compare", day: day === "none" ? null : day });
    });
  }

  // The choice lists the days in the log (/api/days) but the shown one.
  async load(params, shownDay) {
    const token = params.get("token");
    const headers = token === null ? {} : { Authorization: "Bearer " + token };
    try {
      const response = await fetch("/api/days", { headers });
      if (response.ok) this.list((await response.json()).days || [], shownDay);
    } catch (err) {
      // the choice keeps what the server sends; the page works without the list
    }
  }

  // The days in the log, for the choice; the shown day is not one to compare with.
  list(days, shownDay) {
    for (const d of days) {
      if (!d || typeof d.day !== "string" || d.day === shownDay || this.has(d.day)) continue;
      const option = document.createElement("option");
      option.value = d.day;
      option.textContent = d.day;
      this.el.select.append(option);
    }
    // Shown once there is a day to choose: an empty choice would cost the header a row for nothing.
    this.el.form.hidden = this.fixed || this.el.select.options.length < 2;
  }

  has(day) {
    return Array.from(this.el.select.options).some((o) => o.value === day);
  }

  // A compare message: the other day (or none) for the state and the choice.
  show(state, body) {
    state.compare = readCompare(body);
    const day = state.compare ? state.compare.day : "none";
    if (!this.has(day)) this.list([{ day }], null);
    this.el.select.value = day;
    this.el.form.dataset.day = day;
  }

  render(state, nowMs) {
    const line = this.el.line;
    const c = comparison(state, state.compare, nowMs);
    if (!c) {
      line.hidden = true;
      delete line.dataset.day;
      delete line.dataset.key;
      showProjection(this.el.projection, null);
      return;
    }
    const day = state.compare.day, whole = state.compare.whole_net_cents;
    const key = [day, c.minute, c.shown.net_cents, c.other.net_cents, c.shown.orders, c.other.orders, whole].join(",");
    line.hidden = false;
    if (line.dataset.key === key) return;
    showProjection(this.el.projection, project(c.shown.net_cents, c.other.net_cents, whole));
    Object.assign(line.dataset, {
      key, day, at: c.at, minute: String(c.minute), shownCents: String(c.shown.net_cents),
      otherCents: String(c.other.net_cents), netTenths: String(c.net_tenths), shownOrders: String(c.shown.orders),
      otherOrders: String(c.other.orders), ordersTenths: String(c.orders_tenths),
    });
    line.textContent = percentText(c.net_tenths) + " against " + day + " at " + c.at
      + " · orders " + percentText(c.orders_tenths);
    line.title = "through " + c.at + " UTC: " + formatCents(c.shown.net_cents) + " net, "
      + groupThousands(c.shown.orders) + " orders; " + day + ": " + formatCents(c.other.net_cents) + " net, "
      + groupThousands(c.other.orders) + " orders";
  }

  // Hover on a channel: its share of net beside the other day's.
  titleChannels(list, state) {
    const body = state.compare;
    for (const li of list.querySelectorAll("li[data-channel]")) {
      const name = li.dataset.channel;
      li.title = body && state.channels
        ? name + ": " + shareText(share(state.channels, "channel", name), share(body.channels, "channel", name),
          body.day)
        : "";
    }
  }
}
