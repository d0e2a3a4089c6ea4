"""The order event, v1: the one place that decides whether a message from `orders` is a valid order.

One JSON object per Kafka message, key = merchant_id, Kafka timestamp = occurred_at (see README). The
shape and types are a msgspec schema (decoded and checked in C, ~1.5 µs an event); the rules that need
the rate table or the clock follow in Python. Anything else is rejected with an `InvalidOrder` whose
`reason` is a short stable code (counted, and written to the dead-letter topic) and whose `detail` says
exactly what was wrong.

Bounds make overflow impossible: an order, each of its lines and the sum of its lines are each at most
$1,000,000 converted, so 100,000 orders a second for five days sum to at most 4.3e18 cents, inside a
signed 64-bit integer (9.2e18), for every aggregate (gross, refunds, a minute, a merchant, a product).
An order whose lines do not add up to its total is accepted: tax, shipping and discounts make them differ.
"""

from __future__ import annotations

import json
from string import ascii_uppercase
from typing import Annotated, Literal

import msgspec
import msgspec.inspect

from stream.core.money import USD_CENTS

ORDER_PLACED = "order_placed"
ORDER_REFUNDED = "order_refunded"

MAX_EVENT_BYTES = 64 * 1024
MAX_ORDER_USD_CENTS = 100_000_000  # one order, one line or one order's lines over $1M is a bug upstream
MAX_LINES = 500
MAX_QTY = 100_000  # of one product in one line
MAX_PRICE_MINOR = 10**12  # per unit, in minor units (₩1,000,000,000,000 is $730M: absurd by far)
MAX_TOTAL_MINOR = 10**15  # before conversion: keeps the arithmetic small; the USD bound decides
EARLIEST_MS = 946_684_800_000  # 2000-01-01: older stamps are seconds-for-ms mix-ups, not history
LATEST_MS = 2**53  # far beyond any clock; keeps event times exact in every JSON reader

REASONS = ("oversize", "not_utf8", "invalid_json", "not_object", "duplicate_key", "missing_field",
           "wrong_type", "bad_value", "unknown_currency", "absurd_amount", "too_old", "future_time",
           "too_late", "internal_error")

Text = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
# ISO 3166-1 alpha-2 shape, checked after decoding: a msgspec regex costs ~1 µs an event, a set lookup 30 ns.
COUNTRY_CODES = frozenset(a + b for a in ascii_uppercase for b in ascii_uppercase)


class InvalidOrder(ValueError):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


# gc=False: decoded events never form reference cycles, so the collector need not track millions of them.
class Line(msgspec.Struct, gc=False):
    sku: Text
    title: Text
    qty: Annotated[int, msgspec.Meta(gt=0, le=MAX_QTY)]
    price_minor: Annotated[int, msgspec.Meta(ge=0, le=MAX_PRICE_MINOR)]
    # qty × price_minor in US cents, set at validation. The JSON name keeps it out of the way of real fields.
    usd_cents: int = msgspec.field(default=0, name="__usd_cents")


class Order(msgspec.Struct, gc=False):
    event_id: Text
    type: Literal["order_placed", "order_refunded"]
    order_id: Text
    occurred_at: Annotated[int, msgspec.Meta(le=LATEST_MS)]
    merchant_id: Text
    merchant_name: Text
    country: Annotated[str, msgspec.Meta(min_length=2, max_length=2)]  # in COUNTRY_CODES, see _check
    channel: Literal["online", "pos", "mobile", "social"]
    currency: Annotated[str, msgspec.Meta(max_length=8)]
    total_minor: Annotated[int, msgspec.Meta(gt=0, le=MAX_TOTAL_MINOR)]
    customer_id: Text
    lines: Annotated[list[Line], msgspec.Meta(max_length=MAX_LINES)]
    # Set from total_minor at validation. The JSON name keeps it out of the way of real fields.
    usd_cents: int = msgspec.field(default=0, name="__usd_cents")

    @property
    def is_refund(self) -> bool:
        return self.type == ORDER_REFUNDED


_decoder = msgspec.json.Decoder(Order)


