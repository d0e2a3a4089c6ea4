"""Ground truth for integration tests, computed from the `orders` log itself, independently of stream/."""

from __future__ import annotations

import time
from collections.abc import Iterable
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import orjson
from confluent_kafka import Consumer, KafkaError, TopicPartition

# The README's rate table, restated so expected figures do not come from the code under test.
USD_PER_UNIT = {
    "USD": ("1", 2), "EUR": ("1.08", 2), "GBP": ("1.27", 2), "CAD": ("0.73", 2), "AUD": ("0.66", 2),
    "JPY": ("0.0067", 0), "KRW": ("0.00073", 0), "CHF": ("1.13", 2), "SEK": ("0.095", 2),
    "PLN": ("0.25", 2), "BRL": ("0.18", 2), "MXN": ("0.055", 2), "INR": ("0.012", 2), "KWD": ("3.25", 3),
}


def usd_cents(amount_minor: int, currency: str) -> int:
    rate, exponent = USD_PER_UNIT[currency]
    exact = Decimal(amount_minor) / Decimal(10) ** exponent * Decimal(rate) * 100
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def tally(events: Iterable[dict[str, Any]]) -> tuple[dict[str, int], dict[int, list[int]]]:
    """Day totals and per-minute [orders, gross, refunds] of valid events, each event_id once."""
    seen: set[str] = set()
    totals = {"orders": 0, "gross_cents": 0, "refunds_cents": 0}
    minutes: dict[int, list[int]] = {}
    for event in events:
        if event["event_id"] in seen:
            continue
        seen.add(event["event_id"])
        cents = usd_cents(event["total_minor"], event["currency"])
        minute = minutes.setdefault(event["occurred_at"] // 60_000 * 60_000, [0, 0, 0])
        if event["type"] == "order_refunded":
            totals["refunds_cents"] += cents
            minute[2] += cents
        else:
            totals["orders"] += 1
            totals["gross_cents"] += cents
            minute[0] += 1
            minute[1] += cents
    totals["net_cents"] = totals["gross_cents"] - totals["refunds_cents"]
    return totals, minutes


def read_topic(bootstrap: str, topic: str, timeout: float = 30) -> list[bytes]:
    """Every message value in the topic as it stands now (a transactional topic's too: its last offset
    may be a commit marker, which no message has, so the end is also seen at EOF)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"truth-{time.monotonic_ns()}",
                         "enable.auto.commit": False, "enable.partition.eof": True})
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    ends = {}
    for p in partitions:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
        if high > low:
            ends[p] = high
    consumer.assign([TopicPartition(topic, p, 0) for p in ends])
    values: list[bytes] = []
    deadline = time.monotonic() + timeout
    while ends and time.monotonic() < deadline:
        for message in consumer.consume(1000, 0.5):
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    ends.pop(message.partition(), None)
                continue
            values.append(message.value())
            if message.offset() + 1 >= ends.get(message.partition(), 0):
                ends.pop(message.partition(), None)
    consumer.close()
    assert not ends, f"could not read all of {topic}"
    return values


def by_minute(snapshot: dict[str, Any]) -> dict[int, list[int]]:
    return {m["start_ms"]: [m["orders"], m["gross_cents"], m["refunds_cents"]] for m in snapshot["minutes"]}


def decode_valid(values: list[bytes]) -> list[dict[str, Any]]:
    events = []
    for raw in values:
        try:
            event = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue
        if isinstance(event, dict) and event.get("currency") in USD_PER_UNIT:
            events.append(event)
    return events


def money(totals: dict[str, Any]) -> dict[str, int]:
    """The four figures the truth knows exactly (the dashboard adds AOV and unique shoppers)."""
    return {k: totals[k] for k in ("orders", "gross_cents", "refunds_cents", "net_cents")}
