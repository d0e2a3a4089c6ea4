// salesdash browser page: one websocket, integer-cents state, textContent-only rendering.
import { drawMap, drawMinutes, drawSeconds } from "./charts.js";
import { AlertBanner } from "./alerts.js";
import { ComparePanel } from "./compare.js";
import { fit, fitOnResize } from "./fit.js";
import { formatCents, showCents, showCount } from "./format.js";
import { showChannels, showDeadLetters, showMerchants, showProducts } from "./panels.js";
import { ReplayBar, replayOf, setupPicker } from "./replay.js";
import { Sequence } from "./sequence.js";
import { ExplainPanel } from "./explain.js";
import { DayState } from "./state.js";
import { VerifyPanel } from "./verify.js";

const ANIM_MS = 500;
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 15000;
const JITTER = 0.3;
const TICK_MS = 250;
const STALE_S = 5;
const MAP_EVERY_MS = 1000;

const byId = (id) => document.getElementById(id);
const el = {
  net: byId("net-sales"),
  orders: byId("orders"),
  gross: byId("gross"),
  refunds: byId("refunds"),
  aov: byId("aov"),
  shoppers: byId("shoppers"),
  heroDetail: document.querySelector(".hero-detail"),
  tileLabels: Array.from(document.querySelectorAll(".tile .label")),
  minutes: byId("chart-minutes"),
  seconds: byId("chart-seconds"),
  map: byId("chart-map"),
  merchants: byId("top-merchants"),
  products: byId("top-products"),
  channels: byId("channels"),
  late: byId("late"),
  deadLetters: byId("dead-letters"),
  deadLettersStat: byId("dead-letters-stat"),
  ingest: byId("ingest-rate"),
  conn: byId("conn"),
  fresh: byId("freshness"),
  day: byId("day"),
};

const pageParams = new URLSearchParams(location.search);
const requestedDay = pageParams.get("day") || null;
const replay = replayOf(pageParams); // null: the live page
// /m/<merchant_id>: that merchant's own figures, opened by its private link (?merchant=&exp=&sig=).
const merchantPath = location.pathname.match(/^\/m\/([^/]+)$/);
const merchant = merchantPath ? decodeURIComponent(merchantPath[1]) : null;
const reduceMotion = window.matchMedia("(prefers-reduced-motion: reduce)");
const state = new DayState();
const sequence = new Sequence();
const explainPanel = new ExplainPanel(document.getElementById("explain"), pageParams, merchant);

// ---- animated net counter: data-cents is always exact, only the text animates ----

const counter = { shown: 0, from: 0, to: 0, start: 0, raf: 0 };

function showNet(cents) {
  counter.shown = cents;
  el.net.textContent = formatCents(cents);
  fit(el.net);
}

function finishCounter() {
  if (counter.raf) cancelAnimationFrame(counter.raf);
  counter.raf = 0;
  showNet(counter.to);
}

function stepCounter(now) {
  const t = Math.min(1, Math.max(0, (now - counter.start) / ANIM_MS));
  if (t >= 1) {
    counter.raf = 0;
    showNet(counter.to);
    return;
  }
  const eased = 1 - Math.pow(1 - t, 3);
  showNet(Math.round(counter.from + (counter.to - counter.from) * eased));
  counter.raf = requestAnimationFrame(stepCounter);
}

function setNet(cents) {
  el.net.dataset.cents = String(cents);
  document.title = (replay ? "Replay · " : "") + formatCents(cents) + " · salesdash";
  counter.from = counter.shown;
  counter.to = cents;
  counter.start = performance.now();
  // A hidden tab gets no animation frames, so land immediately instead of freezing mid-count.
  if (document.hidden || reduceMotion.matches || counter.from === cents) {
    finishCounter();
  } else if (!counter.raf) {
    counter.raf = requestAnimationFrame(stepCounter);
  }
}

// ---- charts: at most one redraw per frame each, the map at most once a second ----

