"""The report's three Plotly figures: net per minute (bars over the UTC day), the busiest seconds (bars)
and net by buyer country (choropleth). Drawn like static/charts.js so a report looks like the live page.

Only numbers, UTC times, ISO codes and text formatted here from integers reach Plotly: Plotly renders its
own markup in labels (<b>, <a href>), so names from shoppers' data never go through it (html.py puts them
in tables, escaped). Money on the axes is in dollars as floats (geometry only); every printed figure,
hover text included, is formatted from the exact integer cents.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio

from stream.core.money import format_usd
from stream.report.countries import ISO3

GREEN = "#3fb950"
RED = "#ff7b72"
GRID = "#30363d"
FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif'
# No mode bar (its logo links out) and no topojsonURL: the map's shapes are registered in the page.
CONFIG: dict[str, Any] = {"displayModeBar": False, "responsive": True}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ALPHA2 = re.compile(r"[A-Z]{2}")


def utc(ms: int) -> str:
    """A naive UTC time string: plotly.js reads Date objects and offsets as local time, strings as given."""
    return (EPOCH + timedelta(milliseconds=ms)).strftime("%Y-%m-%d %H:%M:%S")


def count(n: int) -> str:
    return f"{n:,}"


def is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _layout(**extra: Any) -> go.Layout:
    base: dict[str, Any] = {
        "template": "none",  # plotly.js's own defaults, as on the live page, and no template in the file
        "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)",
        "font": {"color": "#c9d1d9", "size": 13, "family": FONT},
        "margin": {"l": 70, "r": 16, "t": 8, "b": 40}, "showlegend": False,
    }
    return go.Layout(**(base | extra))


def _money_axis() -> dict[str, Any]:
    return {"tickprefix": "$", "tickformat": ",.2~f", "gridcolor": GRID, "zerolinecolor": "#6e7681",
            "fixedrange": True, "rangemode": "tozero"}


def minutes_figure(day: str, minutes: list[dict[str, Any]]) -> go.Figure:
    """Net per minute, a bar over each minute of the UTC day; a minute still open is drawn lighter."""
    rows = sorted((m for m in minutes if is_int(m.get("start_ms"))), key=lambda m: m["start_ms"])
    x, y, colors, opacity, hover = [], [], [], [], []
    for m in rows:
        net = int(m.get("gross_cents", 0)) - int(m.get("refunds_cents", 0))
        x.append(utc(m["start_ms"]))
        y.append(net / 100)
        colors.append(RED if net < 0 else GREEN)
        opacity.append(1.0 if m.get("final", True) else 0.6)
        hover.append(f"{format_usd(net)} net · {count(int(m.get('orders', 0)))} orders"
                     + ("" if m.get("final", True) else " · open"))
    xaxis: dict[str, Any] = {"type": "date", "tickformat": "%H:%M", "gridcolor": GRID, "fixedrange": True}
    try:
        start = datetime.combine(date.fromisoformat(day), datetime.min.time())
        xaxis["range"] = [start.strftime("%Y-%m-%d %H:%M:%S"),
                          (start + timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S")]
    except (TypeError, ValueError):
        xaxis["autorange"] = True
    trace = go.Bar(x=x, y=y, offset=3000, width=54000, marker={"color": colors, "opacity": opacity},
                   customdata=hover, hovertemplate="%{x|%H:%M} UTC<br>%{customdata}<extra></extra>")
    return go.Figure([trace], _layout(bargap=0, xaxis=xaxis, yaxis=_money_axis()))


def seconds_figure(seconds: list[dict[str, Any]]) -> go.Figure:
    """The busiest seconds as bars, in the order given (busiest at the top), labelled with their net."""
    rows = [s for s in seconds if is_int(s.get("start_ms")) and is_int(s.get("net_cents"))]
    labels = [utc(s["start_ms"])[11:] for s in rows]
    trace = go.Bar(
        orientation="h", y=labels, x=[s["net_cents"] / 100 for s in rows],
        marker={"color": [RED if s["net_cents"] < 0 else GREEN for s in rows]},
        text=[format_usd(s["net_cents"]) for s in rows], textposition="auto",
        customdata=[f"{format_usd(s['net_cents'])} net · {count(int(s.get('orders', 0)))} orders"
                    for s in rows],
        hovertemplate="%{y} UTC<br>%{customdata}<extra></extra>",
    )
    yaxis = {"type": "category", "autorange": "reversed", "fixedrange": True, "categoryorder": "array",
             "categoryarray": labels}
    xaxis = {**_money_axis(), "side": "top"}
    return go.Figure([trace], _layout(yaxis=yaxis, xaxis=xaxis, margin={"l": 80, "r": 16, "t": 30, "b": 8}))


def mapped(countries: list[dict[str, Any]], drawable: set[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """The rows the world map can draw, and the codes it cannot (unassigned, or too small at 1:110m)."""
    shown, missing = [], []
    for row in countries:
        code = row.get("country")
        ok = (isinstance(code, str) and ALPHA2.fullmatch(code) and ISO3.get(code) in drawable
              and is_int(row.get("net_cents")))
        if ok:
            shown.append(row)
        else:
            missing.append(str(code))
    return shown, missing


def map_figure(countries: list[dict[str, Any]], drawable: set[str]) -> go.Figure:
    """Net by buyer country on plotly's world map (ISO-3 locations, the world_110m shapes)."""
    rows, _ = mapped(countries, drawable)
    trace = go.Choropleth(
        locationmode="ISO-3", locations=[ISO3[r["country"]] for r in rows],
        z=[r["net_cents"] / 100 for r in rows],
        text=[f"{r['country']} · {format_usd(r['net_cents'])} · {count(int(r.get('orders', 0)))} orders"
              for r in rows],
        hovertemplate="%{text}<extra></extra>",
        colorscale=[[0, "#0e4429"], [0.5, "#26a641"], [1, "#7ee787"]],
        marker={"line": {"color": "#0d1117", "width": 0.5}},
        colorbar={"tickprefix": "$", "tickformat": ",.2~f", "thickness": 12, "outlinewidth": 0, "len": 0.8},
    )
    geo = {"scope": "world", "resolution": 110,  # => plotly.js asks for topojson "world_110m"
           "bgcolor": "rgba(0,0,0,0)", "showframe": False, "showcoastlines": False, "showcountries": True,
           "countrycolor": GRID, "showland": True, "landcolor": "#21262d", "showocean": False,
           "showlakes": False, "projection": {"type": "natural earth"}, "lataxis": {"range": [-57, 85]}}
    return go.Figure([trace], _layout(geo=geo, margin={"l": 0, "r": 0, "t": 0, "b": 0}))


def div(figure: go.Figure, div_id: str) -> str:
    """The figure as a <div> and its inline newPlot script; plotly.js itself is inlined once per file."""
    html: str = pio.to_html(figure, include_plotlyjs=False, full_html=False, div_id=div_id, config=CONFIG,
                            default_height="100%", default_width="100%", validate=True)
    return html
