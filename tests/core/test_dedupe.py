from stream.core.dedupe import Dedupe

MIN = 60_000


def test_an_event_id_counts_once_within_the_horizon() -> None:
    dedupe = Dedupe(horizon_ms=15 * MIN)
    assert dedupe.first_time("a", 0, offset=0)
    assert not dedupe.first_time("a", 0, offset=1)


def test_ids_older_than_the_horizon_behind_the_watermark_are_forgotten() -> None:
    dedupe = Dedupe(horizon_ms=15 * MIN)
    dedupe.first_time("old", 0, offset=0)
    dedupe.first_time("new", 15 * MIN, offset=1)  # exactly at the horizon: still remembered
    assert "old" in dedupe._ids
    dedupe.first_time("newer", 15 * MIN + 1, offset=2)
    assert len(dedupe) == 2
    assert dedupe.oldest_offset == 1
    assert dedupe.first_time("old", 0, offset=3)  # beyond the horizon a repeat is new again


def test_memory_is_capped() -> None:
    dedupe = Dedupe(horizon_ms=10**12, max_ids=100)
    for i in range(1000):
        dedupe.first_time(f"e{i}", i, offset=i)
    assert len(dedupe) == 100
    assert dedupe.oldest_offset == 900


def test_replaying_the_same_input_rebuilds_the_same_memory() -> None:
    arrivals = [(f"e{i % 37}", (i * 7919) % (40 * MIN), i) for i in range(500)]
    first, second = Dedupe(15 * MIN), Dedupe(15 * MIN)
    for event_id, ts, offset in arrivals:
        first.first_time(event_id, ts, offset)
    for event_id, ts, offset in arrivals[first.oldest_offset or 0:]:
        second.first_time(event_id, ts, offset)
    assert first._ids == second._ids
