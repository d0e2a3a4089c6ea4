// The three Plotly charts: per minute (bars, the day), per second (line, last 15 min), by country (map).
// Only numbers and country codes reach Plotly; names are never drawn through it.

import { compareTrace, countryText } from "./compare.js";
import { formatCents, groupThousands, utcString } from "./format.js";
import { SECONDS_WINDOW_MS } from "./state.js";

const GREEN = "#3fb950";
const RED = "#ff7b72";
const GRID = "#30363d";
const HOUR_MS = 3600000;
const CONFIG = { displayModeBar: false, responsive: true, topojsonURL: "/static/topojson/" };

// Alpha-2 codes the traffic uses, to the alpha-3 codes Plotly's world map is keyed by; others are skipped.
const ISO3 = {
  US: "USA", GB: "GBR", DE: "DEU", CA: "CAN", FR: "FRA", AU: "AUS", JP: "JPN", NL: "NLD", IT: "ITA",
  ES: "ESP", SE: "SWE", CH: "CHE", PL: "POL", BR: "BRA", MX: "MEX", IN: "IND", KR: "KOR", KW: "KWT",
  AT: "AUT", BE: "BEL", DK: "DNK", FI: "FIN", IE: "IRL", NO: "NOR", PT: "PRT", NZ: "NZL", CN: "CHN",
  AR: "ARG", CL: "CHL", CO: "COL", ZA: "ZAF", TR: "TUR", AE: "ARE", SA: "SAU", IL: "ISR", SG: "SGP",
};

function fontSize() {
  return Math.round(Math.min(18, Math.max(12, window.innerWidth / 110)));
}

function baseLayout() {
  const size = fontSize();
  return {
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "rgba(0,0,0,0)",
    font: { color: "#c9d1d9", size: size },
    // Small margins that automargin (on every axis) widens to fit the tick labels, whatever they are:
    // "$999,999,999" per minute on a Black Friday needs twice the room of "$4,000".
    margin: { l: 8, r: 16, t: 8, b: 8 },
    showlegend: false,
    hoverlabel: { font: { size: size } },
  };
}

function draw(node, traces, layout) {
  Promise.resolve(window.Plotly.react(node, traces, layout, CONFIG)).catch((err) => {
    console.warn("salesdash: chart update failed", err);
  });
}

const dollars = (b) => (b.gross_cents - b.refunds_cents) / 100;

export function drawMinutes(node, state, revision) {
  const keys = Array.from(state.minutes.keys()).sort((a, b) => a - b);
  const x = [], y = [], colors = [], opacity = [], hover = [];
  for (const start of keys) {
    const m = state.minutes.get(start);
    const net = m.gross_cents - m.refunds_cents;
    x.push(utcString(start));
    y.push(dollars(m));
    colors.push(net < 0 ? RED : GREEN);
    // A minute still open to late events is drawn lighter; it firms up once final.
    opacity.push(m.final ? 1 : 0.6);
    hover.push(formatCents(net) + " net · " + groupThousands(m.orders) + " orders" + (m.final ? "" : " · open"));
  }
  // An empty day gets a sensible first hour instead of Plotly's default axes around 1970.
  const dayStart = /^\d{4}-\d{2}-\d{2}$/.test(state.day || "") ? Date.parse(state.day + "T00:00:00Z") : NaN;
  const empty = keys.length === 0 && !Number.isNaN(dayStart);
  // At least an hour of axis, so a young day's few bars look like minutes, not a wall of colour.
  let xHi = keys.length ? keys[keys.length - 1] + 60000 : dayStart + HOUR_MS;
  let xLo = keys.length ? Math.min(keys[0], xHi - HOUR_MS) : dayStart;
  if (!Number.isNaN(dayStart) && xLo < dayStart) {
    xLo = dayStart;
    xHi = Math.max(xHi, dayStart + HOUR_MS);
  }
  const trace = {
    type: "bar", x: x, y: y,
    // x is the minute's start; offset/width make each bar cover that minute only
    offset: 3000, width: 54000,
    marker: { color: colors, opacity: opacity },
    customdata: hover,
    hovertemplate: "%{x|%H:%M} UTC<br>%{customdata}<extra></extra>",
  };
  const layout = {
    ...baseLayout(),
    datarevision: revision,
    bargap: 0,
    xaxis: {
      type: "date", tickformat: "%H:%M", gridcolor: GRID, fixedrange: true, automargin: true,
      ticklabelstandoff: 6, // clear of the y axis's "$0" when a tick falls on the left edge
      autorange: Number.isNaN(xLo),
      range: Number.isNaN(xLo) ? undefined : [utcString(xLo), utcString(xHi)],
    },
    yaxis: {
      tickprefix: "$", tickformat: ",.2~f", gridcolor: GRID, zerolinecolor: "#6e7681", fixedrange: true,
      automargin: true,
      rangemode: "tozero", autorange: !empty, range: empty ? [0, 1] : undefined,
    },
  };
  const other = compareTrace(state);
  if (!other) {
    draw(node, [trace], layout);
    return;
  }
  // Plotly draws lines above bars within one subplot: the bars go on an overlaid subplot with the same
  // axes (matches), drawn over the base one, so the other day's line sits behind them.
  if (empty) layout.yaxis = { ...layout.yaxis, autorange: true, range: undefined };
  const hidden = { matches: "x", overlaying: "x", showticklabels: false, showgrid: false, fixedrange: true };
  layout.xaxis2 = { ...hidden, type: "date" };
  layout.yaxis2 = { ...hidden, matches: "y", overlaying: "y", zeroline: false };
  draw(node, [{ ...trace, xaxis: "x2", yaxis: "y2" }, other], layout);
}