function chartScheduler(node, draw, minGapMs) {
  let pending = false;
  let last = 0;
  let revision = 0;
  function render() {
    pending = false;
    last = performance.now();
    if (!window.Plotly) {
      node.textContent = "chart unavailable (plotly did not load)";
      return;
    }
    draw(node, state, ++revision);
  }
  return () => {
    if (pending || !node) return;
    pending = true;
    const wait = Math.max(0, last + minGapMs - performance.now());
    // Frames pause while the tab is hidden, so a hidden page does no drawing at all.
    setTimeout(() => requestAnimationFrame(render), wait);
  };
}

const redrawSeconds = chartScheduler(el.seconds, drawSeconds, 0);
const redraw = [
  chartScheduler(el.minutes, (node, dayState, revision) => {
    drawMinutes(node, dayState, revision);
    explainPanel.bind(node, dayState);
  }, 0),
  redrawSeconds,
  chartScheduler(el.map, drawMap, MAP_EVERY_MS),
];

// ---- messages ----

function render() {
  const t = state.totals;
  setNet(t.net_cents);
  showCount(el.orders, t.orders);
  showCents(el.gross, t.gross_cents);
  showCents(el.refunds, t.refunds_cents);
  showCents(el.aov, t.aov_cents);
  showCount(el.shoppers, t.unique_customers);
  for (const node of [el.orders, el.aov, el.shoppers, el.heroDetail]) fit(node);
  showCount(el.late, state.late_events);
  showCount(el.ingest, state.ingestRate());
  showDeadLetters(el.deadLetters, el.deadLettersStat, state.dead_letters);
  showMerchants(el.merchants, state.top_merchants);
  showProducts(el.products, state.top_products);
  showChannels(el.channels, state.channels);
  if (comparePanel) {
    comparePanel.titleChannels(el.channels, state);
    comparePanel.render(state, Date.now());
  }
  for (const schedule of redraw) schedule();
}

function handleMessage(raw) {
  let msg;
  try {
    msg = JSON.parse(raw);
  } catch (err) {
    console.warn("salesdash: ignoring a message that is not JSON");
    return;
  }
  // The app's own link to Kafka: a health message when it changes, and on every snapshot (README).
  if (msg && (msg.type === "health" || msg.type === "snapshot") && typeof msg.kafka === "boolean") {
    kafkaUp = msg.kafka;
    renderConn();
  }
  if (alertBanner) alertBanner.take(msg);
  if (replayBar && msg && msg.replay) {
    replayBar.show(msg.replay);
    // The per-second window follows the replay's clock, even while nothing sells.
    if (msg.replay.clock_ms !== undefined && state.setClock(msg.replay.clock_ms)) redrawSeconds();
  }
  if (comparePanel && msg && msg.type === "compare") {
    comparePanel.show(state, msg.compare);
    if (state.totals) render(); // it follows a snapshot; without one there is nothing to draw against
    return;
  }
  const order = sequence.check(msg);
  if (order === "skip") return;
  if (order === "resync") {
    console.warn("salesdash: a delta out of sequence (seq " + msg.seq + "); asking for a fresh snapshot");
    askResync();
    return;
  }
  const before = state.day;
  // Unknown types are tolerated so the server can add messages without breaking old pages.
  const outcome = state.apply(msg);
  if (outcome === "malformed") {
    console.warn("salesdash: ignoring a malformed " + msg.type + " message; asking for a fresh snapshot");
    sequence.lost();
    askResync();
    return;
  }
  if (outcome !== "applied") return;
  // A merchant's snapshot brings its own figures of the compare day (null: none); its deltas leave them.
  if (merchant !== null && comparePanel && msg.type === "snapshot") comparePanel.show(state, msg.compare ?? null);
  // Which app process's view the figures are of (tests and a curious operator read it).
  if (msg.type === "snapshot") document.body.dataset.epoch = sequence.epoch ?? "";
  if (merchant !== null && typeof msg.name === "string" && msg.name !== "") {
    byId("net-sales-label").textContent = "Net sales · " + msg.name;
  }
  if (state.day !== before) {
    if (verifyPanel) verifyPanel.setDay(state.day);
    el.day.textContent = state.day === null ? "—" : state.day;
    if (state.day !== null && /^\d{4}-\d{2}-\d{2}$/.test(state.day)) el.day.setAttribute("datetime", state.day);
  }
  render();
  renderFreshness();
  followMidnight();
}

