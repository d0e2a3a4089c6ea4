"""The benchmark's pure parts: percentiles, which update first included an order, memory trends, the top
of a profile, and the report."""

import json
import math
import time

import pytest

from bench.report import Figure, Note, markdown, write
from bench.stack import covers
from bench.stats import Summary, inclusion_latencies, percentile, profile_top, trend


def test_percentiles_are_nearest_rank() -> None:
    values = list(range(1, 101))  # 1..100
    assert percentile(values, 0.50) == 50
    assert percentile(values, 0.99) == 99
    assert percentile(values, 1.0) == 100
    assert percentile([7.0], 0.5) == 7.0
    assert math.isnan(percentile([], 0.5))
    s = Summary.of([5.0, 1.0, 3.0, 2.0, 4.0])
    assert (s.count, s.p50, s.p95, s.max) == (5, 3.0, 5.0, 5.0)


def test_an_order_is_included_by_the_first_update_past_its_offset_in_its_own_partition() -> None:
    created = {0: [(0, 1000.0), (1, 1010.0), (2, 1020.0)], 1: [(5, 1000.0)]}
    updates = [
        (1100.0, {0: 1}),  # offset 0 of partition 0
        (1200.0, {0: 1, 1: 5}),  # partition 1 up to (not including) offset 5: nothing new for it
        (1300.0, {0: 3, 1: 6}),
    ]
    latencies, missing = inclusion_latencies(created, updates)
    assert sorted(latencies) == [100.0, 280.0, 290.0, 300.0]
    assert missing == 0


def test_an_order_no_update_reached_is_counted_as_missing_not_as_fast() -> None:
    latencies, missing = inclusion_latencies({3: [(0, 0.0), (9, 0.0)]}, [(50.0, {3: 5})])
    assert (latencies, missing) == ([50.0], 1)


def test_covers_wants_every_partition_with_records() -> None:
    assert covers({"0": 10, "1": 4}, {0: 10, 1: 4, 2: 0})
    assert not covers({"0": 10}, {0: 10, 1: 4})
    assert not covers({"0": 9, "1": 4}, {0: 10, 1: 4})


