"""Ground truth: what was acknowledged, each event once, per day and minute; failed deliveries leave it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from loadgen.truth import Truth
from tests.support.orders import order_event

MIDNIGHT = 1_764_288_000_000  # 2025-11-28T00:00:00Z, Black Friday 2025: past, as failures are judged now


def sent(truth: Truth, **fields: Any) -> bytes:
    """Tally one valid event as loadgen does when it sends it; its bytes, as a failure report would carry."""
    event = order_event(**fields)
    truth.add(event["occurred_at"], event["total_minor"], event["type"] == "order_refunded")  # USD: cents
    return orjson.dumps(event)


def test_events_count_in_the_minute_and_day_of_their_own_time() -> None:
    truth = Truth()
    sent(truth, occurred_at=MIDNIGHT - 1, total_minor=500)  # 23:59:59.999 on Thanksgiving
    sent(truth, occurred_at=MIDNIGHT, total_minor=1_000)
    sent(truth, occurred_at=MIDNIGHT + 59_999, total_minor=2_000)
    sent(truth, occurred_at=MIDNIGHT + 60_000, total_minor=300, type="order_refunded")
    days = truth.days()
    assert days["2025-11-27"]["totals"] == {"orders": 1, "gross_cents": 500, "refunds_cents": 0,
                                            "net_cents": 500}
    friday = days["2025-11-28"]
    assert friday["day"] == "2025-11-28"
    assert friday["totals"] == {"orders": 2, "gross_cents": 3_000, "refunds_cents": 300, "net_cents": 2_700}
    assert friday["minutes"] == [
        {"start_ms": MIDNIGHT, "orders": 2, "gross_cents": 3_000, "refunds_cents": 0},
        {"start_ms": MIDNIGHT + 60_000, "orders": 0, "gross_cents": 0, "refunds_cents": 300},
    ]


def test_a_failed_delivery_is_taken_out() -> None:
    truth = Truth()
    sent(truth, occurred_at=MIDNIGHT, total_minor=1_000)
    lost = sent(truth, occurred_at=MIDNIGHT + 61_000, total_minor=4_000)
    truth.failed(lost)
    assert truth.days()["2025-11-28"]["totals"]["gross_cents"] == 1_000
    assert [m["start_ms"] for m in truth.days()["2025-11-28"]["minutes"]] == [MIDNIGHT]  # no empty minute
    assert truth.events == 1


def test_a_duplicate_counts_once_and_keeps_the_event_if_the_other_copy_fails() -> None:
    truth = Truth()
    value = sent(truth, occurred_at=MIDNIGHT, total_minor=1_000)
    truth.add_copy(value)
    assert truth.days()["2025-11-28"]["totals"]["orders"] == 1
    truth.failed(value)  # one copy lost: the other is in the log
    assert truth.days()["2025-11-28"]["totals"]["orders"] == 1
    truth.failed(value)  # both lost
    assert truth.days() == {}
    truth.add_copy(value)  # a later copy brings it back
    assert truth.days()["2025-11-28"]["totals"]["orders"] == 1


def test_counts_say_what_was_acknowledged(tmp_path: Path) -> None:
    truth = Truth()
    late = sent(truth, occurred_at=MIDNIGHT, total_minor=1_000)
    truth.add_late(late)
    truth.add_copy(sent(truth, occurred_at=MIDNIGHT + 1, total_minor=2_000))
    truth.add_rejected("invalid_json")
    truth.add_rejected("invalid_json")
    truth.failed(b"{not json")
    truth.failed(late)
    path = tmp_path / "truth.json"
    truth.write(path, {"sent": 6, "acknowledged": 4, "failed": 2})
    written = orjson.loads(path.read_bytes())
    assert written["counts"] == {"sent": 6, "acknowledged": 4, "failed": 2, "events": 1, "orders": 1,
                                 "duplicates": 1, "late": 0, "malformed": 1, "rejected": {"invalid_json": 1}}
    assert written["days"]["2025-11-28"]["totals"]["gross_cents"] == 2_000
    assert not (tmp_path / "truth.json.partial").exists()