function askResync() {
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "resync" }));
  // A socket that closes first is replaced, and every new socket starts from a snapshot anyway.
  document.body.dataset.resyncs = String(sequence.resyncs);
}

// Without ?day the server pins a socket to the day that was current when it connected, so once
// the server's own clock (as_of_ms) is past midnight UTC, reconnect to get the new day.
let rolledTo = null;
function followMidnight() {
  if (replay || requestedDay !== null || state.asOfMs === null || state.day === null || !ws) return;
  const serverDay = new Date(state.asOfMs).toISOString().slice(0, 10);
  if (serverDay > state.day && serverDay !== rolledTo) {
    rolledTo = serverDay; // once per day, so a server that disagrees cannot cause a reconnect loop
    const old = ws;
    ws = null;
    old.close();
    connect();
  }
}

// ---- connection with jittered exponential backoff; every (re)connect starts from a snapshot ----

let ws = null;
let kafkaUp = null; // null: not told yet (a server that does not say is taken as up)
let attempt = 0;
let retryTimer = 0;
let retryAt = 0;

function wsUrl() {
  const q = new URLSearchParams();
  if (replay) {
    // A reconnect picks the replay up where it stood, at the speed it had.
    q.set("replay", replay.session);
    q.set("speed", replayBar.status?.speed || replay.speed);
    const at = replayBar.position() ?? replay.at;
    if (at !== null) q.set("at", String(at));
  } else if (requestedDay !== null) {
    q.set("day", requestedDay);
  }
  // The day to compare with, or default, or none (a merchant's view always has the default).
  if (comparePanel && merchant === null) q.set("compare", comparePanel.choice);
  if (merchant !== null) {
    q.set("merchant", merchant);
    for (const key of ["exp", "sig"]) if (pageParams.get(key) !== null) q.set(key, pageParams.get(key));
  }
  // Pass the page's ?token= on to the websocket.
  const token = pageParams.get("token");
  if (token !== null) q.set("token", token);
  const qs = q.toString();
  return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws" + (qs ? "?" + qs : "");
}

function renderConn() {
  let connState;
  let text;
  if (ws && ws.readyState === WebSocket.OPEN && kafkaUp === false && !replay) {
    // The socket is up but the app has lost Kafka: the figures are as of the outage, not live.
    connState = "kafka-down";
    text = "kafka down";
  } else if (ws && ws.readyState === WebSocket.OPEN) {
    connState = "live";
    text = replay ? "replay" : "live";
  } else if (retryTimer) {
    connState = "reconnecting";
    // The browser knows the network is gone; a countdown would only suggest otherwise.
    text = navigator.onLine === false
      ? "offline"
      : "reconnecting in " + Math.max(1, Math.ceil((retryAt - Date.now()) / 1000)) + "s";
  } else {
    connState = "connecting";
    text = "connecting";
  }
  if (el.conn.dataset.state !== connState) el.conn.dataset.state = connState;
  if (el.conn.textContent !== text) el.conn.textContent = text;
  document.body.dataset.conn = connState;
}

