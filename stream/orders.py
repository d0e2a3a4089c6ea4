"""The order event, v1: the one place that decides whether a message from `orders` is a valid order.

One JSON object per Kafka message, key = merchant_id, Kafka timestamp = occurred_at (see README).
Anything else is rejected with an `InvalidOrder` whose `reason` is a short stable code (counted per
reason and written to the dead-letter topic) and whose `detail` says what exactly was wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from stream.money import is_known, to_usd_cents

ORDER_PLACED = "order_placed"
ORDER_REFUNDED = "order_refunded"
TYPES = frozenset({ORDER_PLACED, ORDER_REFUNDED})
CHANNELS = frozenset({"online", "pos", "mobile", "social"})

MAX_EVENT_BYTES = 64 * 1024
MAX_ORDER_USD_CENTS = 100_000_000  # one order over $1M is a bug upstream, not a sale
MAX_LINES = 500
EARLIEST_MS = 946_684_800_000  # 2000-01-01: older stamps are seconds-for-ms mix-ups, not history
MAX_FUTURE_MS = 24 * 3600 * 1000  # shop clocks drift; a day ahead is not a drift

REASONS = ("oversize", "not_utf8", "invalid_json", "not_object", "missing_field", "wrong_type",
           "bad_value", "unknown_currency", "absurd_amount", "too_old", "future_time")


class InvalidOrder(ValueError):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Line:
    sku: str
    title: str
    qty: int
    price_minor: int


@dataclass(frozen=True, slots=True)
class Order:
    event_id: str
    type: str
    order_id: str
    occurred_at: int
    merchant_id: str
    merchant_name: str
    country: str
    channel: str
    currency: str
    total_minor: int
    customer_id: str
    lines: tuple[Line, ...]
    usd_cents: int  # total_minor converted once, at validation

    @property
    def is_refund(self) -> bool:
        return self.type == ORDER_REFUNDED


_STRINGS = ("event_id", "order_id", "merchant_id", "merchant_name", "customer_id")
_REQUIRED = ("event_id", "type", "order_id", "occurred_at", "merchant_id", "merchant_name", "country",
             "channel", "currency", "total_minor", "customer_id", "lines")


def _int(value: Any) -> bool:
    return type(value) is int  # bool is an int subclass, and True is not a price


def _str(doc: dict[str, Any], field: str, max_len: int = 256) -> str:
    value = doc[field]
    if type(value) is not str:
        raise InvalidOrder("wrong_type", f"{field} must be a string")
    if not value or len(value) > max_len:
        raise InvalidOrder("bad_value", f"{field} must be 1..{max_len} characters")
    return value


def _line(item: Any, index: int) -> Line:
    if type(item) is not dict:
        raise InvalidOrder("wrong_type", f"lines[{index}] must be an object")
    for field in ("sku", "title", "qty", "price_minor"):
        if field not in item:
            raise InvalidOrder("missing_field", f"lines[{index}].{field}")
    qty, price = item["qty"], item["price_minor"]
    if not _int(qty) or not _int(price):
        raise InvalidOrder("wrong_type", f"lines[{index}] qty and price_minor must be integers")
    if qty <= 0 or price < 0:
        raise InvalidOrder("bad_value", f"lines[{index}] needs qty > 0 and price_minor >= 0")
    return Line(_str(item, "sku"), _str(item, "title"), qty, price)


def parse_order(raw: bytes | None, now_ms: int) -> Order:
    """Decode and validate one message value. `now_ms` bounds how far in the future occurred_at may be."""
    if raw is None:
        raise InvalidOrder("invalid_json", "empty message (tombstone)")
    if len(raw) > MAX_EVENT_BYTES:
        raise InvalidOrder("oversize", f"{len(raw)} bytes > {MAX_EVENT_BYTES}")
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidOrder("not_utf8", "message is not UTF-8") from None
        raise InvalidOrder("invalid_json", str(exc)) from None
    if type(doc) is not dict:
        raise InvalidOrder("not_object", f"expected a JSON object, got {type(doc).__name__}")
    return validate(doc, now_ms)


def validate(doc: dict[str, Any], now_ms: int) -> Order:
    for field in _REQUIRED:
        if field not in doc:
            raise InvalidOrder("missing_field", field)
    strings = {field: _str(doc, field) for field in _STRINGS}
    kind = doc["type"]
    if kind not in TYPES:
        raise InvalidOrder("bad_value", f"type must be one of {sorted(TYPES)}")
    occurred_at = doc["occurred_at"]
    if not _int(occurred_at):
        raise InvalidOrder("wrong_type", "occurred_at must be an integer (epoch ms)")
    if occurred_at < EARLIEST_MS:
        raise InvalidOrder("too_old", f"occurred_at {occurred_at} is before 2000-01-01 (seconds, not ms?)")
    if occurred_at > now_ms + MAX_FUTURE_MS:
        raise InvalidOrder("future_time", f"occurred_at {occurred_at} is more than a day ahead of now")
    country = doc["country"]
    if type(country) is not str:
        raise InvalidOrder("wrong_type", "country must be a string")
    if len(country) != 2 or not ("A" <= country[0] <= "Z" and "A" <= country[1] <= "Z"):
        raise InvalidOrder("bad_value", "country must be ISO 3166-1 alpha-2, e.g. US")
    channel = doc["channel"]
    if channel not in CHANNELS:
        raise InvalidOrder("bad_value", f"channel must be one of {sorted(CHANNELS)}")
    currency = doc["currency"]
    if type(currency) is not str:
        raise InvalidOrder("wrong_type", "currency must be a string")
    if not is_known(currency):
        raise InvalidOrder("unknown_currency", f"{currency[:8]!r} is not in the rate table")
    total = doc["total_minor"]
    if not _int(total):
        raise InvalidOrder("wrong_type", "total_minor must be an integer of minor units")
    if total <= 0:
        raise InvalidOrder("bad_value", "total_minor must be > 0")
    usd_cents = to_usd_cents(total, currency)
    if usd_cents > MAX_ORDER_USD_CENTS:
        raise InvalidOrder("absurd_amount", f"{total} {currency} is over $1,000,000")
    lines = doc["lines"]
    if type(lines) is not list:
        raise InvalidOrder("wrong_type", "lines must be a list")
    if len(lines) > MAX_LINES:
        raise InvalidOrder("bad_value", f"more than {MAX_LINES} lines")
    return Order(
        event_id=strings["event_id"], type=kind, order_id=strings["order_id"], occurred_at=occurred_at,
        merchant_id=strings["merchant_id"], merchant_name=strings["merchant_name"], country=country,
        channel=channel, currency=currency, total_minor=total, customer_id=strings["customer_id"],
        lines=tuple(_line(item, i) for i, item in enumerate(lines)), usd_cents=usd_cents,
    )


def encode_order(doc: dict[str, Any]) -> bytes:
    return orjson.dumps(doc)
