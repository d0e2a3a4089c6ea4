"""The benchmark's pure parts: percentiles, which update first included an order, memory trends, the top
of a profile, and the report."""

import json
import math

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
