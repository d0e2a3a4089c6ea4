"""The audit's verdict: what the dashboard shows for a day (the /api/snapshot JSON) against the recount,
as one line and a JSON report. Pure: no I/O.

Every exact figure is compared to the cent: the day's totals, each minute, countries, channels and the
top tens. A difference names a likely cause only when the audit checked it (the dashboard had folded
fewer records of a partition than the recount read); otherwise the cause is "unknown". The worker and
the recount apply one set of rules (dedupe, lateness, ties), so no rule is a likely cause.
Unique shoppers are a HyperLogLog estimate on the dashboard: reported against the exact count, never a
failure.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from stream.audit.recount import DayRecount

MINUTE_FIELDS = ("orders", "gross_cents", "refunds_cents")
TOTAL_FIELDS = ("orders", "gross_cents", "refunds_cents", "net_cents")
TOP_LISTS = {"top_merchants": ("merchant_id", "name", "orders", "net_cents"),
             "top_products": ("sku", "title", "merchant_id", "qty", "net_cents")}
BREAKDOWNS = {"countries": "country", "channels": "channel"}


@dataclass
class Difference:
    what: str  # totals, minute, countries, channels, top_merchants, top_products
    key: str  # the field, the minute, the country, the channel or the rank
    shown: Any
    recounted: Any
    reasons: list[str] = field(default_factory=list)


@dataclass
class Verdict:
    ok: bool
    line: str
    day: str
    day_closed: bool
    differences: list[Difference]
    unique_customers: dict[str, Any]
    recount: DayRecount

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "line": self.line, "day": self.day, "day_closed": self.day_closed,
                "differences": [asdict(d) for d in self.differences],
                "unique_customers": self.unique_customers, "recount": self.recount.to_json()}


def compare(shown: dict[str, Any], recount: DayRecount, *, day_closed: bool,
            sketch_error: float = 0.016) -> Verdict:
    """The dashboard's day `shown` against `recount`; `day_closed`: no record can change the day any more."""
    context = _context(shown, recount)
    differences = [*_totals(shown, recount, context), *_minutes(shown, recount, context),
                   *_breakdowns(shown, recount, context), *_tops(shown, recount, context)]
    uniques = _uniques(shown, recount, sketch_error)
    ok = not differences
    if ok:
        line = (f"verified: {len(recount.minutes):,} minutes, {recount.totals['orders']:,} orders, "
                f"{usd(recount.totals['net_cents'])}, equal to the cent (offsets {_offsets(recount)})")
    else:
        line = "differs: " + "; ".join(_describe(d) for d in differences)
    notes = [uniques["text"]] + ([] if day_closed else ["the day is still open"])
    return Verdict(ok=ok, line=f"{line}; {'; '.join(notes)}", day=recount.day, day_closed=day_closed,
                   differences=differences, unique_customers=uniques, recount=recount)


