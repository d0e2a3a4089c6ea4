"""The reference counter: docs/events.md restated plainly, record by record, with no code from stream/.

A partition's records are read in log order. A record is judged (size, UTF-8, JSON, object, the schema,
repeated keys, country, too_old, future_time, currency, amounts), routed (a valid order counts only in its
merchant's partition), then judged too_late against the partition's watermark, then dedupe: an id counted
when the watermark (after counting it) was S is a duplicate while S >= watermark - horizon. Figures are
plain dicts per UTC day: totals, minutes, breakdowns, merchants, products, tallies. The property tests
(tests/stream/core/test_one_answer.py) hold the live core, recovery, replay and the audit against it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.support.truth import USD_PER_UNIT, usd_cents

DAY_MS = 86_400_000
MINUTE_MS = 60_000
EARLIEST_MS = 946_684_800_000  # 2000-01-01
MAX_BYTES = 65_536
DOLLAR_MILLION = 100_000_000  # cents
TOP = 10
TEXT = ("event_id", "order_id", "merchant_id", "merchant_name", "customer_id")
FIELDS = (*TEXT, "type", "occurred_at", "country", "channel", "currency", "total_minor", "lines")
TYPES = ("order_placed", "order_refunded")
CHANNELS = ("online", "pos", "mobile", "social")


@dataclass(frozen=True)
class Contract:
    """The time rules (docs/events.md "Event time and lateness"), in ms."""

    horizon_ms: int = 900_000
    grace_ms: int = 5_000
    lateness_ms: int = 3_600_000
    max_future_ms: int = 300_000


class _Object(dict[str, Any]):
    """A JSON object that remembers whether a key came twice (after unescaping)."""

    repeated = False


def _pairs(pairs: list[tuple[str, Any]]) -> _Object:
    doc = _Object(pairs)
    doc.repeated = len(doc) != len(pairs)
    return doc


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _text(value: Any) -> str | None:
    if not isinstance(value, str):
        return "wrong_type"
    return None if 1 <= len(value) <= 256 else "bad_value"


def _integer(value: Any, low: int, high: int) -> str | None:
    if type(value) is not int:
        return "wrong_type"
    return None if low <= value <= high else "bad_value"


def _schema(doc: dict[str, Any]) -> str | None:
    """The first broken schema rule of an event with one fault (the generators make no more)."""
    for name in FIELDS:
        if name not in doc:
            return "missing_field"
    checks: list[str | None] = [_text(doc[name]) for name in TEXT]
    for name, allowed in (("type", TYPES), ("channel", CHANNELS)):
        value = doc[name]
        checks.append("wrong_type" if not isinstance(value, str) else None if value in allowed
                      else "bad_value")
    country, currency = doc["country"], doc["currency"]
    checks.append("wrong_type" if not isinstance(country, str) else None if len(country) == 2
                  and all("A" <= c <= "Z" for c in country) else "bad_value")
    checks.append("wrong_type" if not isinstance(currency, str) else None if len(currency) <= 8
                  else "bad_value")
    checks.append(_integer(doc["occurred_at"], -(2**63), 2**53))
    checks.append(_integer(doc["total_minor"], 1, 10**15))
    lines = doc["lines"]
    if not isinstance(lines, list):
        checks.append("wrong_type")
    else:
        checks.append(None if len(lines) <= 500 else "bad_value")
        for line in lines:
            if not isinstance(line, dict):
                checks.append("wrong_type")
                continue
            if any(name not in line for name in ("sku", "title", "qty", "price_minor")):
                checks.append("missing_field")
                continue
            checks += [_text(line["sku"]), _text(line["title"]), _integer(line["qty"], 1, 100_000),
                       _integer(line["price_minor"], 0, 10**12)]
    return next((c for c in checks if c is not None), None)


def judge(raw: bytes | None, now_ms: int, max_future_ms: int) -> tuple[str | None, dict[str, Any]]:
    """(the reason the record is not an order, or None; the decoded event)."""
    if raw is None:
        return "invalid_json", {}
    if len(raw) > MAX_BYTES:
        return "oversize", {}
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "not_utf8", {}
    try:
        doc = json.loads(text, object_pairs_hook=_pairs, parse_constant=_no_constant)
    except ValueError:
        return "invalid_json", {}
    if not isinstance(doc, dict):
        return "not_object", {}
    broken = _schema(doc)
    if broken is not None:
        return broken, doc
    if doc.repeated or any(getattr(line, "repeated", False) for line in doc["lines"]):
        return "duplicate_key", doc
    if doc["occurred_at"] < EARLIEST_MS:
        return "too_old", doc
    if doc["occurred_at"] > now_ms + max_future_ms:
        return "future_time", doc
    if doc["currency"] not in USD_PER_UNIT:
        return "unknown_currency", doc
    lines = [usd_cents(line["qty"] * line["price_minor"], doc["currency"]) for line in doc["lines"]]
    total = usd_cents(doc["total_minor"], doc["currency"])
    if total > DOLLAR_MILLION or any(v > DOLLAR_MILLION for v in lines) or sum(lines) > DOLLAR_MILLION:
        return "absurd_amount", doc
    return None, doc


def day_name(ms: int) -> str:
    return datetime.fromtimestamp((ms - ms % DAY_MS) / 1000, UTC).date().isoformat()


@dataclass
class Day:
    """One UTC day of one partition, as plain dicts."""

    minutes: dict[int, list[int]] = field(default_factory=dict)  # start -> [orders, gross, refunds]
    countries: dict[str, list[int]] = field(default_factory=dict)  # -> [orders, net]
    channels: dict[str, list[int]] = field(default_factory=dict)
    merchants: dict[str, list[Any]] = field(default_factory=dict)  # -> [name, orders, gross, refunds]
    products: dict[tuple[str, str], list[Any]] = field(default_factory=dict)  # -> [title, qty, net]
    dead: dict[str, int] = field(default_factory=dict)
    late: int = 0
    rerouted: int = 0


class Partition:
    """One input partition's count, fed its records in log order."""

    def __init__(self, number: int, home: Callable[[str], int], contract: Contract | None = None) -> None:
        self.number = number
        self.home = home
        self.contract = contract or Contract()
        self.watermark = 0
        self.seen: dict[str, int] = {}  # event_id -> the watermark right after it was counted
        self.duplicates = 0
        self.days: dict[str, Day] = {}
        self.outcomes: list[str] = []  # per record: counted, duplicate, rerouted or the dead letter's reason

    def _day(self, ms: int) -> Day:
        return self.days.setdefault(day_name(ms), Day())

    def feed(self, raw: bytes | None, stamp: int, now_ms: int) -> str:
        """Count one record (Kafka timestamp `stamp`) judged by the clock `now_ms`; returns its outcome."""
        rules = self.contract
        reason, doc = judge(raw, now_ms, rules.max_future_ms)
        if reason is None and self.home(doc["merchant_id"]) != self.number:
            self._tally(stamp, now_ms).rerouted += 1
            return self._outcome("rerouted")
        at = doc.get("occurred_at", 0)
        if reason is None and at - at % DAY_MS + DAY_MS + rules.lateness_ms <= self.watermark:
            reason = "too_late"
        if reason is not None:
            dead = self._tally(stamp, now_ms).dead
            dead[reason] = dead.get(reason, 0) + 1
            return self._outcome(reason)
        remembered = self.seen.get(doc["event_id"])
        if remembered is not None and remembered >= self.watermark - rules.horizon_ms:
            self.duplicates += 1
            return self._outcome("duplicate")
        self._count(doc)
        self.watermark = max(self.watermark, at)
        self.seen[doc["event_id"]] = self.watermark
        return self._outcome("counted")

    def _outcome(self, outcome: str) -> str:
        self.outcomes.append(outcome)
        return outcome

    def _tally(self, stamp: int, now_ms: int) -> Day:
        # The record's own day while it is open here; a stamp of a day closed here, the watermark's day;
        # no usable stamp, the judging clock's (a hostile stamp opens none).
        open_from = self.watermark - self.contract.lateness_ms
        open_from -= open_from % DAY_MS
        if max(open_from, EARLIEST_MS) <= stamp <= now_ms + self.contract.max_future_ms:
            return self._day(stamp)
        if EARLIEST_MS <= stamp < open_from:
            return self._day(self.watermark)
        return self._day(now_ms)

    def _count(self, doc: dict[str, Any]) -> None:
        at, currency = doc["occurred_at"], doc["currency"]
        cents = usd_cents(doc["total_minor"], currency)
        refund = doc["type"] == "order_refunded"
        day = self._day(at)
        minute = at - at % MINUTE_MS
        if minute + MINUTE_MS + self.contract.grace_ms <= self.watermark:
            day.late += 1
        sums = day.minutes.setdefault(minute, [0, 0, 0])
        sums[0] += 0 if refund else 1
        sums[1 if not refund else 2] += cents
        placed, net = (0, -cents) if refund else (1, cents)
        for table, key in ((day.countries, doc["country"]), (day.channels, doc["channel"])):
            row = table.setdefault(key, [0, 0])
            row[0] += placed
            row[1] += net
        merchant = day.merchants.setdefault(doc["merchant_id"], [doc["merchant_name"], 0, 0, 0])
        merchant[1] += placed
        merchant[2 if not refund else 3] += cents
        sign = -1 if refund else 1
        for line in doc["lines"]:
            product = day.products.setdefault((doc["merchant_id"], line["sku"]), [line["title"], 0, 0])
            product[1] += sign * line["qty"]
            product[2] += sign * usd_cents(line["qty"] * line["price_minor"], currency)


