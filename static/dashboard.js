// salesdash browser page: one websocket, integer-cents state, textContent-only rendering.
(() => {
  "use strict";

  const ANIM_MS = 500;
  const BACKOFF_MIN_MS = 500;
  const BACKOFF_MAX_MS = 15000;
  const JITTER = 0.3;
  const TICK_MS = 250;
  const STALE_S = 5;
  const GREEN = "#3fb950";
  const RED = "#ff7b72";

  const byId = (id) => document.getElementById(id);
  const el = {
    net: byId("net-sales"),
    orders: byId("orders"),
    gross: byId("gross"),
    refunds: byId("refunds"),
    chart: byId("chart-minutes"),
    conn: byId("conn"),
    fresh: byId("freshness"),
    day: byId("day"),
  };

  const pageParams = new URLSearchParams(location.search);
  const requestedDay = pageParams.get("day") || null;
  const reduceMotion = window.matchMedia("(prefers-reduced-motion: reduce)");

  // ---- money: integers all the way, floats only for the chart's display scale ----

  function groupThousands(n) {
    return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  }

  function formatCents(cents) {
    const abs = Math.abs(cents);
    const rem = abs % 100;
    // subtracting the remainder first keeps the division exact even near 2^53
    const dollars = (abs - rem) / 100;
    return (cents < 0 ? "-$" : "$") + groupThousands(dollars) + "." + String(rem).padStart(2, "0");
  }

  const isInt = Number.isSafeInteger;

  // Plotly reads numbers and Date objects on a date axis as *local* time, so hand it naive UTC strings.
  function utcString(ms) {
    return new Date(ms).toISOString().slice(0, 19).replace("T", " ");
  }

  // ---- state ----

  const minutes = new Map(); // start_ms -> {orders, gross_cents, refunds_cents}
  let currentDay = null;
  let asOfMs = null;

  // Pass a page's ?token= on to anything we request from the server.
  function withToken(params) {
    const token = pageParams.get("token");
    if (token !== null) params.set("token", token);
    return params;
  }

  // ---- animated net counter: data-cents is always exact, only the text animates ----

  const counter = { shown: 0, from: 0, to: 0, start: 0, raf: 0 };

  function showNet(cents) {
    counter.shown = cents;
    el.net.textContent = formatCents(cents);
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
    document.title = formatCents(cents) + " · salesdash";
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

  // ---- tiles ----

  function setCents(node, cents) {
    node.dataset.cents = String(cents);
    node.textContent = formatCents(cents);
  }

  function setCount(node, n) {
    node.dataset.value = String(n);
    node.textContent = groupThousands(n);
  }

  // ---- chart ----

  let chartPending = false;
  let chartRevision = 0;

  function scheduleChart() {
    if (chartPending || !el.chart) return;
    chartPending = true;
    // Coalesces bursts of deltas into one redraw per frame; frames pause while the tab is hidden.
    requestAnimationFrame(renderChart);
  }

  function renderChart() {
    chartPending = false;
    if (!window.Plotly) {
      el.chart.textContent = "chart unavailable (plotly did not load)";
      return;
    }
    const keys = Array.from(minutes.keys()).sort((a, b) => a - b);
    const x = [];
    const y = [];
    const colors = [];
    const hover = [];
    for (const start of keys) {
      const m = minutes.get(start);
      const net = m.gross_cents - m.refunds_cents;
      x.push(utcString(start));
      y.push(net / 100);
      colors.push(net < 0 ? RED : GREEN);
      hover.push(formatCents(net) + " net · " + groupThousands(m.orders) + " orders");
    }
    // An empty day gets a sensible first hour instead of Plotly's default axes around 1970.
    const dayStart = /^\d{4}-\d{2}-\d{2}$/.test(currentDay || "") ? Date.parse(currentDay + "T00:00:00Z") : NaN;
    const empty = keys.length === 0 && !Number.isNaN(dayStart);
    // At least an hour of axis, so a young day's few bars look like minutes, not a wall of colour.
    let xHi = keys.length ? keys[keys.length - 1] + 60000 : dayStart + 3600000;
    let xLo = keys.length ? Math.min(keys[0], xHi - 3600000) : dayStart;
    if (!Number.isNaN(dayStart) && xLo < dayStart) {
      xLo = dayStart;
      xHi = Math.max(xHi, dayStart + 3600000);
    }
    const fontSize = Math.round(Math.min(18, Math.max(12, window.innerWidth / 110)));
    const trace = {
      type: "bar",
      x: x,
      y: y,
      // x is the minute's start; offset/width make each bar cover that minute only
      offset: 3000,
      width: 54000,
      marker: { color: colors },
      customdata: hover,
      hovertemplate: "%{x|%H:%M} UTC<br>%{customdata}<extra></extra>",
    };
    const layout = {
      datarevision: ++chartRevision,
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "rgba(0,0,0,0)",
      font: { color: "#c9d1d9", size: fontSize },
      margin: { l: 70, r: 16, t: 8, b: 40 },
      bargap: 0,
      showlegend: false,
      hoverlabel: { font: { size: fontSize } },
      xaxis: {
        type: "date",
        tickformat: "%H:%M",
        gridcolor: "#30363d",
        fixedrange: true,
        autorange: Number.isNaN(xLo),
        range: Number.isNaN(xLo) ? undefined : [utcString(xLo), utcString(xHi)],
      },
      yaxis: {
        tickprefix: "$",
        tickformat: ",.2~f",
        gridcolor: "#30363d",
        zerolinecolor: "#6e7681",
        fixedrange: true,
        rangemode: "tozero",
        autorange: !empty,
        range: empty ? [0, 1] : undefined,
      },
    };
    const config = { displayModeBar: false, responsive: true };
    Promise.resolve(window.Plotly.react(el.chart, [trace], layout, config)).catch((err) => {
      console.warn("salesdash: chart update failed", err);
    });
  }

  // ---- messages ----

  function readTotals(t) {
    if (!t || !isInt(t.orders) || !isInt(t.gross_cents) || !isInt(t.refunds_cents)) return null;
    const net = isInt(t.net_cents) ? t.net_cents : t.gross_cents - t.refunds_cents;
    return { orders: t.orders, gross_cents: t.gross_cents, refunds_cents: t.refunds_cents, net_cents: net };
  }

  function readMinutes(list) {
    if (list === undefined || list === null) return [];
    if (!Array.isArray(list)) return null;
    const out = [];
    for (const m of list) {
      if (!m || !isInt(m.start_ms) || !isInt(m.orders) || !isInt(m.gross_cents) || !isInt(m.refunds_cents)) {
        return null;
      }
      out.push({ start_ms: m.start_ms, orders: m.orders, gross_cents: m.gross_cents, refunds_cents: m.refunds_cents });
    }
    return out;
  }

  function handleMessage(raw) {
    let msg;
    try {
      msg = JSON.parse(raw);
    } catch (err) {
      console.warn("salesdash: ignoring a message that is not JSON");
      return;
    }
    // Unknown types are tolerated so the server can add messages without breaking old pages.
    if (!msg || (msg.type !== "snapshot" && msg.type !== "delta")) return;
    const totals = readTotals(msg.totals);
    const mins = readMinutes(msg.minutes);
    if (!totals || !mins) {
      console.warn("salesdash: ignoring a malformed " + msg.type + " message");
      return;
    }
    const day = typeof msg.day === "string" ? msg.day : currentDay;
    // A snapshot replaces everything; a delta for another day means the UTC day rolled over.
    if (msg.type === "snapshot" || day !== currentDay) minutes.clear();
    for (const m of mins) minutes.set(m.start_ms, m);

    if (day !== currentDay) {
      currentDay = day;
      el.day.textContent = day === null ? "—" : day;
      if (day !== null && /^\d{4}-\d{2}-\d{2}$/.test(day)) el.day.setAttribute("datetime", day);
    }
    // 0 means the server has no checkpoint yet, which is "unknown", not "56 years old".
    if (msg.type === "snapshot") asOfMs = null;
    if (isInt(msg.as_of_ms) && msg.as_of_ms > 0) asOfMs = msg.as_of_ms;

    setNet(totals.net_cents);
    setCount(el.orders, totals.orders);
    setCents(el.gross, totals.gross_cents);
    setCents(el.refunds, totals.refunds_cents);
    scheduleChart();
    renderFreshness();
    followMidnight();
  }

  // Without ?day the server pins a socket to the day that was current when it connected, so once
  // the server's own clock (as_of_ms) is past midnight UTC, reconnect to get the new day.
  let rolledTo = null;
  function followMidnight() {
    if (requestedDay !== null || asOfMs === null || currentDay === null || !ws) return;
    const serverDay = new Date(asOfMs).toISOString().slice(0, 10);
    if (serverDay > currentDay && serverDay !== rolledTo) {
      rolledTo = serverDay; // once per day, so a server that disagrees cannot cause a reconnect loop
      const old = ws;
      ws = null;
      old.close();
      connect();
    }
  }

  // ---- connection with jittered exponential backoff ----

  let ws = null;
  let attempt = 0;
  let retryTimer = 0;
  let retryAt = 0;

  function wsUrl() {
    const q = new URLSearchParams();
    if (requestedDay !== null) q.set("day", requestedDay);
    withToken(q);
    const qs = q.toString();
    return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws" + (qs ? "?" + qs : "");
  }

  function renderConn() {
    let state;
    let text;
    if (ws && ws.readyState === WebSocket.OPEN) {
      state = "live";
      text = "live";
    } else if (retryTimer) {
      state = "reconnecting";
      // The browser knows the network is gone; a countdown would only suggest otherwise.
      text = navigator.onLine === false
        ? "offline"
        : "reconnecting in " + Math.max(1, Math.ceil((retryAt - Date.now()) / 1000)) + "s";
    } else {
      state = "connecting";
      text = "connecting";
    }
    if (el.conn.dataset.state !== state) el.conn.dataset.state = state;
    if (el.conn.textContent !== text) el.conn.textContent = text;
    document.body.dataset.conn = state;
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
    if (asOfMs === null) {
      el.fresh.textContent = "waiting for data";
      el.fresh.dataset.stale = "false";
      return;
    }
    // Clamped at zero because a server clock slightly ahead of ours is not "negative age".
    const age = Math.max(0, Date.now() - asOfMs) / 1000;
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
  }, TICK_MS);

  if (requestedDay !== null) el.day.textContent = requestedDay;
  connect();
})();
