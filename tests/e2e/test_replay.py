"""Replaying a backfilled day on the real broker: the same figures as the ground truth and the live view,
and one clear line when there is nothing to replay."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import App, Processes, settled, wait_until
from tests.support.truth import by_minute, money

pytestmark = pytest.mark.kafka

DAY = "2025-11-28"  # Black Friday 2025



def backfill(processes: Processes, truth: Path, orders: int = 20_000, day: str = DAY) -> dict[str, Any]:
    run = processes.run("-m", "loadgen", "backfill", "--day", day, "--orders", str(orders), "--seed", "6",
                        "--dup-rate", "0.05", "--late-rate", "0.1", "--late-max", "120", "--bad-rate", "0.03",
                        "--truth", str(truth))
    assert run.returncode == 0, run.stderr
    return dict(json.loads(truth.read_text()))


def replay(processes: Processes, *args: str) -> dict[str, Any]:
    run = processes.run("-m", "stream", "replay", *args)
    assert run.returncode == 0, run.stderr
    return dict(json.loads(run.stdout))


def test_a_replayed_day_equals_the_ground_truth_and_the_live_view_to_the_cent(
    stack: App, processes: Processes, tmp_path: Path
) -> None:
    truth = backfill(processes, tmp_path / "truth.json")
    counts, want = truth["counts"], truth["days"][DAY]
    assert counts["duplicates"] and counts["late"] and counts["malformed"]  # the faults did happen
    live = wait_until(lambda: (body := settled(stack, DAY)) and
                      body["totals"]["orders"] >= want["totals"]["orders"] and body, 60, message="live day")

    replayed = replay(processes, "--day", DAY, "--minutes")

    assert money(replayed["totals"]) == want["totals"]
    assert by_minute(replayed) == by_minute(want)
    assert replayed["totals"] == live["totals"]  # unique shoppers and AOV too: same sketches, folded alike
    assert by_minute(replayed) == by_minute(live)
    for breakdown in ("countries", "channels", "top_merchants", "top_products"):
        assert replayed[breakdown] == live[breakdown], breakdown
    # A one-day topic: the day's own dead letters and corrections are all the live view has.
    assert replayed["dead_letters"] == live["dead_letters"]
    assert replayed["dead_letters"] == counts["rejected"]
    assert replayed["late_events"] == live["late_events"] > 0
    assert replayed["records"] == counts["acknowledged"]


def test_a_day_without_orders_is_one_line_and_leaves_no_file(processes: Processes, tmp_path: Path) -> None:
    backfill(processes, tmp_path / "truth.json", orders=2_000)
    topic = processes.env["ORDERS_TOPIC"]
    for day in ("2025-11-20", "2025-11-29"):  # before the topic's data; after it
        for args in (["replay", "--day", day], ["export", "--day", day, "--out", str(tmp_path / "day.gz")]):
            result = processes.run("-m", "stream", *args)
            assert result.returncode == 1
            assert result.stderr.strip() == f"error: no orders for {day} in topic {topic}"
            assert result.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["truth.json"]  # no day.gz, no day.gz.partial
    missing = processes.run("-m", "stream", "replay", "--day", DAY, "--topic", "no-such-topic")
    assert (missing.returncode, missing.stderr.strip()) == (1, "error: no topic no-such-topic on the broker")
