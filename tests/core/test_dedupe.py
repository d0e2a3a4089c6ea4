"""The dedupe memory: 64-bit hashes of event ids, remembered at least a horizon of event time."""

from __future__ import annotations

import numpy as np

from stream.core.dedupe import Dedupe, Piece, hash_id

MIN = 60_000


def seen(dedupe: Dedupe, event_id: str, ts: int) -> bool:
    """True if the event was already remembered (a duplicate), as counting asks it: pieces, then recent."""
    hashed = hash_id(event_id)
    return not dedupe.first_time(hashed, ts, dedupe.known([hashed])[0])


def test_an_event_id_counts_once_within_the_horizon() -> None:
    dedupe = Dedupe(horizon_ms=15 * MIN)
    assert not seen(dedupe, "a", 0)
    assert seen(dedupe, "a", 0)
    dedupe.seal()  # sealed into a piece, still remembered
    assert seen(dedupe, "a", 5 * MIN)


def test_ids_older_than_the_horizon_behind_the_watermark_are_forgotten() -> None:
    dedupe = Dedupe(horizon_ms=16 * MIN)
    assert not seen(dedupe, "old", 0)
    dedupe.seal()
    assert not seen(dedupe, "new", 16 * MIN)  # exactly at the horizon: "old" is still remembered
    dedupe.seal()
    assert seen(dedupe, "old", 0)
    # Forgotten in stretches of an eighth of the horizon: once the watermark is past its stretch's end.
    assert not seen(dedupe, "newer", 18 * MIN + 1)
    dedupe.seal()
    assert not seen(dedupe, "old", 0)  # beyond the horizon a repeat is new again


def test_memory_is_capped() -> None:
    dedupe = Dedupe(horizon_ms=10**12, seal_at=100, max_ids=500)
    for i in range(1000):
        seen(dedupe, f"e{i}", i * 10**9)
    assert len(dedupe) <= 500
    assert seen(dedupe, "e999", 999 * 10**9)


def test_a_batch_is_looked_up_in_every_piece_at_once() -> None:
    dedupe = Dedupe(horizon_ms=10**12, seal_at=1000)
    ids = [f"id-{i}" for i in range(5000)]
    for i, event_id in enumerate(ids):
        seen(dedupe, event_id, i * 1000)
    asked = [hash_id(x) for x in ["id-3", "nope", "id-4999", "id-2500", "also-not"]]
    known = dedupe.known(asked)
    in_recent = [h in dedupe.recent for h in asked]
    assert [a or b for a, b in zip(known, in_recent, strict=True)] == [True, False, True, True, False]


def test_pieces_round_trip_and_a_restored_memory_remembers_the_same_ids() -> None:
    dedupe = Dedupe(horizon_ms=15 * MIN)
    for i in range(300):
        seen(dedupe, f"e{i}", i * 1000)
    pieces, dropped = dedupe.take_changes()
    assert dropped == [] and sum(len(p.hashes) for p in pieces) == 300
    raw = {p.number: p.encode() for p in pieces}
    restored = Dedupe(horizon_ms=15 * MIN)
    restored.restore([Piece.decode(n, r) for n, r in raw.items()], dedupe.watermark)
    assert all(seen(restored, f"e{i}", 299_000) for i in range(300))
    assert not seen(restored, "e300", 299_000)


def test_hashes_are_stable_across_processes() -> None:
    # xxh3-64 of the UTF-8 bytes: fixed values, whatever PYTHONHASHSEED says.
    assert hash_id("") == 0x2D06800538D394C2
    assert hash_id("order-1") == hash_id("order-1") != hash_id("order-2")
    assert np.uint64(hash_id("東京ギア")) == np.uint64(hash_id("東京ギア"))