export function drawSeconds(node, state, revision) {
  // The 15 minutes before the window's end: the newest second live, the clock on a replay.
  const end = state.secondsWindowEnd();
  const newest = state.newestSecond();
  const x = [], y = [];
  if (end !== null && newest !== null) {
    // Every second of the window up to the newest one known, zero where nothing sold, so a quiet second
    // reads as zero, not a gap (and a replay's seconds not folded yet are no line rather than zeros).
    const first = Math.ceil((end - SECONDS_WINDOW_MS) / 1000) * 1000;
    for (let t = first; t < end && t <= newest; t += 1000) {
      const s = state.seconds.get(t);
      x.push(utcString(t));
      y.push(s ? dollars(s) : 0);
    }
  }
  const trace = {
    type: "scatter", mode: "lines", x: x, y: y,
    line: { color: GREEN, width: 2, shape: "linear" },
    fill: "tozeroy", fillcolor: "rgba(63,185,80,0.15)",
    hovertemplate: "%{x|%H:%M:%S} UTC<br>$%{y:,.2f}<extra></extra>",
  };
  draw(node, [trace], {
    ...baseLayout(),
    datarevision: revision,
    xaxis: {
      type: "date", tickformat: "%H:%M", gridcolor: GRID, fixedrange: true, automargin: true,
      ticklabelstandoff: 6, // clear of the y axis's "$0" when a tick falls on the left edge
      autorange: end === null,
      range: end === null ? undefined : [utcString(end - SECONDS_WINDOW_MS), utcString(end)],
    },
    yaxis: {
      tickprefix: "$", tickformat: ",.2~f", gridcolor: GRID, zerolinecolor: "#6e7681", fixedrange: true,
      automargin: true,
      rangemode: "tozero", autorange: x.length > 0, range: x.length > 0 ? undefined : [0, 1],
    },
  });
}

export function drawMap(node, state, revision) {
  const locations = [], z = [], text = [];
  for (const row of state.countries || []) {
    const iso3 = /^[A-Z]{2}$/.test(row.country) ? ISO3[row.country] : undefined;
    if (!iso3) continue;
    locations.push(iso3);
    z.push(row.net_cents / 100);
    text.push(row.country + " · " + formatCents(row.net_cents) + " · " + groupThousands(row.orders) + " orders"
      + countryText(state, row.country));
  }
  const trace = {
    type: "choropleth", locationmode: "ISO-3", locations: locations, z: z, text: text,
    hovertemplate: "%{text}<extra></extra>",
    colorscale: [[0, "#0e4429"], [0.5, "#26a641"], [1, "#7ee787"]],
    marker: { line: { color: "#0d1117", width: 0.5 } },
    showscale: false,
  };
  draw(node, [trace], {
    ...baseLayout(),
    datarevision: revision,
    margin: { l: 0, r: 0, t: 0, b: 0 },
    geo: {
      bgcolor: "rgba(0,0,0,0)", showframe: false, showcoastlines: false, showcountries: true,
      countrycolor: "#30363d", showland: true, landcolor: "#21262d", showocean: false, showlakes: false,
      projection: { type: "natural earth" }, lataxis: { range: [-57, 85] },
    },
  });
}