function connect() {
  clearTimeout(retryTimer);
  retryTimer = 0;
  let sock;
  try {
    sock = new WebSocket(wsUrl());
  } catch (err) {
    console.warn("salesdash: cannot open websocket", err);
    scheduleReconnect();
    return;
  }
  ws = sock;
  sequence.reset(); // the new socket's first snapshot starts its count
  kafkaUp = null; // the new socket's first snapshot says
  renderConn();
  // Handlers check identity so a superseded socket can never touch state.
  sock.onopen = () => {
    if (sock !== ws) return;
    attempt = 0;
    renderConn();
  };
  sock.onmessage = (ev) => {
    if (sock === ws) handleMessage(ev.data);
  };
  // An error is always followed by close, which drives the retry; close() just makes sure.
  sock.onerror = () => {
    if (sock === ws) sock.close();
  };
  sock.onclose = () => {
    if (sock !== ws) return;
    ws = null;
    scheduleReconnect();
  };
}

function scheduleReconnect() {
  if (retryTimer) return;
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * Math.pow(2, attempt));
  attempt = Math.min(attempt + 1, 16);
  // Jitter spreads a wall of dashboards so they do not all reconnect in the same instant.
  const delay = Math.round(base * (1 - JITTER + 2 * JITTER * Math.random()));
  retryAt = Date.now() + delay;
  retryTimer = setTimeout(connect, delay);
  renderConn();
}

// Skip the rest of a backoff wait when there is a good reason to expect success now.
function reconnectNow() {
  if (retryTimer && navigator.onLine !== false) connect();
}

// ---- freshness ----

function renderFreshness() {
  if (replay) {
    // A replay's data is as old as its day: its clock is in the replay bar instead.
    el.fresh.textContent = "not live";
    el.fresh.dataset.stale = "false";
    return;
  }
  if (state.asOfMs === null) {
    el.fresh.textContent = "waiting for data";
    el.fresh.dataset.stale = "false";
    return;
  }
  // Clamped at zero because a server clock slightly ahead of ours is not "negative age".
  const age = Math.max(0, Date.now() - state.asOfMs) / 1000;
  el.fresh.textContent = "data is " + (age < 100 ? age.toFixed(1) : String(Math.round(age))) + " s old";
  el.fresh.dataset.stale = age > STALE_S ? "true" : "false";
}

// ---- wiring ----

document.addEventListener("visibilitychange", () => {
  if (document.hidden) {
    finishCounter();
  } else {
    // Background tabs get throttled timers, so a pending retry may be long overdue.
    reconnectNow();
    renderFreshness();
  }
});
window.addEventListener("online", reconnectNow);
// Treat the OS saying "offline" as a dead socket rather than waiting for TCP to notice.
window.addEventListener("offline", () => {
  if (ws) ws.close();
  renderConn();
});

setInterval(() => {
  renderFreshness();
  renderConn();
  if (comparePanel) comparePanel.render(state, Date.now()); // the minute compared at moves with the clock
}, TICK_MS);

function sendControl(command) {
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(command));
}

const replayBar = replay ? new ReplayBar(replay, pageParams, sendControl) : null;
// A replay plays one day for one viewer: comparing is for the live page (and ?day=).
// A merchant's link opens its view and nothing else: no verify or replay there, and no choice of the day
// to compare with (its snapshot brings the default day's figures of that merchant).
const comparePanel = replay ? null : new ComparePanel(pageParams, sendControl, merchant !== null);
const verifyPanel = merchant !== null ? null : new VerifyPanel(pageParams);
// Alerts are about now: the live pages show them, a replay of a past day does not.
const alertBanner = replay ? null : new AlertBanner(byId("alert-banner"));
if (merchant !== null) {
  byId("net-sales-label").textContent = "Net sales · " + merchant;
  document.body.dataset.merchant = merchant;
} else if (replay) {
  byId("net-sales-label").textContent = "Net sales · replay";
} else {
  setupPicker(pageParams);
  comparePanel.load(pageParams, requestedDay || new Date().toISOString().slice(0, 10));
  // ?day= shows a day that may not be today: the counter says so.
  if (requestedDay !== null) byId("net-sales-label").textContent = "Net sales";
}
if (requestedDay !== null) el.day.textContent = requestedDay;
fitOnResize([el.net, el.orders, el.aov, el.shoppers, el.heroDetail, ...el.tileLabels]);
connect();
