"""The dedupe memory: an id counted when the watermark became S is a duplicate while S >= W - horizon."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from stream.core.dedupe import Dedupe, Piece, hash_id

MIN = 60_000


class Counting:
    """Drives the memory as a partition does: a watermark that follows the events counted."""

    def __init__(self, dedupe: Dedupe) -> None:
        self.dedupe = dedupe
        self.watermark = 0

    def duplicate(self, event_id: str, ts: int) -> bool:
        hashed = hash_id(event_id)
        first = self.dedupe.first_time(hashed, ts, self.dedupe.known([hashed])[0], self.watermark)
        if first:
            self.watermark = max(self.watermark, ts)
        self.dedupe.end_batch(self.watermark)
        return not first

    def seal(self) -> None:
        self.dedupe.seal(self.watermark)


def test_an_event_id_counts_once_within_the_horizon() -> None:
    count = Counting(Dedupe(horizon_ms=15 * MIN))
    assert not count.duplicate("a", 0)
    assert count.duplicate("a", 0)
    count.seal()  # sealed into a piece, still remembered
    assert not count.duplicate("b", 5 * MIN)
    assert count.duplicate("a", 0)


def test_an_id_is_remembered_exactly_one_horizon_of_watermark_past_its_own() -> None:
    count = Counting(Dedupe(horizon_ms=16 * MIN))
    assert not count.duplicate("old", 1_000)  # remembered at 1,000
    count.seal()
    assert not count.duplicate("new", 16 * MIN + 1_000)  # the watermark is exactly one horizon past it
    assert count.duplicate("old", 1_000)
    count.seal()
    assert not count.duplicate("newer", 16 * MIN + 1_001)  # one millisecond more: forgotten
    assert not count.duplicate("old", 1_000)  # counted again, and remembered anew
    assert count.duplicate("old", 1_000)


def test_a_late_event_is_remembered_from_the_watermark_it_arrived_at_not_its_own_time() -> None:
    count = Counting(Dedupe(horizon_ms=15 * MIN))
    assert not count.duplicate("now", 60 * MIN)
    assert not count.duplicate("late", 1 * MIN)  # an hour behind the watermark
    count.seal()
    assert count.duplicate("late", 1 * MIN)  # its copy right after is still a duplicate


def test_memory_is_capped() -> None:
    count = Counting(Dedupe(horizon_ms=10**12, seal_at=100, max_ids=500))
    for i in range(1000):
        count.duplicate(f"e{i}", i * 10**9)
    assert len(count.dedupe) <= 500
    assert count.duplicate("e999", 999 * 10**9)


def test_a_batch_is_looked_up_in_every_piece_at_once() -> None:
    dedupe = Dedupe(horizon_ms=10**12, seal_at=1000)
    count = Counting(dedupe)
    for i in range(5000):
        count.duplicate(f"id-{i}", i * 1000)
    asked = [hash_id(x) for x in ["id-3", "nope", "id-4999", "id-2500", "also-not"]]
    known = dedupe.known(asked)
    in_recent = [dedupe.recent.get(h) for h in asked]
    when = [k if r is None else max(k, r) for k, r in zip(known, in_recent, strict=True)]
    assert when[0] == 3_000 and when[2] == 4_999_000 and when[3] == 2_500_000
    assert when[1] < 0 and when[4] < 0


def test_pieces_round_trip_and_a_restored_memory_remembers_the_same_ids() -> None:
    count = Counting(Dedupe(horizon_ms=15 * MIN))
    for i in range(300):
        count.duplicate(f"e{i}", i * 1000)
    pieces, dropped = count.dedupe.take_changes(count.watermark)
    assert dropped == [] and sum(len(p.hashes) for p in pieces) == 300
    raw = {p.number: p.encode() for p in pieces}
    restored = Counting(Dedupe(horizon_ms=15 * MIN))
    restored.dedupe.restore([Piece.decode(n, r) for n, r in raw.items()], count.watermark)
    restored.watermark = count.watermark
    assert all(restored.duplicate(f"e{i}", 299_000) for i in range(300))
    assert not restored.duplicate("e300", 299_000)


def test_a_version_1_piece_remembers_its_ids_as_of_its_newest_time() -> None:
    hashes = np.sort(np.array([hash_id("a"), hash_id("b")], dtype=np.uint64))
    raw = b"SDD1" + (10 * MIN).to_bytes(8, "big", signed=True) + hashes.astype("<u8").tobytes()
    dedupe = Dedupe(horizon_ms=15 * MIN)
    dedupe.restore([Piece.decode(0, raw)], 10 * MIN)
    found_a, found_c = dedupe.known([hash_id("a"), hash_id("c")])
    assert found_a == 10 * MIN and found_c < 0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.integers(0, 40 * MIN)), max_size=300),
       st.sets(st.integers(0, 299)), st.integers(1, 50))
def test_the_answers_are_those_of_a_plain_dict_however_often_it_seals(
        events: list[tuple[int, int]], seals: set[int], seal_at: int) -> None:
    horizon = 10 * MIN
    count = Counting(Dedupe(horizon_ms=horizon, seal_at=seal_at))
    remembered: dict[str, int] = {}
    watermark = 0
    for i, (n, ts) in enumerate(events):
        event_id = f"e{n}"
        expected = event_id in remembered and remembered[event_id] >= watermark - horizon
        if not expected:
            watermark = max(watermark, ts)
            remembered[event_id] = watermark
        assert count.duplicate(event_id, ts) == expected
        if i in seals:
            count.seal()


def test_hashes_are_stable_across_processes() -> None:
    # xxh3-64 of the UTF-8 bytes: fixed values, whatever PYTHONHASHSEED says.
    assert hash_id("") == 0x2D06800538D394C2
    assert hash_id("order-1") == hash_id("order-1") != hash_id("order-2")
    assert np.uint64(hash_id("東京ギア")) == np.uint64(hash_id("東京ギア"))
