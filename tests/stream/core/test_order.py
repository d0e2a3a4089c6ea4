import json
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from stream.core.order import MAX_EVENT_BYTES, InvalidOrder, parse_order
from tests.support.orders import DUPLICATE_KEYS, NOON, NOT_DUPLICATE_KEYS, order_event

NOW = NOON + 3_600_000
SKEW = 300_000  # STREAM_MAX_FUTURE_S's default


def parse(event: Any) -> Any:
    # The standard library writes integers of any size, as a hostile producer may.
    raw = event if isinstance(event, bytes) else json.dumps(event, ensure_ascii=False).encode()
    return parse_order(raw, NOW, SKEW)


def test_a_valid_order_is_parsed_with_its_usd_value() -> None:
    order = parse(order_event(currency="EUR", total_minor=1000, merchant_name='<img src=x onerror=alert(1)>'))
    assert order.usd_cents == 1080
    assert order.merchant_name == "<img src=x onerror=alert(1)>"
    assert order.lines[0].qty == 1
    assert not order.is_refund


def test_a_refund_is_recognised() -> None:
    assert parse(order_event(type="order_refunded")).is_refund


def _without(field: str) -> dict[str, Any]:
    event = order_event()
    del event[field]
    return event


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (_without("total_minor"), "missing_field"),
        (_without("event_id"), "missing_field"),
        (order_event(total_minor="25.00"), "wrong_type"),  # money as a string
        (order_event(total_minor=25.0), "wrong_type"),  # money as a float
        (order_event(total_minor=True), "wrong_type"),  # a bool is not a price
        (order_event(total_minor=0), "bad_value"),
        (order_event(total_minor=-100), "bad_value"),
        (order_event(total_minor=10**12), "absurd_amount"),  # $10bn in one order
        (order_event(currency="XYZ"), "unknown_currency"),
        (order_event(currency=840), "wrong_type"),
        (order_event(occurred_at=NOON // 1000), "too_old"),  # seconds sent for ms
        (order_event(occurred_at=NOW + 2 * 86_400_000), "future_time"),
        (order_event(occurred_at=NOW + SKEW + 1), "future_time"),  # one ms past the skew
        (order_event(occurred_at=NOW + 9 * 3_600_000), "future_time"),  # local time sent as UTC
        (order_event(occurred_at=2**53 + 1), "bad_value"),
        (order_event(total_minor=10**15 + 1), "bad_value"),
        (order_event(total_minor=2**64), "bad_value"),
        (order_event(lines=[{"sku": "a", "title": "b", "qty": 2**64, "price_minor": 1}]), "bad_value"),
        (order_event(lines=[{"sku": "a", "title": "b", "qty": 100_001, "price_minor": 1}]), "bad_value"),
        (order_event(lines=[{"sku": "a", "title": "b", "qty": 1, "price_minor": 10**12 + 1}]), "bad_value"),
        (order_event(lines=[{"sku": "a", "title": "b", "qty": 1, "price_minor": -1}]), "bad_value"),
        # $1,000,000.01 in one line, or in lines that add up past it, though the total is small.
        (order_event(lines=[{"sku": "a", "title": "b", "qty": 1, "price_minor": 100_000_001}]),
         "absurd_amount"),
        (order_event(lines=[{"sku": "a", "title": "b", "qty": 100_000, "price_minor": 1_001}]),
         "absurd_amount"),
        (order_event(lines=[{"sku": f"s{i}", "title": "b", "qty": 1, "price_minor": 250_001}
                            for i in range(400)]), "absurd_amount"),
        (order_event(currency="KRW", total_minor=10**12,
                     lines=[{"sku": "a", "title": "b", "qty": 100_000, "price_minor": 10**12}]),
         "absurd_amount"),
        (order_event(occurred_at=str(NOON)), "wrong_type"),
        (order_event(type="order_cancelled"), "bad_value"),
        (order_event(channel="fax"), "bad_value"),
        (order_event(country="usa"), "bad_value"),
        (order_event(country="us"), "bad_value"),  # two characters, but not upper-case letters
        (order_event(country="U1"), "bad_value"),
        (order_event(country="ÜS"), "bad_value"),
        (order_event(country=1), "wrong_type"),
        (order_event(event_id=""), "bad_value"),
        (order_event(merchant_id=17), "wrong_type"),
        (order_event(lines={}), "wrong_type"),
        (order_event(lines=[{"sku": "a", "title": "b", "qty": 0, "price_minor": 1}]), "bad_value"),
        (order_event(lines=[{"sku": "a", "title": "b", "qty": 1}]), "missing_field"),
        ([order_event()], "not_object"),
    ],
)
def test_invalid_events_are_rejected_with_a_reason(event: Any, reason: str) -> None:
    with pytest.raises(InvalidOrder) as caught:
        parse(event)
    assert caught.value.reason == reason
    assert caught.value.detail


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "invalid_json"),
        (b"\xff\xfe\x00garbage", "not_utf8"),
        (b'{"event_id": "\xc3\x28"}', "not_utf8"),
        (b"x" * (MAX_EVENT_BYTES + 1), "oversize"),
        (None, "invalid_json"),
        (b"", "invalid_json"),
    ],
)
def test_undecodable_messages_are_rejected_with_a_reason(raw: bytes | None, reason: str) -> None:
    with pytest.raises(InvalidOrder) as caught:
        parse_order(raw, NOW, SKEW)
    assert caught.value.reason == reason