def parse_order(raw: bytes | None, now_ms: int, max_future_ms: int) -> Order:
    """Decode and validate one message value. An occurred_at more than `max_future_ms` ahead of `now_ms`
    (the worker's clock) is a clock gone wrong, not a sale: one fast clock must not close a day."""
    if raw is None:
        raise InvalidOrder("invalid_json", "empty message (tombstone)")
    if len(raw) > MAX_EVENT_BYTES:
        raise InvalidOrder("oversize", f"{len(raw)} bytes > {MAX_EVENT_BYTES}")
    try:
        order = _decoder.decode(raw)
    except msgspec.ValidationError as exc:
        _refuse_duplicate_keys(raw, None)  # before the schema: which copy of a key a reader takes varies
        raise InvalidOrder(_reason(str(exc)), str(exc)) from None
    except UnicodeDecodeError:
        raise InvalidOrder("not_utf8", "message is not UTF-8") from None
    except msgspec.DecodeError as exc:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidOrder("not_utf8", "message is not UTF-8") from None
        raise InvalidOrder("invalid_json", str(exc)) from None
    except (ValueError, OverflowError, RecursionError) as exc:  # the worker must not die on any input
        raise InvalidOrder("invalid_json", f"undecodable: {exc!r}") from None
    _refuse_duplicate_keys(raw, order)
    # The rules that need the rate table or the clock (inline: this runs for every event).
    if order.country not in COUNTRY_CODES:
        raise InvalidOrder("bad_value", "Expected `str` matching regex '^[A-Z]{2}$' - at `$.country`")
    occurred_at = order.occurred_at
    if occurred_at < EARLIEST_MS:
        raise InvalidOrder("too_old", f"occurred_at {occurred_at} is before 2000-01-01 (seconds, not ms?)")
    if occurred_at > now_ms + max_future_ms:
        raise InvalidOrder("future_time", f"occurred_at {occurred_at} is {occurred_at - now_ms} ms ahead of "
                                          f"the clock {now_ms} (at most {max_future_ms} ms is a drift)")
    converted = USD_CENTS.get(order.currency)
    if converted is None:
        raise InvalidOrder("unknown_currency", f"{order.currency!r} is not in the rate table")
    cents = converted[order.total_minor]
    if cents > MAX_ORDER_USD_CENTS:
        raise InvalidOrder("absurd_amount", f"{order.total_minor} {order.currency} is over $1,000,000")
    order.usd_cents = cents
    lines_cents = 0
    for line in order.lines:
        value = converted[line.qty * line.price_minor]
        if value > MAX_ORDER_USD_CENTS:
            raise InvalidOrder("absurd_amount", f"a line of {line.qty} × {line.price_minor} {order.currency} "
                                                "is over $1,000,000")
        line.usd_cents = value
        lines_cents += value
    if lines_cents > MAX_ORDER_USD_CENTS:
        raise InvalidOrder("absurd_amount", f"the lines add up to {lines_cents} cents, over $1,000,000")
    return order


_ORDER_KEYS = tuple(Order.__struct_encode_fields__[:-1])  # the JSON names, less the derived __usd_cents
_LINE_KEYS = tuple(Line.__struct_encode_fields__[:-1])
_QUOTED_ORDER_KEYS = tuple(f'"{key}"'.encode() for key in _ORDER_KEYS)
_QUOTED_LINE_KEYS = tuple(f'"{key}"'.encode() for key in _LINE_KEYS)


def _quotes(struct: type[msgspec.Struct]) -> int:
    """The quotes of a `struct` given with its required fields only, unescaped: two a key, two a value
    that is a string."""
    info = msgspec.inspect.type_info(struct)
    assert isinstance(info, msgspec.inspect.StructType)
    return sum(4 if _is_string(f.type) else 2 for f in info.fields if f.required)


def _is_string(kind: msgspec.inspect.Type) -> bool:
    if isinstance(kind, msgspec.inspect.LiteralType):
        return all(isinstance(value, str) for value in kind.values)
    return isinstance(kind, msgspec.inspect.StrType)


_ORDER_QUOTES, _LINE_QUOTES = _quotes(Order), _quotes(Line)


class _Pairs(list[tuple[str, object]]):
    """A JSON object as the pairs it was written with, duplicates and all."""


def _refuse_duplicate_keys(raw: bytes, order: Order | None) -> None:
    """A field of the contract given twice in the order or in a line is `duplicate_key`: readers disagree
    on which copy counts (msgspec keeps the last, DuckDB's json_extract the first). Fields not in the
    contract are ignored, repeated or not."""
    if order is not None and b"\\" not in raw:
        # Without escapes every quote delimits a string. The schema made each field and its string values
        # present: no more quotes than those means no other key at all, one scan (16 counts cost 5 µs).
        lines = len(order.lines)
        if raw.count(b'"') == _ORDER_QUOTES + _LINE_QUOTES * lines:
            return
        # Else each key shows literally, so a count of one (of each line key, one a line) proves no key
        # repeats. A value equal to a key's name takes the slow way.
        if (all(raw.count(key) == 1 for key in _QUOTED_ORDER_KEYS)
                and all(raw.count(key) == lines for key in _QUOTED_LINE_KEYS)):
            return
    try:
        document = json.loads(raw, object_pairs_hook=_Pairs)
    except (ValueError, RecursionError):
        return  # not JSON Python reads (msgspec decides that): no duplicates to find
    if not isinstance(document, _Pairs):
        return
    repeated = _repeated(document, _ORDER_KEYS)
    lines_value = next((value for key, value in reversed(document) if key == "lines"), None)
    if repeated is None and isinstance(lines_value, list):
        for at, line in enumerate(lines_value):
            if isinstance(line, _Pairs) and (key := _repeated(line, _LINE_KEYS)) is not None:
                repeated = f"lines[{at}].{key}"
                break
    if repeated is not None:
        raise InvalidOrder("duplicate_key", f"the key {repeated!r} is given more than once")


def _repeated(pairs: _Pairs, names: tuple[str, ...]) -> str | None:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in names:
            if key in seen:
                return key
            seen.add(key)
    return None


def _reason(message: str) -> str:
    # msgspec's messages are precise ("Expected `int` >= 1 - at `$.total_minor`"); we only need their kind.
    if message.startswith("Object missing required field"):
        return "missing_field"
    if message.startswith("Expected `object`, got") and " - at " not in message:
        return "not_object"  # the whole message is not an object

    if message.startswith("Expected `") and ", got `" in message:
        return "wrong_type"
    return "bad_value"  # out of range, wrong length, no pattern match, unknown enum value