def test_memory_that_levels_off_is_flat_and_memory_that_climbs_is_growing() -> None:
    warm_then_flat = [(t, 100.0 + min(t, 60) + (t // 2) % 2) for t in range(0, 300, 2)]  # 1 MiB jitter
    t = trend(warm_then_flat)
    assert (t.start, t.peak, t.end, t.word) == (100.0, 161.0, 161.0, "flat")
    leaking = [(t, 100.0 + t / 6) for t in range(0, 300, 2)]  # 10 MiB a minute
    t = trend(leaking)
    assert t.growing and t.slope_per_min == pytest.approx(10.0)


def test_the_profile_top_is_ranked_by_own_samples_with_the_share_under_each_frame() -> None:
    collapsed = "\n".join([
        "main (a.py:1);count (b.py:5);apply (c.py:9) 60",
        "main (a.py:1);count (b.py:5) 10",
        "main (a.py:1);loop (d.py:2);poll (e.py:3) 30",
    ])
    samples, top = profile_top(collapsed, rows=2)
    assert samples == 100
    assert top == [("apply (c.py:9)", 0.6, 0.6), ("poll (e.py:3)", 0.3, 0.3)]
    assert profile_top("") == (0, [])


def test_the_report_shows_each_figure_beside_its_limit_and_the_notes_below(tmp_path) -> None:
    figures = [Figure("freshness", "order -> viewer p50", 180.0, "ms", "at 1,000/s", 120.0,
                      "≤ 250 ms", True),
               Figure("memory", "worker RSS peak", 311.0, "MiB", goal="≤ 300 MiB", met=False)]
    facts = {"cpu": "test", "date": "2026-11-27 03:00 UTC"}
    notes = [Note("profile of the worker", "| self | total | function |")]
    text = markdown(figures, facts, "make bench QUICK=1", notes)
    assert "| freshness | order -> viewer p50 | 180 ms | at 1,000/s | 120 | 150% | ≤ 250 ms | yes |" in text
    assert "| memory | worker RSS peak | 311 MiB | – | – | – | ≤ 300 MiB | **no** |" in text
    assert text.index("## profile of the worker") > text.index("worker RSS peak")
    write(figures, facts, "make bench QUICK=1", notes, results=tmp_path)
    saved = json.loads((tmp_path / "latest.json").read_text())
    assert saved["figures"][0]["ratio"] == 1.5
    assert saved["notes"][0]["title"] == "profile of the worker"
    assert (tmp_path / "latest.md").read_text() == text


def test_topic_bytes_sum_the_segment_files_of_that_topic_s_partitions_only(tmp_path) -> None:
    from bench.disk import sizes, topic_bytes

    def segment(folder: str, name: str, size: int) -> None:
        (tmp_path / folder).mkdir(exist_ok=True)
        (tmp_path / folder / name).write_bytes(b"x" * size)

    segment("run.aggregates-0", "00000000000000000000.log", 300)
    segment("run.aggregates-0", "00000000000000000120.log", 50)  # a rolled segment counts too
    segment("run.aggregates-0", "00000000000000000000.index", 10_485_760)  # preallocated: not records
    segment("run.aggregates-7", "00000000000000000000.log", 7)
    segment("run.aggregates.snapshots-0", "00000000000000000000.log", 1000)  # another topic
    segment("run.aggregates-3.0a1b2c-delete", "00000000000000000000.log", 999)  # being deleted
    assert topic_bytes(tmp_path, "run.aggregates") == 357
    assert topic_bytes(tmp_path, "run.aggregates.snapshots") == 1000
    assert sizes(tmp_path, ["run.aggregates", "none"]) == {"run.aggregates": 357, "none": 0}


def test_growth_is_bytes_gained_and_a_weekend_is_the_rate_times_five_days_or_the_retention() -> None:
    from bench.growth import WEEKEND_S, grown, held, ratio

    assert grown({"a": 100, "b": 5}, {"a": 350, "b": 5, "c": 9}) == {"a": 250, "b": 0, "c": 9}
    assert ratio(25, 100) == 0.25
    assert WEEKEND_S == 432_000
    assert held(10.0, WEEKEND_S) == 4_320_000  # 10 B/s for 432,000 s
    assert held(10.0, WEEKEND_S, retention_s=259_200) == 2_592_000  # only the last three days are kept


def test_a_time_that_rises_more_than_its_noise_is_projected_on_the_line_else_taken_as_flat() -> None:
    from bench.growth import trend

    # Medians 1.0 s at 30 s of history and 1.27 s at 300 s: +0.001 s per second of history, spread 0.1 s.
    rising = trend(30, [1.0, 0.9, 1.0], 300, [1.27, 1.27, 1.3], 3_000)
    assert rising.grows and rising.per_s == pytest.approx(0.001) and rising.noise == pytest.approx(0.1)
    assert rising.projected == pytest.approx(1.27 + 0.001 * 2_700)
    # Up 0.2 s, but the samples themselves spread 0.5 s: no growth, the worst sample at 300 s stands.
    noisy = trend(30, [1.0, 1.5, 1.0], 300, [1.2, 1.1, 1.3], 432_000)
    assert not noisy.grows and noisy.projected == 1.3
    falling = trend(30, [2.0], 300, [1.5], 432_000)
    assert not falling.grows and falling.projected == 1.5


def test_worker_log_lines_say_when_it_joined_what_it_owns_and_when_it_counted_all_of_it() -> None:
    from bench.timeline import joined_ms, owned, parse_log, ready_ms, recoveries

    def ms(clock: str, millis: int) -> int:  # the log's local time, as the worker wrote it
        return int(time.mktime(time.strptime(f"2026-11-27 {clock}", "%Y-%m-%d %H:%M:%S"))) * 1000 + millis

    log = "\n".join([
        "[2026-11-27 04:00:00,100] [7] [INFO] [^Worker]: Starting...",
        "[2026-11-27 04:00:02,250] [7] [INFO] owning partitions [0, 1, 2, 3] (recovering [0, 1, 2, 3]) ",
        "[2026-11-27 04:00:02,900] [7] [INFO] partition 1 recovered in 0.65s: input applied below offset 9 "
        "(from a snapshot, 12 ranges counted again, 0 unreadable records skipped) ",
        "[2026-11-27 04:00:03,000] [7] [INFO] counting partitions [1] ",
        "[2026-11-27 04:00:03,400] [7] [INFO] counting partitions [0, 1, 2] ",
        "[2026-11-27 04:00:03,999] [7] [INFO] counting partitions [0, 1, 2, 3] ",
        "[2026-11-27 04:00:09,000] [7] [INFO] owning partitions [2, 3] (recovering [2, 3]) ",
        "[2026-11-27 04:00:09,500] [7] [INFO] counting partitions [2, 3] ",
    ])
    lines = parse_log(log)
    assert [line.kind for line in lines] == ["owning", "recovered", *["counting"] * 3, "owning", "counting"]
    assert [(r.partitions, r.seconds, r.ranges) for r in recoveries(lines)] == [({1}, 0.65, 12)]
    assert recoveries(lines, since_ms=ms("04:00:03", 0)) == []
    assert lines[0].ms == ms("04:00:02", 250) and lines[0].partitions == {0, 1, 2, 3}
    assert joined_ms(lines) == ms("04:00:02", 250)
    assert owned(lines) == {2, 3}
    assert ready_ms(lines, since_ms=ms("04:00:05", 0)) == ms("04:00:09", 500)  # the newest assignment
    assert ready_ms(lines[:5], since_ms=0) == ms("04:00:03", 999)  # when all four were counted
    assert ready_ms(lines[:4], since_ms=0) is None  # partition 3 not yet
    assert ready_ms(lines, since_ms=ms("04:00:10", 0)) is None  # no assignment since


def test_a_partition_stood_still_for_the_longest_gap_between_its_checkpoints_in_the_window() -> None:
    from bench.timeline import first_after, standstill

    written = [1_000, 1_250, 1_500, 4_700, 4_950, 9_000]
    assert standstill(written, since_ms=1_600, until_ms=4_700) == 3_200  # 1,500 -> 4,700
    assert standstill(written, since_ms=1_600, until_ms=4_950) == 3_200
    assert standstill(written, since_ms=4_800, until_ms=9_000) == 4_050
    assert standstill(written, since_ms=9_000, until_ms=9_500) is None  # none written in the window
    assert first_after(written, 1_500) == 4_700
    assert first_after(written, 9_000) is None


def test_a_moved_partition_stood_still_from_its_old_owners_last_checkpoint_to_the_new_owners_first() -> None:
    from bench.failover import Event, counting_again_s, still_s

    # Checkpoints every 250 ms; the worker is stopped at 10,100, the partition's last checkpoint from it is
    # at 10,300 (published on the way out); everything counts again at 12,000 and its new owner's first
    # checkpoint is at 12,150.
    written = [9_800, 10_050, 10_300, 12_150, 12_400]
    event = Event("graceful", "SIGTERM a", at_ms=10_100, moved=frozenset({3}), assigned_ms=11_000,
                  stable_ms=12_000)
    assert still_s(event, written) == pytest.approx(1.85)  # 10,300 -> 12,150
    joined = Event("single", "a restarted alone", at_ms=10_100, moved=frozenset({3}), assigned_ms=11_000,
                   stable_ms=12_000, joined_ms=11_000)
    assert counting_again_s(joined, written) == pytest.approx(1.15)  # 11,000 -> 12,150


def test_a_recovery_counts_again_at_most_one_snapshot_interval_of_checkpoint_ranges() -> None:
    from bench.growth import at_bound, per_partition_bound

    # 2,000/s on 8 partitions: 250/s each; a checkpoint every 0.25 s (100 records would take 0.4 s); a
    # snapshot every 80 s (20,000 records, sooner than 300 s): 320 ranges at most.
    assert per_partition_bound(2_000, 8, 250, 100, 300, 20_000) == 320
    # 40/s: 5/s a partition, a checkpoint every 0.25 s, a snapshot every 300 s (20,000 would take 4,000 s).
    assert per_partition_bound(40, 8, 250, 100, 300, 20_000) == 1_200
    # 80 ranges took 1.0 s and 280 took 3.0 s: 0.01 s a range, so 320 take 3.4 s.
    assert at_bound(80, 1.0, 280, 3.0, 320) == pytest.approx(3.4)
    assert at_bound(80, 1.0, 80, 1.5, 320) == 1.5
