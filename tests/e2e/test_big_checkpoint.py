"""Issue 19, finding 4: a backlog of many past days queued before the worker's first start makes one
checkpoint range of megabytes. The worker must not exit, no record it writes may exceed Kafka's default
message limit, and today's orders queued behind the backlog are counted exactly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.conftest import App, Processes, settled, start_stack, utc_day, wait_until
from tests.e2e.test_end_to_end import a_quiet_day_hour
from tests.support.orders import LONG_MERCHANT, order_event, past_days
from tests.support.truth import by_minute, money, read_topic, tally, usd_cents

pytestmark = pytest.mark.kafka

KAFKA_DEFAULT_LIMIT = 1_048_588  # the broker's default message.max.bytes


def today(count: int, t0: int) -> list[dict[str, Any]]:
    """`count` orders over the hour from t0 (every minute has some), from 20 merchants: the backlog's
    merchant among them, so its partition has today's orders queued behind the past days."""
    return [order_event(
        event_id=f"today-{i}", order_id=f"today-order-{i}", occurred_at=t0 + i * 3_600_000 // count,
        merchant_id=LONG_MERCHANT if i % 20 == 0 else f"m{i % 20:05d}", customer_id=f"c{i % 97}",
        country=["US", "DE", "JP", "BR"][i % 4], currency=["USD", "EUR", "JPY"][i % 3],
        total_minor=1_000 + i % 997,
        lines=[{"sku": f"p{i % 7}", "title": "Mug", "qty": 1, "price_minor": 1_000 + i % 997}])
        for i in range(count)]


def send(processes: Processes, path: Path, events: list[dict[str, Any]]) -> None:
    path.write_bytes(b"".join(orjson.dumps(event) + b"\n" for event in events))
    sent = processes.run("-m", "loadgen", "send", str(path))
    assert sent.returncode == 0, sent.stderr


def test_a_backlog_of_400_past_days_is_counted_in_records_under_the_limit(
    processes: Processes, tmp_path: Path
) -> None:
    past = past_days(400)
    assert all(2_700 <= len(orjson.dumps(event)) <= 2_850 for event in past)
    t0 = a_quiet_day_hour()
    now = today(2_000, t0)
    # Queued before the worker's first start, the past days first: today's orders close them, so the
    # other order would dead-letter them as too late.
    send(processes, tmp_path / "past.jsonl", past)
    send(processes, tmp_path / "today.jsonl", now)
    app: App = start_stack(processes)
    worker = dict(processes.running)["stream"]

    day = utc_day(t0)
    want, minutes = tally(now)
    assert want["orders"] == 2_000 and len(minutes) == 60

    def counted() -> dict[str, Any] | None:
        assert worker.poll() is None, f"the worker exited with {worker.returncode}"
        body = settled(app, day)
        return body if body and body["totals"]["orders"] >= want["orders"] else None

    body = wait_until(counted, 120, message=f"{day} fully counted")
    assert money(body["totals"]) == want
    assert by_minute(body) == minutes

    for i, event in enumerate(past):  # each past day: its one order, to the cent
        shown = app.get(f"/api/snapshot?day={utc_day(event['occurred_at'])}")
        cents = usd_cents(event["total_minor"], "USD")
        assert money(shown.json()["totals"]) == {"orders": 1, "gross_cents": cents, "refunds_cents": 0,
                                                 "net_cents": cents}, f"past day {i}"

    aggregates = processes.env["AGGREGATES_TOPIC"]
    for topic in (aggregates, f"{aggregates}.snapshots", f"{aggregates}.state"):
        sizes = [len(value or b"") for value in read_topic(processes.env["KAFKA_BOOTSTRAP"], topic)]
        assert sizes and max(sizes) < KAFKA_DEFAULT_LIMIT, f"{topic}: a record of {max(sizes)} bytes"
    assert worker.poll() is None, "the worker exited"
