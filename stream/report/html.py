"""A day's report as one self-contained HTML file: opens offline, from a mail attachment or a USB stick,
years later, and shows exactly the figures of the day it was made from.

Self-contained means no request at all: plotly.js is inlined once (the copy the plotly package ships, the
same one the app serves), and so is the world map's topojson, registered where plotly.js looks for it
before fetching (`window.PlotlyGeoAssets.topojson["world_110m"]`, checked in plotly.js's `geo.plot`: it
only fetches a topojson that is not there). A Content-Security-Policy with `default-src 'none'` and the
hashes of the file's own scripts makes that a rule rather than a hope: nothing can be fetched, and no
script other than those can run, even if some text slipped through unescaped.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from stream import config
from stream.report import charts
from stream.report import sections as s
from stream.report.style import CSS


def topojson_path() -> Path:
    """The page's own copy of the world map (static/topojson/, or under STATIC_DIR, as the app finds it)."""
    return config.static_dir() / "topojson" / "world_110m.json"

SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


@cache
def plotly_js() -> str:
    """The plotly.js bundle of the installed plotly package, checked safe to inline in a <script>."""
    text = (files("plotly") / "package_data" / "plotly.min.js").read_text(encoding="utf-8")
    if "</script" in text.lower() or "<!--" in text or "\r" in text:
        raise ValueError("this plotly.min.js cannot be inlined in a <script> element as it is")
    return text


@cache
def world() -> tuple[str, frozenset[str]]:
    """The script registering the world_110m topojson, and the ISO-3 ids of the countries it draws."""
    topology = json.loads(topojson_path().read_text(encoding="utf-8"))
    ids = frozenset(g["id"] for g in topology["objects"]["countries"]["geometries"] if g.get("id"))
    data = json.dumps(topology, separators=(",", ":"), ensure_ascii=True).replace("<", "\\u003c")
    script = ("window.PlotlyGeoAssets = window.PlotlyGeoAssets || {topojson: {}};\n"
              "window.PlotlyGeoAssets.topojson = window.PlotlyGeoAssets.topojson || {};\n"
              f'window.PlotlyGeoAssets.topojson["world_110m"] = {data};')
    return script, ids


def _csp(scripts: list[str]) -> str:
    hashes = " ".join("'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode()
                      + "'" for text in dict.fromkeys(scripts))
    return (f"default-src 'none'; script-src {hashes}; style-src 'unsafe-inline'; img-src data:; "
            "base-uri 'none'; form-action 'none'")


def _offsets(offsets: object) -> dict[str, Any]:
    """Offsets keyed by partition as text, in partition order, for showing and comparing."""
    if not isinstance(offsets, dict):
        return {}
    def order(key: str) -> tuple[int, str]:
        return (int(key), "") if key.isdigit() else (1 << 62, key)
    items = {str(k): list(v) if isinstance(v, list | tuple) else v for k, v in offsets.items()}
    return {k: items[k] for k in sorted(items, key=order)}


def _offsets_table(offsets: dict[str, Any], body_id: str) -> str:
    rows = []
    for partition, span in offsets.items():
        first, last = [*span, None, None][:2] if isinstance(span, list) else (None, span)
        rows.append(f'<tr data-partition="{s.esc(partition)}"><td>{s.esc(partition)}</td>'
                    f'<td class="num">{s.number(first)}</td><td class="num">{s.number(last)}</td></tr>')
    return s.table([("partition", ""), ("first", "num"), ("last", "num")], rows, body_id)


def verdict_state(verdict: dict[str, Any] | None) -> tuple[str, str]:
    """(data-ok value, badge text): only an explicit `"ok": true` reads as verified."""
    if verdict is None:
        return "none", "not audited"
    return ("true", "verified") if verdict.get("ok") is True else ("false", "audit failed")


def footer(verdict: dict[str, Any] | None, meta: dict[str, Any]) -> str:
    """The audit verdict, the log offsets the report was made from and the commit that made it."""
    state, badge = verdict_state(verdict)
    line = "no audit was run for this report" if verdict is None else str(verdict.get("line", ""))
    read = _offsets(meta.get("offsets"))
    parts = [f'<p>Audit: <span id="verdict" class="badge" data-ok="{state}">{badge}</span> '
             f'<span class="verdict" id="verdict-line">{s.esc(line)}</span></p>']
    audited = _offsets(verdict.get("offsets")) if verdict else {}
    if audited and audited != read:
        parts.append('<p id="offsets-differ">The audit read other offsets than the report:</p>'
                     + _offsets_table(audited, "audit-offsets"))
    topic = s.esc(meta.get("topic", s.DASH))
    parts.append(f'<p>Read from topic <code id="topic">{topic}</code>, offsets:</p>'
                 + _offsets_table(read, "offsets"))
    made = charts.utc(meta["generated_ms"]) + " UTC" if charts.is_int(meta.get("generated_ms")) else s.DASH
    parts.append(f'<p>Made by salesdash commit <code id="commit">{s.esc(meta.get("commit", s.DASH))}</code> '
                 f'at <time id="generated">{made}</time>.</p>')
    return '<footer class="card" id="audit">' + "".join(parts) + "</footer>"


