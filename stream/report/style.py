"""The report's stylesheet: the live page's palette and type (static/dashboard.css), laid out as a document
to scroll and print rather than one wall screenful. Kept as a string so the report needs no package data."""

from __future__ import annotations

CSS = """
:root {
  --bg: #0d1117; --card: #161b22; --border: #30363d; --text: #e6edf3; --muted: #9da7b3;
  --green: #3fb950; --red: #ff7b72; --amber: #e3b341; --blue: #58a6ff;
  --gap: clamp(0.6rem, 1.4vw, 1.5rem); --radius: 12px;
  color-scheme: dark;
}
* { box-sizing: border-box; }
html, body {
  margin: 0; background: var(--bg); color: var(--text);
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  line-height: 1.3; -webkit-text-size-adjust: 100%;
  /* printing keeps the dark cards: the charts' colours are drawn for them */
  -webkit-print-color-adjust: exact; print-color-adjust: exact;
}
body { padding: var(--gap); display: flex; flex-direction: column; gap: var(--gap); max-width: 1800px;
       margin: 0 auto; }
header.topbar { display: flex; flex-wrap: wrap; align-items: baseline; justify-content: space-between;
                gap: 0.5rem var(--gap); }
header h1 { margin: 0; font-size: clamp(1.3rem, 2.2vw, 2.2rem); letter-spacing: 0.02em; }
header .sub { margin: 0.15rem 0 0; color: var(--muted); font-size: clamp(0.9rem, 1.2vw, 1.3rem); }
.badge { display: inline-flex; align-items: center; gap: 0.45em; padding: 0.3em 0.8em; border-radius: 999px;
         border: 1px solid var(--amber); color: var(--amber); background: var(--card); font-weight: 600; }
.badge[data-ok="true"] { border-color: var(--green); color: var(--green); }
.badge[data-ok="false"] { border-color: var(--red); color: var(--red); }
.grid { display: grid; grid-template-columns: minmax(0, 1fr); gap: var(--gap); }
/* twelve columns on a wide screen: the hero and three tiles, then full-width charts, thirds and halves */
@media (min-width: 900px) {
  .grid { grid-template-columns: repeat(12, minmax(0, 1fr)); }
  .hero, .half { grid-column: span 6; }
  .tile { grid-column: span 2; }
  .third { grid-column: span 4; }
  .wide { grid-column: 1 / -1; }
}
.card { min-width: 0; background: var(--card); border: 1px solid var(--border); border-radius: var(--radius);
        padding: clamp(0.8rem, 1.2vw, 1.4rem); break-inside: avoid; }
.label { margin: 0 0 0.35em; color: var(--muted); font-size: clamp(0.85rem, 1vw, 1.1rem); font-weight: 600;
         text-transform: uppercase; letter-spacing: 0.08em; }
.value { margin: 0; font-size: clamp(1.5rem, 2.6vw, 3rem); font-weight: 700;
         font-variant-numeric: tabular-nums; overflow-wrap: anywhere; }
.value-hero { font-size: clamp(2.2rem, 5vw, 5.5rem); line-height: 1.05; color: var(--green); }
.hero-detail { margin: 0.4em 0 0; display: flex; flex-wrap: wrap; gap: 0.3em 1.5em; color: var(--muted);
               font-size: clamp(1rem, 1.3vw, 1.5rem); }
.money { color: var(--text); font-weight: 600; font-variant-numeric: tabular-nums; }
.value-refunds { color: var(--red); }
.note { margin: 0.4em 0 0; color: var(--muted); font-size: 0.95rem; }
.chart { width: 100%; height: 380px; }
.chart-map { height: 460px; }
.split { display: grid; grid-template-columns: minmax(0, 1fr); gap: var(--gap); }
@media (min-width: 900px) { .split { grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); } }
table.ranking { width: 100%; border-collapse: collapse; font-size: 0.98rem;
                font-variant-numeric: tabular-nums; }
.ranking th { color: var(--muted); font-weight: 600; text-align: left; padding: 0 0.4em 0.3em 0; }
.ranking td { padding: 0.22em 0.4em 0.22em 0; border-top: 1px solid var(--border); }
.ranking .num { text-align: right; white-space: nowrap; }
.ranking .rank { color: var(--muted); width: 2.2em; }
.ranking .name { overflow-wrap: anywhere; }
.ranking .sku { color: var(--muted); font-size: 0.8em; }
.ranking .empty td, .bars .empty { color: var(--muted); }
.ranking tfoot td { font-weight: 600; }
.bars { list-style: none; margin: 0; padding: 0; display: grid; gap: 0.45em; }
.bars li { display: grid; grid-template-columns: 5em minmax(0, 1fr) 3em 6em 9em; align-items: center;
           gap: 0.5em; font-variant-numeric: tabular-nums; }
.bars .bar { height: 0.8em; background: var(--border); border-radius: 999px; overflow: hidden; }
.bars .fill { display: block; height: 100%; background: var(--blue); }
.bars .num { text-align: right; white-space: nowrap; }
details summary { cursor: pointer; color: var(--muted); margin-top: 0.5em; }
footer { color: var(--muted); font-size: 0.95rem; display: grid; gap: 0.5em; justify-items: start; }
footer .verdict { color: var(--text); overflow-wrap: anywhere; }
footer code { color: var(--text); overflow-wrap: anywhere; }
footer table.ranking { width: auto; min-width: 18em; }
"""
