"""Injected faults: each malformed kind is rejected by the worker's validation with the reason the load
generator counts it under — the contract between loadgen's ground truth and the dashboard's dead letters."""

from __future__ import annotations

import pytest

from loadgen.catalog import Catalog
from loadgen.faults import DUPLICATE_WITHIN_MS, KINDS, Faults
from loadgen.model import Model
from stream.core.order import MAX_EVENT_BYTES, InvalidOrder, parse_order

NOON = 1_795_780_800_000  # 2026-11-27T12:00:00Z
NOW = NOON + 60_000

# Restated, not imported: a kind whose reason changes on either side must fail here.
REASONS = {
    "truncated_json": "invalid_json",
    "empty": "invalid_json",
    "not_utf8": "not_utf8",
    "json_array": "not_object",
    "missing_field": "missing_field",
    "amount_as_string": "wrong_type",
    "null_merchant": "wrong_type",
    "negative_amount": "bad_value",
    "unknown_channel": "bad_value",
    "absurd_amount": "absurd_amount",
    "unknown_currency": "unknown_currency",
    "far_future": "future_time",
    "seconds_not_ms": "too_old",
    "oversize": "oversize",
}


def test_every_kind_loadgen_can_inject_is_pinned_here() -> None:
    assert set(KINDS) == set(REASONS)


@pytest.mark.parametrize(("kind", "reason"), sorted(REASONS.items()))
def test_each_malformed_kind_is_rejected_with_its_reason(kind: str, reason: str) -> None:
    model, faults = Model(Catalog(1, 200), 1), Faults(1, bad_rate=1.0)
    for _ in range(30):  # some kinds pick what to break at random: try many
        sample, _ = model.sample(NOON)
        parse_order(sample, NOW, 300_000)  # what gets broken is a valid order
        with pytest.raises(InvalidOrder) as caught:
            parse_order(faults.malformed(kind, sample, NOW), NOW, 300_000)
        assert caught.value.reason == reason
        assert KINDS[kind] == reason  # and the ground truth counts it under that reason


def test_an_oversize_message_is_over_the_limit_by_its_size_alone() -> None:
    sample, _ = Model(Catalog(1, 200), 1).sample(NOON)
    assert len(Faults(1).malformed("oversize", sample, NOW)) > MAX_EVENT_BYTES


def test_fault_rates_are_what_was_asked() -> None:
    faults = Faults(5, dup_rate=0.1, late_rate=0.2, late_max_s=30, bad_rate=0.05)
    n = 20_000
    lateness = [faults.lateness() for _ in range(n)]
    duplicates = [faults.duplicate_after() for _ in range(n)]
    kinds = [faults.bad_kind() for _ in range(n)]
    late = [ms for ms in lateness if ms]
    assert 0.18 < len(late) / n < 0.22
    assert min(late) >= 1000 and max(late) <= 30_000
    assert 0.09 < sum(1 for d in duplicates if d) / n < 0.11
    assert max(duplicates) <= DUPLICATE_WITHIN_MS
    bad = [k for k in kinds if k]
    assert 0.045 < len(bad) / n < 0.055
    assert set(bad) == set(KINDS)  # every kind shows up


def test_no_faults_unless_asked() -> None:
    faults = Faults(5)
    assert not faults.enabled
    assert {faults.lateness() for _ in range(1000)} == {0}
    assert {faults.duplicate_after() for _ in range(1000)} == {0}
    assert {faults.bad_kind() for _ in range(1000)} == {None}
