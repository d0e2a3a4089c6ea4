"""Hostile input, generated: valid events at their legal extremes and arbitrary mutations of them go through
parse -> count -> checkpoint -> fold; nothing raises, and the sums equal README's rules restated
independently (tests/support/rules.py). Seeded (derandomize): CI sees the same examples every run."""

from __future__ import annotations

import json
import string
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stream.core.checkpoint import Checkpoint
from stream.core.partition import PartitionState
from stream.core.record import Record
from stream.core.rules import Rules
from stream.core.salesview import SalesView
from tests.support import rules as contract
from tests.support.truth import USD_PER_UNIT

NOON = 1_795_780_800_000  # 2026-11-27T12:00:00Z
NOW = NOON + 3_600_000
RULES = Rules()
SETTINGS = settings(max_examples=150, derandomize=True, database=None, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

texts = st.one_of(
    st.text(min_size=1, max_size=12),
    st.text(alphabet="東京ギア🎁<>&\"'\\/ \u0000\u202e", min_size=1, max_size=8),
    st.text(alphabet=string.ascii_letters, min_size=256, max_size=256),  # the longest legal string
)
lines = st.fixed_dictionaries({
    "sku": texts, "title": texts,
    "qty": st.one_of(st.integers(1, 3), st.just(100_000)),
    "price_minor": st.one_of(st.integers(0, 5_000), st.sampled_from([0, 10**6, 10**8, 10**12])),
})
valid_events = st.fixed_dictionaries({
    "event_id": texts, "type": st.sampled_from(["order_placed", "order_refunded"]), "order_id": texts,
    "occurred_at": st.integers(NOON - 3_600_000, NOW + 300_000),
    "merchant_id": texts, "merchant_name": texts,
    "country": st.text(alphabet=string.ascii_uppercase, min_size=2, max_size=2),
    "channel": st.sampled_from(["online", "pos", "mobile", "social"]),
    "currency": st.sampled_from(sorted(USD_PER_UNIT)),
    "total_minor": st.one_of(st.integers(1, 100_000), st.sampled_from([1, 10**8, 10**9, 10**15])),
    "customer_id": texts,
    "lines": st.lists(lines, max_size=4),
})
json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers(-(2**70), 2**70) | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3), max_leaves=6)


@st.composite
def hostile_events(draw: st.DrawFn) -> Any:
    """A valid event, maybe with one field removed, replaced by any JSON value, or pushed past a bound."""
    event: dict[str, Any] = draw(valid_events)
    kind = draw(st.sampled_from(["valid", "drop", "replace", "extreme", "line", "whole"]))
    field = draw(st.sampled_from(sorted(event)))
    if kind == "drop":
        del event[field]
    elif kind == "replace":
        event[field] = draw(json_values)
    elif kind == "extreme":
        event[field] = draw(st.sampled_from([0, -1, 2**53, 2**63, 2**64, 10**15 + 1, "", "x" * 257, [], {}]))
    elif kind == "line" and event["lines"]:
        event["lines"][0][draw(st.sampled_from(["sku", "title", "qty", "price_minor"]))] = draw(json_values)
    elif kind == "whole":
        return draw(json_values)
    return event


def count(values: list[Any], splits: list[int], rules: Rules = RULES) -> tuple[SalesView, PartitionState]:
    raws = [json.dumps(v, ensure_ascii=False).encode() for v in values]  # any size of integer, as sent
    state = PartitionState(0, rules)
    view = SalesView(RULES)
    start = 0
    for size in [*splits, len(raws)]:
        stop = min(len(raws), start + max(1, size))
        state.apply_batch([Record(o, raws[o]) for o in range(start, stop)], NOW)
        record = state.checkpoint(NOW)
        if record is not None:
            assert view.apply(record.encode())  # encoding and folding never raise
        start = stop
        if start >= len(raws):
            break
    return view, state


@SETTINGS
@given(st.lists(hostile_events(), max_size=25), st.lists(st.integers(1, 7), max_size=6))
def test_no_event_can_raise_and_the_sums_are_the_contracts(values: list[Any], splits: list[int]) -> None:
    view, _ = count(values, splits)
    expected = contract.money([v for v in values if contract.counts(v, NOW)])
    day = view.snapshot("2026-11-27")["totals"]
    shown = {k: day[k] for k in expected}
    previous = view.snapshot("2026-11-26")["totals"]
    for key in expected:  # an event of the hour before midnight counts in its own day
        shown[key] += previous[key]
    assert shown == expected


@SETTINGS
@given(st.lists(valid_events, min_size=1, max_size=15), st.integers(0, 14))
def test_a_redelivered_event_counts_once(values: list[dict[str, Any]], again: int) -> None:
    values = [*values, values[again % len(values)]]
    # The events span two hours: a horizon that long keeps every first copy remembered (the horizon's own
    # edge is pinned in tests/core/test_dedupe.py).
    view, _ = count(values, [], Rules(dedupe_horizon_ms=3 * 3_600_000))
    kept = [v for v in values if contract.counts(v, NOW)]
    totals = view.snapshot("2026-11-27")["totals"]
    earlier = view.snapshot("2026-11-26")["totals"]
    assert totals["orders"] + earlier["orders"] == contract.money(kept)["orders"]


@SETTINGS
@given(st.binary(max_size=300), st.binary(max_size=8), st.integers(0, 200))
def test_any_bytes_are_a_dead_letter_or_an_order_never_an_error(noise: bytes, splice: bytes, at: int) -> None:
    valid = bytearray(orjson.dumps({"event_id": "e", "type": "order_placed", "order_id": "o",
                                    "occurred_at": NOON, "merchant_id": "m", "merchant_name": "n",
                                    "country": "US", "channel": "pos", "currency": "KWD",
                                    "total_minor": 1234, "customer_id": "c", "lines": []}))
    valid[at % len(valid):at % len(valid)] = splice
    state = PartitionState(0, RULES)
    applied = state.apply_batch([Record(0, noise), Record(1, bytes(valid))], NOW)
    assert {r.offset() for r, _ in applied.rejected} <= {0, 1}
    record = state.checkpoint(NOW)
    assert record is not None and Checkpoint.decode(record.encode()).end == 2