def _ranked(table: dict[Any, Any], net: Callable[[Any], int], top: int | None = None) -> list[Any]:
    """Keys by net descending, ties by key ascending (code point order)."""
    return sorted(table, key=lambda key: (-net(table[key]), key))[:top]


def figures(partitions: list[Partition], day: str) -> dict[str, Any]:
    """The day over all partitions, in the /api/snapshot shape (money and counts: no estimate)."""
    parts = [p.days[day] for p in partitions if day in p.days]
    minutes: dict[int, list[int]] = {}
    countries: dict[str, list[int]] = {}
    channels: dict[str, list[int]] = {}
    merchants: dict[str, list[Any]] = {}
    products: dict[tuple[str, str], list[Any]] = {}
    dead: dict[str, int] = {}
    for part in parts:
        for key, values in part.minutes.items():
            minutes[key] = [a + b for a, b in zip(minutes.get(key, [0, 0, 0]), values, strict=True)]
        for into, table in ((countries, part.countries), (channels, part.channels)):
            for key, values in table.items():
                into[key] = [a + b for a, b in zip(into.get(key, [0, 0]), values, strict=True)]
        merchants.update(part.merchants)  # a merchant counts in one partition only: its home
        products.update(part.products)
        for reason, n in part.dead.items():
            dead[reason] = dead.get(reason, 0) + n
    orders = sum(m[0] for m in minutes.values())
    gross = sum(m[1] for m in minutes.values())
    refunds = sum(m[2] for m in minutes.values())
    return {
        "totals": {"orders": orders, "gross_cents": gross, "refunds_cents": refunds,
                   "net_cents": gross - refunds},
        "minutes": [{"start_ms": m, "orders": o, "gross_cents": g, "refunds_cents": r}
                    for m, (o, g, r) in sorted(minutes.items())],
        "countries": [{"country": k, "orders": countries[k][0], "net_cents": countries[k][1]}
                      for k in _ranked(countries, lambda row: row[1])],
        "channels": [{"channel": k, "orders": channels[k][0], "net_cents": channels[k][1]}
                     for k in _ranked(channels, lambda row: row[1])],
        "top_merchants": [{"merchant_id": k, "name": merchants[k][0], "orders": merchants[k][1],
                           "net_cents": merchants[k][2] - merchants[k][3]}
                          for k in _ranked(merchants, lambda row: row[2] - row[3], TOP)],
        "top_products": [{"sku": k[1], "title": products[k][0], "merchant_id": k[0], "qty": products[k][1],
                          "net_cents": products[k][2]} for k in _ranked(products, lambda row: row[2], TOP)],
        "dead_letters": dead,
        "late_events": sum(part.late for part in parts),
        "rerouted": sum(part.rerouted for part in parts),
    }
