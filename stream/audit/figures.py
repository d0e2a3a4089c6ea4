"""The day's figures from the audit's classified records, in SQL, in the /api/snapshot shape.

Reads the tables sql.py leaves (`counted`, `cand`, `verdict`, `fields`, `line`, `raw`) for one UTC
day [$start, $end) and returns plain dicts and lists of ints and strings.
"""

from __future__ import annotations

from typing import Any

import duckdb

from stream.audit.sql import DAY_MS, MINUTE_MS

TOP = 10
BUSIEST = 20

DAY_EVENTS = """
CREATE OR REPLACE TEMP TABLE day_ev AS
SELECT c.p, c.off, c.occ, c.wm, f.refund, v.cents, f.country, f.channel, f.merchant_id, f.customer_id
FROM counted c JOIN fields f USING (p, off) JOIN verdict v USING (p, off)
WHERE c.counted AND c.occ >= $start AND c.occ < $end
"""
DAY_LINES = """
CREATE OR REPLACE TEMP TABLE day_ln AS
SELECT e.p, e.off, l.idx, e.refund, e.merchant_id, l.sku, l.qty, l.cents
FROM day_ev e JOIN line l USING (p, off)
"""
# placed orders, gross, refunds and net of a group of day_ev rows
_SUMS = """count(*) FILTER (WHERE NOT refund) AS orders,
    coalesce(sum(cents) FILTER (WHERE NOT refund), 0) AS gross,
    coalesce(sum(cents) FILTER (WHERE refund), 0) AS refunds"""

TOTALS = f"""SELECT {_SUMS}, count(DISTINCT customer_id) FILTER (WHERE NOT refund) AS uniques,
    count(*) FILTER (WHERE occ - occ % {MINUTE_MS} + {MINUTE_MS} + $grace <= wm) AS late FROM day_ev"""
MINUTES = f"""SELECT occ - occ % {MINUTE_MS} AS m, {_SUMS} FROM day_ev GROUP BY m ORDER BY m"""
# ranked as app/view.py ranks them: by net, then countries and channels by name
BREAKDOWN = """SELECT {key}, {sums} FROM day_ev GROUP BY {key} ORDER BY gross - refunds DESC, {key}"""
# merchants: ties by merchant_id ascending (docs/events.md); the name is the one of the merchant's first
# counted event (a merchant's orders count in one partition, its own)
MERCHANTS = f"""WITH top AS (
        SELECT merchant_id, any_value(p) AS p, min(off) AS first, {_SUMS} FROM day_ev
        GROUP BY merchant_id ORDER BY gross - refunds DESC, merchant_id LIMIT {TOP})
    SELECT top.merchant_id, json_extract_string(decode(r.v), '$.merchant_name'), orders, gross, refunds
    FROM top JOIN raw r ON r.p = top.p AND r.off = top.first
    ORDER BY gross - refunds DESC, top.merchant_id"""
# products are (merchant_id, sku): qty and line values of placed lines net of refunded lines; the title
# is the one of the product's first line counted
PRODUCTS = f"""WITH top AS (
        SELECT sku, merchant_id, min({{'p': p, 'off': off, 'idx': idx}}) AS head,
               sum(CASE WHEN refund THEN -qty ELSE qty END) AS qty,
               sum(CASE WHEN refund THEN -cents ELSE cents END) AS net
        FROM day_ln GROUP BY merchant_id, sku ORDER BY net DESC, merchant_id, sku LIMIT {TOP})
    SELECT top.sku, json_extract_string(decode(r.v), '$.lines[' || (top.head.idx - 1) || '].title'),
           top.merchant_id, top.qty, top.net
    FROM top JOIN raw r ON r.p = top.head.p AND r.off = top.head.off
    ORDER BY net DESC, top.merchant_id, top.sku"""
SECONDS = f"""SELECT occ - occ % 1000 AS s, {_SUMS} FROM day_ev GROUP BY s
    ORDER BY gross - refunds DESC, s LIMIT {BUSIEST}"""
DEAD_LETTERS = """SELECT reason, count(*) FROM (
        SELECT ts, msg_reason AS reason FROM fields WHERE msg_reason IS NOT NULL
        UNION ALL SELECT ts, reason FROM verdict WHERE reason IS NOT NULL
        UNION ALL SELECT v.ts, 'too_late' FROM counted c JOIN verdict v USING (p, off) WHERE c.too_late)
    WHERE ts >= $start AND ts < $end GROUP BY reason ORDER BY reason"""
