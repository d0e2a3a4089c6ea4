"""Helpers for the web tests: send orders straight to the test's topic, and read the websocket feed the
way the page does (a snapshot replaces, a delta patches)."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import orjson
from confluent_kafka import Producer

from tests.support.orders import order_event

_ids = itertools.count(1)


def orders_now(count: int, spread_ms: int = 1, **fields: Any) -> list[dict[str, Any]]:
    """`count` valid USD orders stamped now and `spread_ms` apart going back, from a few merchants,
    countries and channels."""
    now = int(time.time() * 1000)
    countries, channels = ["US", "DE", "JP", "BR"], ["online", "mobile", "pos"]
    events = []
    for i in range(count):
        n = next(_ids)
        events.append(order_event(**{
            "event_id": f"web-{n}-{now}", "order_id": f"web-order-{n}-{now}",
            "occurred_at": now - i * spread_ms, "merchant_id": f"m{n % 5:05d}",
            "merchant_name": f"Shop {n % 5}", "country": countries[n % 4], "channel": channels[n % 3],
            "total_minor": 1_000 + n % 97, "customer_id": f"c{n % 13}", **fields}))
    return events


def produce(env: dict[str, str], events: list[dict[str, Any]]) -> None:
    producer = Producer({"bootstrap.servers": env["KAFKA_BOOTSTRAP"], "partitioner": "murmur2_random",
                         "linger.ms": 5})
    for event in events:
        producer.produce(env["ORDERS_TOPIC"], orjson.dumps(event), event["merchant_id"].encode(),
                         timestamp=event["occurred_at"])
    assert producer.flush(20) == 0


class Fold:
    """The page's copy of the day, built from websocket messages."""

    def __init__(self) -> None:
        self.body: dict[str, Any] = {}
        self.minutes: dict[int, dict[str, Any]] = {}
        self.seconds: dict[int, dict[str, Any]] = {}

    def apply(self, message: dict[str, Any]) -> None:
        if message["type"] not in ("snapshot", "delta"):
            return  # a health or replay status message carries no figures
        if message["type"] == "snapshot":
            self.minutes.clear()
            self.seconds.clear()
        self.minutes.update((m["start_ms"], m) for m in message["minutes"])
        self.seconds.update((s["start_ms"], s) for s in message["seconds"])
        # `kafka` and `alerts` (on snapshots) are the app's health and alerts, epoch/seq the feed's
        # position, not the day's data: /api/snapshot does not have them.
        self.body = {k: v for k, v in message.items()
                     if k not in ("type", "sent_ms", "minutes", "seconds", "kafka", "alerts", "epoch", "seq")}

    def as_snapshot(self) -> dict[str, Any]:
        return {**self.body, "minutes": [self.minutes[k] for k in sorted(self.minutes)],
                "seconds": [self.seconds[k] for k in sorted(self.seconds)]}


async def next_message(ws: Any, timeout: float = 10) -> dict[str, Any]:
    return orjson.loads(await asyncio.wait_for(ws.recv(), timeout))


def comparable(snapshot: dict[str, Any]) -> dict[str, Any]:
    """A snapshot without the fields that move with the clock rather than with the data."""
    return {k: v for k, v in snapshot.items() if k not in ("as_of_ms", "ingest_rate", "final_before_ms")
            } | {"minutes": [{k: v for k, v in m.items() if k != "final"} for m in snapshot["minutes"]]}


def metrics(text: str) -> dict[str, float]:
    """Prometheus text exposition -> {name: value} (unlabelled samples only)."""
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples
