"""Duplicates, late and malformed events mixed into live traffic: the dashboard equals the ground truth."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import App, Processes, settled, wait_until
from tests.support.truth import by_minute, money

pytestmark = pytest.mark.kafka


def test_duplicates_late_and_malformed_events_leave_every_figure_exact(
    stack: App, processes: Processes, tmp_path: Path
) -> None:
    truth_path = tmp_path / "truth.json"
    run = processes.run("-m", "loadgen", "run", "--rate", "400", "--duration", "8", "--seed", "4",
                        "--dup-rate", "0.05", "--late-rate", "0.1", "--late-max", "90",
                        "--bad-rate", "0.03", "--truth", str(truth_path))
    assert run.returncode == 0, run.stderr
    truth = json.loads(truth_path.read_text())
    counts = truth["counts"]
    assert counts["duplicates"] > 0 and counts["late"] > 0 and counts["malformed"] > 0  # faults did happen

    for day, want in truth["days"].items():
        body = wait_until(lambda d=day, w=want: (b := settled(stack, d)) and  # type: ignore[misc]
                          b["totals"]["orders"] >= w["totals"]["orders"] and b, 60,
                          message=f"{day} fully counted")
        assert money(body["totals"]) == want["totals"]
        assert by_minute(body) == by_minute(want)
    assert body["dead_letters"] == counts["rejected"]
    assert body["late_events"] > 0  # late events corrected minutes already shown as final