def _chart(figure: Any, div_id: str, cls: str = "chart") -> str:
    return f'<div class="{cls}">{charts.div(figure, div_id)}</div>'


def body(day: dict[str, Any], seconds: list[dict[str, Any]] | None, verdict: dict[str, Any] | None,
         meta: dict[str, Any], drawable: frozenset[str]) -> str:
    name = str(day.get("day", ""))
    minutes = day.get("minutes") or []
    countries = day.get("countries") or []
    as_of = f" · as of {charts.utc(day['as_of_ms'])} UTC" if charts.is_int(day.get("as_of_ms")) else ""
    open_minutes = sum(1 for m in minutes if not m.get("final", True))
    minutes_note = f"{charts.count(len(minutes))} minutes with sales"
    if open_minutes:
        minutes_note += f", {charts.count(open_minutes)} still open to late orders (lighter)"
    if seconds is None:
        busiest = '<p class="note" id="seconds-missing">the busiest seconds were not given for this day</p>'
    else:
        busiest = ('<div class="split">' + _chart(charts.seconds_figure(seconds), "chart-seconds")
                   + s.seconds_table(seconds) + "</div>")
    shown, missing = charts.mapped(countries, set(drawable))
    ranked = list(enumerate(countries, 1))
    rest = (f"<details><summary>all {charts.count(len(countries))} countries</summary>"
            + s.countries_table(ranked[10:], "more-countries") + "</details>") if len(countries) > 10 else ""
    off_map = (f'<p class="note" id="off-map">not on the map (not drawn at this scale, or no such country): '
               f'{s.esc(", ".join(missing))}</p>') if missing else ""
    map_body = ('<div class="split">' + _chart(charts.map_figure(shown, set(drawable)), "chart-map",
                                               "chart chart-map")
                + "<div>" + s.countries_table(ranked[:10], "top-countries") + rest + off_map + "</div></div>")
    state, badge = verdict_state(verdict)
    # a report of a day late orders can still change says so where the day is named
    still_open = ' · <strong id="day-open">day still open</strong>' if meta.get("day_open") else ""
    return "".join([
        '<header class="topbar"><div><h1>salesdash</h1>'
        f'<p class="sub">Day report · UTC day <time id="day">{s.esc(name)}</time>{as_of}{still_open}</p>'
        '</div>'
        f'<span class="badge" data-ok="{state}">{badge}</span></header>',
        '<main class="grid">',
        s.headline(day.get("totals") or {}),
        s.card("Net sales per minute (UTC)", _chart(charts.minutes_figure(name, minutes), "chart-minutes")
               + f'<p class="note">{minutes_note}</p>', "wide"),
        s.card("Busiest seconds", busiest, "wide"),
        s.card("Net sales by buyer country", map_body, "wide"),
        s.channels(day.get("channels") or []),
        s.dead_letters(day.get("dead_letters")),
        s.late(day.get("late_events")),
        s.merchants(day.get("top_merchants") or []),
        s.products(day.get("top_products") or []),
        "</main>",
        footer(verdict, meta),
    ])


def render(day: dict[str, Any], *, seconds: list[dict[str, Any]] | None, verdict: dict[str, Any] | None,
           meta: dict[str, Any]) -> str:
    """The whole report for one day in the /api/snapshot shape, as one HTML document (about 5 MB: the
    plotly.js bundle is most of it)."""
    register, drawable = world()
    main = body(day, seconds, verdict, meta, drawable)
    head_scripts = [plotly_js(), register]
    csp = _csp(head_scripts + SCRIPT.findall(main))
    title = s.esc(f"salesdash · day report {day.get('day', '')}")
    return "".join([
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n',
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">\n',
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
        '<meta name="color-scheme" content="dark">\n<meta name="referrer" content="no-referrer">\n',
        f'<title>{title}</title>\n<link rel="icon" href="data:,">\n<style>{CSS}</style>\n',
        *(f"<script>{text}</script>\n" for text in head_scripts),
        f"</head>\n<body>\n{main}\n</body>\n</html>\n",
    ])


def write(path: str | os.PathLike[str], html: str) -> Path:
    """Write the report beside its final name, then rename: a reader sees the old file or the whole new one,
    never half of one (a crash leaves only a `.partial` file behind, which is removed when it can be)."""
    target = Path(path)
    partial = target.with_name(target.name + ".partial")
    try:
        with partial.open("w", encoding="utf-8", newline="\n") as out:
            out.write(html)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return target
