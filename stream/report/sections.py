"""The report's HTML sections other than the charts: headline figures, rankings, dead letters, lateness and
the audit footer.

Every piece of text from the data goes through `esc` (names are shoppers' data: a merchant called
<img src=x onerror=alert(1)> must show as those characters). Figures are printed from the exact
integers (`stream.core.money.format_usd`, digit grouping), and each also sits in a data attribute with the
integer, as on the live page, so tests and scripts read exact values back. A figure missing from the
input shows a dash.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import Any

from stream.core.money import format_usd
from stream.report.charts import count, is_int, utc

DASH = "–"


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def money(cents: object) -> str:
    return format_usd(cents) if is_int(cents) else DASH  # type: ignore[arg-type]


def number(n: object) -> str:
    return count(n) if is_int(n) else DASH  # type: ignore[arg-type]


def attr(name: str, value: object) -> str:
    """` data-x="123"` for an exact integer, nothing for a missing one (so a reader sees it is missing)."""
    return f' {name}="{value}"' if is_int(value) else ""


def card(title: str, body: str, cls: str = "", section_id: str = "") -> str:
    ident = f' id="{section_id}"' if section_id else ""
    return f'<section class="card {cls}"{ident}><h2 class="label">{title}</h2>{body}</section>'


def headline(totals: dict[str, Any]) -> str:
    t = totals
    hero = card("Net sales", (
        f'<p id="net-sales" class="value value-hero"{attr("data-cents", t.get("net_cents"))}>'
        f'{money(t.get("net_cents"))}</p><p class="hero-detail">'
        f'<span>gross <span id="gross" class="money"{attr("data-cents", t.get("gross_cents"))}>'
        f'{money(t.get("gross_cents"))}</span></span>'
        f'<span>refunds <span id="refunds" class="money value-refunds"'
        f'{attr("data-cents", t.get("refunds_cents"))}>{money(t.get("refunds_cents"))}</span></span></p>'),
        "hero")
    orders = card("Orders", f'<p id="orders" class="value"{attr("data-value", t.get("orders"))}>'
                  f'{number(t.get("orders"))}</p><p class="note">placed orders; refunds are not orders</p>',
                  "tile")
    aov = card("Avg order", f'<p id="aov" class="value"{attr("data-cents", t.get("aov_cents"))}>'
               f'{money(t.get("aov_cents"))}</p><p class="note">gross per order</p>', "tile")
    shoppers = card("Unique shoppers", f'<p id="shoppers" class="value"'
                    f'{attr("data-value", t.get("unique_customers"))}>{number(t.get("unique_customers"))}</p>'
                    '<p class="note">an estimate (HyperLogLog, ±1.6%)</p>', "tile")
    return hero + orders + aov + shoppers


def table(head: Iterable[tuple[str, str]], rows: list[str], body_id: str = "", foot: str = "") -> str:
    """A ranking table; `head` is (label, css class) per column, `rows` are ready <tr> strings."""
    columns = list(head)
    ths = "".join(f'<th class="{cls}">{label}</th>' for label, cls in columns)
    if not rows:
        rows = [f'<tr class="empty"><td colspan="{len(columns)}">{DASH}</td></tr>']
    ident = f' id="{body_id}"' if body_id else ""
    tfoot = f"<tfoot>{foot}</tfoot>" if foot else ""
    return (f'<table class="ranking"><thead><tr>{ths}</tr></thead><tbody{ident}>{"".join(rows)}</tbody>'
            f"{tfoot}</table>")


def merchants(rows: list[dict[str, Any]]) -> str:
    trs = [f'<tr data-merchant-id="{esc(m.get("merchant_id", ""))}"{attr("data-orders", m.get("orders"))}'
           f'{attr("data-cents", m.get("net_cents"))}><td class="rank">{i}</td>'
           f'<td class="name">{esc(m.get("name", ""))}</td><td class="num">{number(m.get("orders"))}</td>'
           f'<td class="num">{money(m.get("net_cents"))}</td></tr>' for i, m in enumerate(rows, 1)]
    head = [("#", "rank"), ("merchant", ""), ("orders", "num"), ("net", "num")]
    return card("Top merchants", table(head, trs, "top-merchants"), "half")


def products(rows: list[dict[str, Any]]) -> str:
    trs = [f'<tr data-sku="{esc(p.get("sku", ""))}" data-merchant-id="{esc(p.get("merchant_id", ""))}"'
           f'{attr("data-qty", p.get("qty"))}{attr("data-cents", p.get("net_cents"))}>'
           f'<td class="rank">{i}</td><td class="name">{esc(p.get("title", ""))} '
           f'<span class="sku">{esc(p.get("sku", ""))}</span></td><td class="num">{number(p.get("qty"))}</td>'
           f'<td class="num">{money(p.get("net_cents"))}</td></tr>' for i, p in enumerate(rows, 1)]
    head = [("#", "rank"), ("product", ""), ("qty", "num"), ("net", "num")]
    return card("Top products", table(head, trs, "top-products"), "half")


def share_pct(part: int, whole: int) -> int:
    """Whole percent of a positive total, rounded half up, in integers (a negative part counts as 0)."""
    return (200 * max(0, part) + whole) // (2 * whole) if whole > 0 else 0


def channels(rows: list[dict[str, Any]]) -> str:
    total = sum(max(0, c["net_cents"]) for c in rows if is_int(c.get("net_cents")))
    items = []
    for c in rows:
        cents = c.get("net_cents")
        pct = share_pct(cents, total) if is_int(cents) else 0  # type: ignore[arg-type]
        items.append(
            f'<li data-channel="{esc(c.get("channel", ""))}"{attr("data-orders", c.get("orders"))}'
            f'{attr("data-cents", cents)}><span class="name">{esc(c.get("channel", ""))}</span>'
            f'<span class="bar"><span class="fill" style="width: {pct}%"></span></span>'
            f'<span class="num">{pct}%</span><span class="num">{number(c.get("orders"))}</span>'
            f'<span class="num">{money(cents)}</span></li>')
    body = "".join(items) or f'<li class="empty">{DASH}</li>'
    return card("Channels", f'<ul id="channels" class="bars">{body}</ul>'
                '<p class="note">share of net · orders · net</p>', "third")


def dead_letters(counts: object) -> str:
    entries = sorted(((str(k), v) for k, v in counts.items() if is_int(v)), key=lambda e: (-e[1], e[0])) \
        if isinstance(counts, dict) else []
    total = sum(n for _, n in entries)
    value = total if isinstance(counts, dict) else None
    trs = [f'<tr data-reason="{esc(k)}" data-count="{n}"><td class="name">{esc(k)}</td>'
           f'<td class="num">{count(n)}</td></tr>' for k, n in entries]
    body = (f'<p id="dead-letters" class="value"{attr("data-value", value)}>{number(value)}</p>'
            '<p class="note">messages not counted (malformed, or too late for a closed day), by reason</p>'
            + table([("reason", ""), ("messages", "num")], trs, "dead-letter-reasons"))
    return card("Dead letters", body, "third")


def late(n: object) -> str:
    body = (f'<p id="late" class="value"{attr("data-value", n)}>{number(n)}</p>'
            '<p class="note">orders that arrived after their minute was final: each corrected its minute and '
            'the day, so every figure here includes them</p>')
    return card("Late corrections", body, "third")


def seconds_table(rows: list[dict[str, Any]]) -> str:
    trs = [f'<tr{attr("data-start-ms", s.get("start_ms"))}{attr("data-orders", s.get("orders"))}'
           f'{attr("data-cents", s.get("net_cents"))}><td class="rank">{i}</td>'
           f'<td>{utc(s["start_ms"])[11:] if is_int(s.get("start_ms")) else DASH}</td>'
           f'<td class="num">{number(s.get("orders"))}</td>'
           f'<td class="num">{money(s.get("net_cents"))}</td></tr>' for i, s in enumerate(rows, 1)]
    head = [("#", "rank"), ("second (UTC)", ""), ("orders", "num"), ("net", "num")]
    return table(head, trs, "busiest-seconds")


def countries_table(rows: list[tuple[int, dict[str, Any]]], body_id: str) -> str:
    """Countries with their rank in the whole list (the rest of the list continues the numbering)."""
    trs = [f'<tr data-country="{esc(c.get("country", ""))}"{attr("data-orders", c.get("orders"))}'
           f'{attr("data-cents", c.get("net_cents"))}><td class="rank">{i}</td>'
           f'<td>{esc(c.get("country", ""))}</td><td class="num">{number(c.get("orders"))}</td>'
           f'<td class="num">{money(c.get("net_cents"))}</td></tr>' for i, c in rows]
    return table([("#", "rank"), ("country", ""), ("orders", "num"), ("net", "num")], trs, body_id)
