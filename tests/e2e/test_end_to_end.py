"""The whole path on a real broker: loadgen → orders → worker → checkpoints → app → HTTP and websocket."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
import websockets
from confluent_kafka import Consumer, TopicPartition

from tests.conftest import App, Processes, dead_letters_on, settled, utc_day, wait_until
from tests.support.orders import order_event
from tests.support.truth import by_minute, money, tally

pytestmark = pytest.mark.kafka

def a_quiet_day_hour() -> int:
    """10:00 UTC today, or yesterday when it is still early: far from midnight, never in the future."""
    now = int(time.time() * 1000)
    today = now - now % 86_400_000
    return today + 10 * 3_600_000 if now - today > 11 * 3_600_000 else today - 14 * 3_600_000


def test_orders_sent_by_the_load_generator_reach_the_page_to_the_cent(
    stack: App, processes: Processes, tmp_path: Path
) -> None:
    t0 = a_quiet_day_hour()
    day = time.strftime("%Y-%m-%d", time.gmtime(t0 / 1000))
    eur = order_event(currency="EUR", total_minor=4_999, occurred_at=t0 + 5_000, merchant_id="m00002")
    events = [
        order_event(currency="USD", total_minor=12_345, occurred_at=t0 + 1_000),
        eur,
        order_event(currency="JPY", total_minor=15_800, occurred_at=t0 + 59_999, merchant_id="m00003",
                    country="JP"),
        order_event(currency="KWD", total_minor=12_345, occurred_at=t0 + 60_000, merchant_id="m00004",
                    country="KW"),
        order_event(currency="GBP", total_minor=50, occurred_at=t0 + 61_000, merchant_id="m00005"),
        {**eur, "event_id": "refund-of-eur", "type": "order_refunded", "total_minor": 1_999,
         "occurred_at": t0 + 125_000},
        eur,  # redelivered: the same event_id again
        *(order_event(total_minor=100 + i, occurred_at=t0 + 130_000 + i, merchant_id=f"m{i:05d}")
          for i in range(40)),
    ]
    malformed = [b'{"event_id": "broken"', b'{"event_id": "x", "total_minor": 500}']
    lines = [orjson.dumps(e) for e in events] + malformed
    path = tmp_path / "orders.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    want_totals, want_minutes = tally(events)
    assert want_totals["orders"] == 45 and want_totals["refunds_cents"] == 2_159  # the test's own sanity

    days = {day, utc_day()}  # the malformed lines have no time: they count on the day they arrive
    sent = processes.run("-m", "loadgen", "send", str(path))
    assert sent.returncode == 0, sent.stderr
    assert f"acked {len(lines)}" in sent.stderr
    days.add(utc_day())

    def snapshot() -> dict[str, Any] | None:
        body = stack.get(f"/api/snapshot?day={day}").json()
        return body if body["totals"]["orders"] >= want_totals["orders"] else None

    body = wait_until(snapshot, 60, message="all orders in /api/snapshot")
    time.sleep(1.0)  # anything counted twice would show up by now
    body = stack.get(f"/api/snapshot?day={day}").json()
    assert body["day"] == day
    assert money(body["totals"]) == want_totals
    assert by_minute(body) == want_minutes
    assert dead_letters_on(stack, days) == {"invalid_json": 1, "missing_field": 1}

    async def first_message() -> dict[str, Any]:
        async with websockets.connect(f"{stack.ws_url}?day={day}") as ws:
            return json.loads(await asyncio.wait_for(ws.recv(), 10))

    pushed = asyncio.run(first_message())
    assert pushed["type"] == "snapshot"
    assert money(pushed["totals"]) == want_totals

    reasons = read_dead_letters(processes.env, 2)
    assert sorted(reasons) == ["invalid_json", "missing_field"]


def read_dead_letters(env: dict[str, str], count: int) -> list[str]:
    consumer = Consumer({"bootstrap.servers": env["KAFKA_BOOTSTRAP"], "group.id": "dlq-check",
                         "auto.offset.reset": "earliest"})
    topic = env["DLQ_TOPIC"]
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    reasons: list[str] = []
    deadline = time.monotonic() + 20
    while len(reasons) < count and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is None or message.error():
            continue
        headers = dict(message.headers() or [])
        reasons.append(headers["reason"].decode())
        assert headers["source"].decode().startswith(env["ORDERS_TOPIC"] + "/")
    consumer.close()
    return reasons


def test_live_updates_reach_a_connected_viewer(stack: App, processes: Processes) -> None:
    """A viewer connected before any order arrives sees the load generator's orders as deltas."""
    today = time.strftime("%Y-%m-%d", time.gmtime())

    async def watch() -> tuple[list[dict[str, Any]], dict[str, Any]]:
        messages = []
        async with websockets.connect(f"{stack.ws_url}?day={today}") as ws:
            messages.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
            load = processes.start("loadgen", "-m", "loadgen", "run", "--rate", "100", "--duration", "3")
            deadline = time.monotonic() + 45
            while time.monotonic() < deadline:
                with contextlib.suppress(TimeoutError):
                    messages.append(json.loads(await asyncio.wait_for(ws.recv(), 2)))
                final = settled(stack, today) if load.poll() is not None else None
                if final is not None and final["totals"] == messages[-1]["totals"]:
                    return messages, final
        raise AssertionError(f"the viewer never caught up; last message: {messages[-1]}")

    messages, final = asyncio.run(watch())
    assert messages[0]["type"] == "snapshot" and messages[0]["totals"]["orders"] == 0
    assert any(m["type"] == "delta" for m in messages[1:])
    # 300 events at 100/s for 3 s, about 2% of them refunds (which are not orders)
    assert 280 <= final["totals"]["orders"] <= 300
