"""Every kind of malformed input lands in the dead-letter topic with its reason; valid totals stay right."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Consumer, TopicPartition

from tests.conftest import App, Processes, dead_letters_on, settled, utc_day
from tests.e2e.test_end_to_end import a_quiet_day_hour
from tests.support.orders import order_event
from tests.support.truth import money, tally

pytestmark = pytest.mark.kafka


def malformed(t0: int) -> dict[str, bytes]:
    """One message per kind of bad input, by the reason the worker must give."""
    def event(**fields: Any) -> bytes:
        return orjson.dumps(order_event(**{"occurred_at": t0, **fields}))

    missing = order_event(occurred_at=t0)
    del missing["currency"]
    return {
        "invalid_json": b'{"event_id": "cut-off',
        "not_utf8": b'{"event_id": "\xff\xfe"}',
        "not_object": b'["an", "array"]',
        "missing_field": orjson.dumps(missing),
        "wrong_type": event(total_minor="12.50"),
        "bad_value": event(total_minor=-500),
        "unknown_currency": event(currency="XBT"),
        "absurd_amount": event(total_minor=10**13),
        "too_old": event(occurred_at=t0 // 1000),
        "future_time": event(occurred_at=int(time.time() * 1000) + 7 * 86_400_000),
        "oversize": event(merchant_name="x" * 200, lines=[
            {"sku": f"s{i}", "title": "y" * 250, "qty": 1, "price_minor": 1} for i in range(300)]),
    }


def test_every_malformed_kind_is_dead_lettered_with_its_reason(
    stack: App, processes: Processes, tmp_path: Path
) -> None:
    t0 = a_quiet_day_hour()
    day = time.strftime("%Y-%m-%d", time.gmtime(t0 / 1000))
    valid = [order_event(occurred_at=t0 + i * 1_000, total_minor=1_000 + i, merchant_id=f"m{i:05d}")
             for i in range(30)]
    bad = malformed(t0)
    lines = [orjson.dumps(e) for e in valid[:15]] + list(bad.values()) + [orjson.dumps(e) for e in valid[15:]]
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    days = {day, utc_day()}  # records with no usable time count on the day they arrive (t0 may be yesterday)
    sent = processes.run("-m", "loadgen", "send", str(path))
    assert sent.returncode == 0, sent.stderr
    days.add(utc_day())

    want_totals, _ = tally(valid)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        body = settled(stack, day)
        if body and sum(dead_letters_on(stack, days).values()) == len(bad):
            break
    assert body is not None
    assert money(body["totals"]) == want_totals
    assert dead_letters_on(stack, days) == dict.fromkeys(bad, 1)

    letters = read_dead_letters(processes.env, len(bad))
    assert {reason for reason, _, _ in letters} == set(bad)
    for reason, value, detail in letters:
        assert value == bad[reason], f"{reason}: the original bytes must be kept"
        assert detail, f"{reason}: a dead letter says what was wrong"


def read_dead_letters(env: dict[str, str], count: int) -> list[tuple[str, bytes, str]]:
    consumer = Consumer({"bootstrap.servers": env["KAFKA_BOOTSTRAP"], "group.id": f"dlq-{time.time_ns()}",
                         "auto.offset.reset": "earliest"})
    topic = env["DLQ_TOPIC"]
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    letters: list[tuple[str, bytes, str]] = []
    deadline = time.monotonic() + 30
    while len(letters) < count and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is None or message.error():
            continue
        headers = {k: v.decode() for k, v in message.headers() or []}
        assert headers["source"].startswith(env["ORDERS_TOPIC"] + "/")
        letters.append((headers["reason"], message.value(), headers["detail"]))
    consumer.close()
    return letters
