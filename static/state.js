// The page's copy of one day: a snapshot replaces it, a delta patches it (README: websocket protocol).
// Every figure is checked on the way in; a figure the server does not send (yet) stays null and shows "–".

import { isInt } from "./format.js";

export const SECONDS_WINDOW_MS = 15 * 60 * 1000;

function readTotals(t) {
  if (!t || !isInt(t.orders) || !isInt(t.gross_cents) || !isInt(t.refunds_cents)) return null;
  return {
    orders: t.orders,
    gross_cents: t.gross_cents,
    refunds_cents: t.refunds_cents,
    net_cents: isInt(t.net_cents) ? t.net_cents : t.gross_cents - t.refunds_cents,
    aov_cents: isInt(t.aov_cents) ? t.aov_cents : null,
    unique_customers: isInt(t.unique_customers) ? t.unique_customers : null,
  };
}

// Buckets (minutes, seconds) must all be well formed: a half-applied delta would show wrong money.
function readBuckets(list) {
  if (list === undefined || list === null) return [];
  if (!Array.isArray(list)) return null;
  const out = [];
  for (const b of list) {
    if (!b || !isInt(b.start_ms) || !isInt(b.orders) || !isInt(b.gross_cents) || !isInt(b.refunds_cents)) {
      return null;
    }
    out.push({
      start_ms: b.start_ms,
      orders: b.orders,
      gross_cents: b.gross_cents,
      refunds_cents: b.refunds_cents,
      final: b.final !== false, // an older server sends no flag: its minutes are shown as settled
    });
  }
  return out;
}

// Rankings and breakdowns: rows that do not fit the shape are left out, the rest still shows.
function readRows(list, strings, ints) {
  if (!Array.isArray(list)) return null;
  return list.filter((row) => row
    && strings.every((k) => typeof row[k] === "string")
    && ints.every((k) => isInt(row[k])));
}

function readCounts(obj) {
  if (!obj || typeof obj !== "object" || Array.isArray(obj)) return null;
  const out = {};
  for (const [k, v] of Object.entries(obj)) if (isInt(v)) out[k] = v;
  return out;
}

const OPTIONAL = {
  countries: (v) => readRows(v, ["country"], ["orders", "net_cents"]),
  channels: (v) => readRows(v, ["channel"], ["orders", "net_cents"]),
  top_merchants: (v) => readRows(v, ["merchant_id", "name"], ["orders", "net_cents"]),
  top_products: (v) => readRows(v, ["sku", "title", "merchant_id"], ["qty", "net_cents"]),
  dead_letters: readCounts,
  late_events: (v) => (isInt(v) ? v : null),
  ingest_rate: (v) => (isInt(v) ? v : null),
};

export class DayState {
  constructor() {
    this.day = null;
    this.asOfMs = null;
    this.clockMs = null; // a replay's clock: the per-second window ends there
    this.clear();
  }

  clear() {
    this.minutes = new Map(); // start_ms -> bucket
    this.seconds = new Map();
    this.totals = null;
    for (const key of Object.keys(OPTIONAL)) this[key] = null;
  }

  // Returns "applied", "ignored" (not a data message) or "malformed" (nothing was changed).
  apply(msg) {
    if (!msg || (msg.type !== "snapshot" && msg.type !== "delta")) return "ignored";
    const totals = readTotals(msg.totals);
    const minutes = readBuckets(msg.minutes);
    const seconds = readBuckets(msg.seconds);
    if (!totals || !minutes || !seconds) return "malformed";
    const day = typeof msg.day === "string" ? msg.day : this.day;
    // A snapshot replaces everything; a delta for another day means the UTC day rolled over.
    if (msg.type === "snapshot" || day !== this.day) this.clear();
    this.day = day;
    this.totals = totals;
    for (const m of minutes) this.minutes.set(m.start_ms, m);
    for (const s of seconds) this.seconds.set(s.start_ms, s);
    this.pruneSeconds();
    for (const [key, read] of Object.entries(OPTIONAL)) {
      if (msg[key] !== undefined) this[key] = read(msg[key]);
    }
    // 0 means the server has no checkpoint yet, which is "unknown", not "56 years old".
    if (msg.type === "snapshot") this.asOfMs = null;
    if (isInt(msg.as_of_ms) && msg.as_of_ms > 0) this.asOfMs = msg.as_of_ms;
    return "applied";
  }

  newestSecond() {
    let newest = null;
    for (const start of this.seconds.keys()) if (newest === null || start > newest) newest = start;
    return newest;
  }

  // Where the per-second window ends (exclusive), or null with nothing to show: on a replay its clock,
  // so the window is the 15 minutes before the clock whatever was sold in them; live, the newest second.
  secondsWindowEnd() {
    if (this.clockMs !== null) return this.clockMs;
    const newest = this.newestSecond();
    return newest === null ? null : newest + 1000;
  }

  // A replay's clock moved; true if the per-second window moved by a second or more (worth a redraw).
  setClock(ms) {
    if (!isInt(ms)) return false;
    const moved = this.clockMs === null || Math.floor(ms / 1000) !== Math.floor(this.clockMs / 1000);
    this.clockMs = ms;
    this.pruneSeconds();
    return moved;
  }

  pruneSeconds() {
    const end = this.secondsWindowEnd();
    if (end === null) return;
    for (const start of this.seconds.keys()) {
      if (start < end - SECONDS_WINDOW_MS) this.seconds.delete(start);
    }
  }

  // Events in per second: the server's figure, else orders per second over the last 10 whole seconds.
  ingestRate() {
    if (this.ingest_rate !== null) return this.ingest_rate;
    const newest = this.newestSecond();
    if (newest === null) return null;
    let orders = 0;
    for (let t = newest - 10000; t < newest; t += 1000) orders += this.seconds.get(t)?.orders || 0;
    return Math.round(orders / 10);
  }
}
