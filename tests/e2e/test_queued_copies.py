"""Issue 18 on the real broker: a backlog the worker meets at start, read in large batches, with every other
order followed at once by its copy. The dedupe memory seals every 16,384 ids of a partition, many times
within one fetched batch; a copy right after a seal must still count once (at 8ea470f it counted twice)."""

from __future__ import annotations

import time

import orjson
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from broker import free_port
from tests.conftest import App, Processes, wait_until
from tests.e2e.test_end_to_end import a_quiet_day_hour
from tests.support.truth import by_minute, money, tally

pytestmark = pytest.mark.kafka

ORDERS = 300_000
CURRENCIES = ("USD", "EUR", "JPY", "KWD", "GBP")


def test_a_backlog_of_orders_each_other_one_followed_by_its_copy_counts_each_order_once(
        processes: Processes) -> None:
    env = processes.env
    bootstrap, topic = env["KAFKA_BOOTSTRAP"], env["ORDERS_TOPIC"]
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(topic, int(env["ORDERS_PARTITIONS"]), 1)]).values():
        future.result(30)
    t0 = a_quiet_day_hour()
    day = time.strftime("%Y-%m-%d", time.gmtime(t0 / 1000))
    # A plain producer, as any other service would write: the Java client's partitioner, keyed by merchant.
    producer = Producer({"bootstrap.servers": bootstrap, "partitioner": "murmur2_random", "linger.ms": 50,
                         "batch.size": 1_000_000, "compression.type": "lz4", "enable.idempotence": True,
                         "queue.buffering.max.messages": 1_000_000})
    events = []
    for n in range(ORDERS):
        event = {"event_id": f"q-{n}", "type": "order_placed", "order_id": f"o-{n}",
                 "occurred_at": t0 + n * 6, "merchant_id": f"m{n % 97:05d}", "merchant_name": "Backlog",
                 "country": "US", "channel": "online", "currency": CURRENCIES[n % 5],
                 "total_minor": 100 + n % 9_973, "customer_id": f"c{n % 5_000}", "lines": []}
        raw = orjson.dumps(event)
        copies = 2 if n % 2 == 0 else 1
        events += [event] * copies
        for _ in range(copies):
            producer.produce(topic, raw, key=event["merchant_id"].encode(), timestamp=event["occurred_at"])
            producer.poll(0)
    assert producer.flush(60) == 0
    want_totals, want_minutes = tally(events)
    assert want_totals["orders"] == ORDERS and len(events) == ORDERS * 3 // 2  # the test's own sanity

    port = free_port()
    processes.start("stream", "-m", "stream")
    processes.start("app", "-m", "app", "--port", str(port))
    app = App(port)
    wait_until(lambda: app.get("/healthz").status_code == 200, 120, message="app /healthz")

    def all_counted() -> dict | None:  # type: ignore[type-arg]
        body = app.get(f"/api/snapshot?day={day}").json()
        return body if body["totals"]["orders"] >= ORDERS and body["offsets"] and all(
            end is not None for end in body["offsets"].values()) else None

    body = wait_until(all_counted, 240, interval=1.0, message=f"{ORDERS:,} orders counted")
    wait_until(lambda: app.get("/healthz").json().get("consumer_lag") == 0, 60, message="lag 0")
    body = app.get(f"/api/snapshot?day={day}").json()
    assert money(body["totals"]) == want_totals
    assert by_minute(body) == want_minutes
