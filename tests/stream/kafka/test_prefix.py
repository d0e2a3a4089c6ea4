"""Passing over what the log holds: exactly each partition's first `count` records of the sequence, and a
log that is not a prefix of the sequence is found out."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stream.kafka.prefix import Held, NotAPrefix, Prefix

sequences = st.lists(st.tuples(st.integers(0, 3), st.binary(max_size=3)), max_size=40)


def written(sequence: list[tuple[int, bytes]], counts: dict[int, int]) -> dict[int, Held]:
    """What a log holding each partition's first counts[p] records of `sequence` holds."""
    held = {}
    for p, n in counts.items():
        mine = [value for q, value in sequence if q == p]
        if n:
            held[p] = Held(n, mine[n - 1])
    return held


@given(sequence=sequences, data=st.data())
def test_exactly_the_records_the_log_holds_are_passed_over(sequence: list[tuple[int, bytes]],
                                                            data: st.DataObject) -> None:
    sizes = {p: sum(q == p for q, _ in sequence) for p in range(4)}
    counts = {p: data.draw(st.integers(0, n)) for p, n in sizes.items()}
    prefix = Prefix(written(sequence, counts))
    sent = [(p, v) for p, v in sequence if not prefix.holds(p, v)]
    prefix.check_complete()
    for p in range(4):
        mine = [v for q, v in sequence if q == p]
        assert [v for q, v in sent if q == p] == mine[counts[p]:]
    assert prefix.passed == sum(counts.values())


def test_a_log_with_other_records_or_more_of_them_is_not_a_prefix() -> None:
    sequence = [(0, b"a"), (1, b"b"), (0, b"c")]
    other = Prefix({0: Held(2, b"x")})  # partition 0's second record is not the sequence's
    with pytest.raises(NotAPrefix):
        for p, v in sequence:
            other.holds(p, v)
    longer = Prefix({1: Held(2, b"b")})  # partition 1 holds two, the sequence has one
    for p, v in sequence:
        longer.holds(p, v)
    with pytest.raises(NotAPrefix):
        longer.check_complete()