def usd(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    dollars, rest = divmod(abs(cents), 100)
    return f"{sign}${dollars:,}.{rest:02d}"


@dataclass
class _Context:
    general: list[str]  # causes checked for the whole day: the dashboard behind the recount


def _context(shown: dict[str, Any], recount: DayRecount) -> _Context:
    general = []
    for partition, end in sorted((int(p), e) for p, e in (shown.get("offsets") or {}).items()):
        covered = recount.offsets.get(partition)
        read = covered[1] + 1 if covered else 0
        if end is not None and end < read:
            general.append(f"the dashboard has partition {partition} up to offset {end}, the recount {read}")
    return _Context(general)


def _totals(shown: dict[str, Any], recount: DayRecount, context: _Context) -> list[Difference]:
    totals = shown.get("totals") or {}
    return [Difference("totals", name, totals.get(name, 0), recount.totals[name],
                       context.general)
            for name in TOTAL_FIELDS if totals.get(name, 0) != recount.totals[name]]


def _minutes(shown: dict[str, Any], recount: DayRecount, context: _Context) -> list[Difference]:
    mine = {m["start_ms"]: m for m in recount.minutes}
    theirs = {m["start_ms"]: m for m in shown.get("minutes") or ()}
    out = []
    for start in sorted(mine.keys() | theirs.keys()):
        a = {k: theirs.get(start, {}).get(k, 0) for k in MINUTE_FIELDS}
        b = {k: mine.get(start, {}).get(k, 0) for k in MINUTE_FIELDS}
        if a != b:
            reasons = []
            if context.general and start in theirs and not theirs[start].get("final", True):
                reasons.append("the minute is not final on the dashboard yet")  # and records are missing
            out.append(Difference("minute", _minute_name(start), a, b, reasons + context.general))
    return out


def _breakdowns(shown: dict[str, Any], recount: DayRecount, context: _Context) -> list[Difference]:
    out = []
    for name, key in BREAKDOWNS.items():
        theirs = {row[key]: (row["orders"], row["net_cents"]) for row in shown.get(name) or ()}
        mine = {row[key]: (row["orders"], row["net_cents"]) for row in getattr(recount, name)}
        for item in sorted(theirs.keys() | mine.keys()):
            a, b = theirs.get(item, (0, 0)), mine.get(item, (0, 0))
            if a != b:
                out.append(Difference(name, item, {"orders": a[0], "net_cents": a[1]},
                                      {"orders": b[0], "net_cents": b[1]},
                                      context.general))
    return out


def _tops(shown: dict[str, Any], recount: DayRecount, context: _Context) -> list[Difference]:
    out = []
    for name, keys in TOP_LISTS.items():
        theirs = [{k: row.get(k) for k in keys} for row in shown.get(name) or ()]
        mine = [{k: row[k] for k in keys} for row in getattr(recount, name)]
        for rank in range(max(len(theirs), len(mine))):
            a = theirs[rank] if rank < len(theirs) else None
            b = mine[rank] if rank < len(mine) else None
            if a != b:
                out.append(Difference(name, f"#{rank + 1}", a, b, context.general))
    return out


def _uniques(shown: dict[str, Any], recount: DayRecount, sigma: float) -> dict[str, Any]:
    estimate = shown.get("unique_customers", (shown.get("totals") or {}).get("unique_customers"))
    exact = recount.totals["unique_customers"]
    if estimate is None:
        return {"shown": None, "exact": exact, "error": None, "sigma": sigma, "within": None,
                "text": f"unique shoppers not shown, {exact:,} exact"}
    error = (estimate - exact) / exact if exact else (0.0 if estimate == 0 else float("inf"))
    within = abs(error) <= 3 * sigma
    verdict = "within the sketch's error" if within else f"outside the sketch's error (3σ = {3 * sigma:.1%})"
    return {"shown": estimate, "exact": exact, "error": error, "sigma": sigma, "within": within,
            "text": f"unique shoppers {estimate:,} shown, {exact:,} exact ({error:+.2%}, {verdict})"}


def _describe(d: Difference) -> str:
    if d.what == "totals":
        label = "totals"
        values = f"{d.key} {_value(d.key, d.shown)} shown, {_value(d.key, d.recounted)} recounted"
    elif d.what in TOP_LISTS:
        label, values = f"{d.what} {d.key}", f"{_row(d.shown)} shown, {_row(d.recounted)} recounted"
    else:  # a minute, a country, a channel: each field that differs
        label = f"{d.what} {d.key}"
        values = ", ".join(f"{k} {_value(k, d.shown[k])} shown, {_value(k, d.recounted[k])} recounted"
                           for k in d.shown if d.shown[k] != d.recounted[k])
    return f"{label}: {values} (likely: {' or '.join(d.reasons) if d.reasons else 'unknown'})"


def _value(name: str, value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return usd(value) if name.endswith("_cents") else f"{value:,}"
    return repr(value)


def _row(row: dict[str, Any] | None) -> str:
    return "nothing" if row is None else "[" + ", ".join(f"{k} {_value(k, v)}" for k, v in row.items()) + "]"


def _minute_name(start_ms: int) -> str:
    return datetime.fromtimestamp(start_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%MZ")


def _offsets(recount: DayRecount) -> str:
    return ", ".join(f"{p}:{a}-{b}" for p, (a, b) in sorted(recount.offsets.items())) or "none"