RECORDS = "SELECT count(*) FILTER (WHERE ts >= $start AND ts < $end) FROM raw"
OFFSETS = "SELECT p, min(off), max(off) FROM raw GROUP BY p ORDER BY p"
# where each partition's watermark ends: its highest counted order or the chain's last mark
WATERMARKS = """SELECT p, max(wm) FROM (
        SELECT p, max(occ) FILTER (WHERE counted) AS wm FROM counted GROUP BY p
        UNION ALL SELECT p, max(wm) FROM marks GROUP BY p) GROUP BY p"""
# the orders of the day whose counting hangs on a borderline rule: the audit names them as reasons
_BORDERLINE = f"""SELECT c.p, c.off, f.event_id, c.occ - c.occ % {MINUTE_MS}, f.refund, v.cents
    FROM counted c JOIN fields f USING (p, off) JOIN verdict v USING (p, off)
    WHERE c.{{flag}} AND c.occ >= $start AND c.occ < $end ORDER BY c.p, c.off"""
TOO_LATE = _BORDERLINE.format(flag="too_late")
RESENT = _BORDERLINE.format(flag="resent")
MISPLACED = """SELECT c.p, c.off, f.event_id, c.home,
        EXISTS (SELECT 1 FROM raw r WHERE r.rerouted = c.p || '/' || c.off) AS copied
    FROM cand c JOIN fields f USING (p, off)
    WHERE c.home <> c.p AND c.occ >= $start AND c.occ < $end ORDER BY c.p, c.off"""


def day_figures(con: duckdb.DuckDBPyConnection, start: int, grace_ms: int, lateness_ms: int,
                partitions: int) -> dict[str, Any]:
    """Everything the DayRecount holds but `day` and `passes`, read from the classified tables."""
    day = {"start": start, "end": start + DAY_MS}
    con.execute(DAY_EVENTS, day)
    con.execute(DAY_LINES)
    orders, gross, refunds, uniques, late = _rows(con, TOTALS, {"grace": grace_ms})[0]
    sums = _SUMS.replace("\n", " ")
    marks = dict(_rows(con, WATERMARKS))
    return {
        "totals": {"orders": orders, "gross_cents": gross, "refunds_cents": refunds,
                   "net_cents": gross - refunds, "unique_customers": uniques},
        "minutes": [{"start_ms": m, "orders": o, "gross_cents": g, "refunds_cents": r}
                    for m, o, g, r in _rows(con, MINUTES)],
        "countries": [{"country": k, "orders": o, "net_cents": g - r}
                      for k, o, g, r in _rows(con, BREAKDOWN.format(key="country", sums=sums))],
        "channels": [{"channel": k, "orders": o, "net_cents": g - r}
                     for k, o, g, r in _rows(con, BREAKDOWN.format(key="channel", sums=sums))],
        "top_merchants": [{"merchant_id": k, "name": name, "orders": o, "net_cents": g - r}
                          for k, name, o, g, r in _rows(con, MERCHANTS)],
        "top_products": [{"sku": sku, "title": title, "merchant_id": m, "qty": qty, "net_cents": net}
                         for sku, title, m, qty, net in _rows(con, PRODUCTS)],
        "busiest_seconds": [{"start_ms": s, "orders": o, "gross_cents": g, "refunds_cents": r,
                             "net_cents": g - r} for s, o, g, r in _rows(con, SECONDS)],
        "dead_letters": dict(_rows(con, DEAD_LETTERS, day)),
        "late_events": late,
        "records": _rows(con, RECORDS, day)[0][0],
        "offsets": {p: (first, last) for p, first, last in _rows(con, OFFSETS)},
        # a day is closed in a partition once its watermark passed the day's end plus the lateness
        "closed": {p: (marks.get(p) or 0) >= start + DAY_MS + lateness_ms for p in range(partitions)},
        "too_late": _events(_rows(con, TOO_LATE, day)),
        "resent_after_horizon": _events(_rows(con, RESENT, day)),
        "misplaced": [{"partition": p, "offset": o, "event_id": e, "home": h, "copied": c}
                      for p, o, e, h, c in _rows(con, MISPLACED, day)],
    }


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, int] | None = None) -> list[Any]:
    # DuckDB's own ints (HUGEINT sums included) come back as Python ints
    needed = {k: v for k, v in (params or {}).items() if f"${k}" in sql}
    return con.execute(sql, needed).fetchall()


def _events(rows: list[Any]) -> list[dict[str, Any]]:
    return [{"partition": p, "offset": o, "event_id": e, "minute_ms": m, "refund": r, "cents": c}
            for p, o, e, m, r, c in rows]