def test_no_mutation_of_a_valid_event_escapes_as_anything_but_a_rejection() -> None:
    import random

    rng = random.Random(5)
    raw = bytearray(orjson.dumps(order_event(currency="JPY", total_minor=1200)))
    accepted = rejected = 0
    for _ in range(20_000):
        mutant = bytearray(raw)
        for _ in range(rng.randint(1, 4)):
            position = rng.randrange(len(mutant))
            choice = rng.random()
            if choice < 0.4:
                mutant[position] = rng.randrange(256)
            elif choice < 0.7:
                del mutant[position]
            else:
                mutant.insert(position, rng.choice(b'{}[]",:0123456789-e.\\ntfu\xc3\xff'))
        try:
            parse_order(bytes(mutant), NOW, SKEW)
            accepted += 1
        except InvalidOrder:
            rejected += 1
    assert rejected > 10_000 and accepted > 0  # both paths were exercised; nothing else was raised


def test_huge_numbers_are_rejected_not_raised() -> None:
    for field in ("occurred_at", "total_minor"):
        raw = orjson.dumps(order_event()).replace(
            b'"%s":' % field.encode(), b'"%s":1%s,"x":' % (field.encode(), b"0" * 40))
        with pytest.raises(InvalidOrder):
            parse_order(raw, NOW, SKEW)


def test_the_largest_legal_order_counts_exactly() -> None:
    # $1,000,000.00 in 500 lines of $2,000.00 each: every bound at its limit, and accepted.
    lines = [{"sku": f"s{i}", "title": "t", "qty": 1, "price_minor": 200_000} for i in range(500)]
    order = parse(order_event(total_minor=100_000_000, lines=lines, merchant_name="m" * 256))
    assert order.usd_cents == 100_000_000
    assert sum(line.usd_cents for line in order.lines) == 100_000_000


def test_lines_that_disagree_with_the_total_are_accepted_within_the_bounds() -> None:
    # Tax, shipping and discounts: the total is what the shopper paid, the lines are what the shop sold.
    order = parse(order_event(total_minor=1_000, lines=[{"sku": "a", "title": "b", "qty": 3,
                                                        "price_minor": 999}]))
    assert order.usd_cents == 1_000 and order.lines[0].usd_cents == 2_997


@pytest.mark.parametrize("raw", DUPLICATE_KEYS)
def test_a_field_of_the_contract_given_twice_is_a_duplicate_key(raw: bytes) -> None:
    with pytest.raises(InvalidOrder) as refused:
        parse(raw)
    assert refused.value.reason == "duplicate_key"


@pytest.mark.parametrize("raw", NOT_DUPLICATE_KEYS)
def test_a_repeated_field_outside_the_contract_or_a_value_named_like_a_key_is_valid(raw: bytes) -> None:
    assert parse(raw).total_minor == 2500


_ORDER_KEYS = list(order_event())
_LINE_KEYS = ["sku", "title", "qty", "price_minor"]
_SPACING = st.sampled_from([(",", ":"), (", ", ": "), (" ,", " :"), ("\n,", ":\t")])


def _render(value: Any, spacing: tuple[str, str]) -> str:
    """JSON of nested pair lists (objects, duplicates kept) and plain values, with the given separators."""
    comma, colon = spacing
    if isinstance(value, tuple):
        return "{" + comma.join(json.dumps(k) + colon + _render(v, spacing) for k, v in value) + "}"
    if isinstance(value, list):
        return "[" + comma.join(_render(v, spacing) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def _pairs(lines: int) -> list[tuple[str, Any]]:
    event = order_event(lines=[{"sku": f"s{i}", "title": f"t{i}", "qty": 1, "price_minor": 100}
                               for i in range(lines)], total_minor=100 * lines)
    return [(k, [tuple(line.items()) for line in v] if k == "lines" else v) for k, v in event.items()]


@given(lines=st.integers(1, 3), in_line=st.booleans(), key=st.data(), at=st.data(), spacing=_SPACING)
def test_any_contract_key_given_twice_anywhere_is_a_duplicate_key(
        lines: int, in_line: bool, key: st.DataObject, at: st.DataObject, spacing: tuple[str, str]) -> None:
    # The copy repeats the field's own value, so the schema alone accepts the document: only the
    # duplicate check can refuse it, whatever the spacing and wherever the copy stands.
    pairs = _pairs(lines)
    if in_line:
        index = at.draw(st.integers(0, lines - 1))
        line = list(pairs[-1][1][index])
        name = key.draw(st.sampled_from(_LINE_KEYS))
        line.insert(at.draw(st.integers(0, len(line))), (name, dict(line)[name]))
        pairs[-1][1][index] = tuple(line)
    else:
        name = key.draw(st.sampled_from(_ORDER_KEYS))
        pairs.insert(at.draw(st.integers(0, len(pairs))), (name, dict(pairs)[name]))
    raw = _render(tuple(pairs), spacing).encode()
    with pytest.raises(InvalidOrder) as refused:
        parse(raw)
    assert refused.value.reason == "duplicate_key"


@given(lines=st.integers(1, 3), spacing=_SPACING, extra=st.booleans())
def test_the_contract_keys_once_each_with_or_without_other_fields_are_valid(
        lines: int, spacing: tuple[str, str], extra: bool) -> None:
    pairs = _pairs(lines) + ([("note", "x"), ("note", 2)] if extra else [])
    assert parse(_render(tuple(pairs), spacing).encode()).total_minor == 100 * lines
