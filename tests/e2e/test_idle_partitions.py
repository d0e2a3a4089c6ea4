"""Issue 19, finding 5 on the real broker: a quiet partition does not hold finality for everyone. Of four
partitions two get a past day's orders, one only junk (on and on) and an order the worker reroutes, one
nothing at all; the day closes everywhere (the report is 200, the audit says verified and closed, the
app compacts it), every figure exact. Orders that come later for the closed day, in the partitions that
were idle, are too late there, also after the worker is killed and its successor recounts. At d941d1d
the day never closed: the junk partition's watermark stayed 0, the empty one published nothing (timed
out after 90 s waiting for the day to close)."""

from __future__ import annotations

import itertools
import os
import re
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from aiokafka.partitioner import murmur2
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from tests.conftest import App, Processes, dead_letters_on, start_stack, utc_day, wait_until
from tests.e2e.test_audit import audit
from tests.support.orders import NOON
from tests.support.truth import by_minute, money, tally

pytestmark = pytest.mark.kafka

DAY = "2026-11-27"
MIDNIGHT = NOON - 12 * 3_600_000
NEXT = MIDNIGHT + 86_400_000  # the next day: its first hours close DAY (an hour's lateness)
CURRENCIES = ("USD", "EUR", "JPY", "KWD", "GBP")


def home(merchant: str, partitions: int) -> int:
    """Kafka's default partitioner (aiokafka's murmur2, not the project's)."""
    return (murmur2(merchant.encode()) & 0x7FFFFFFF) % partitions


def merchants(partitions: int) -> dict[int, list[str]]:
    """Two merchants homed on each partition."""
    found: dict[int, list[str]] = {p: [] for p in range(partitions)}
    for merchant in (f"m{n:05d}" for n in itertools.count()):
        found[home(merchant, partitions)].append(merchant)
        if all(len(names) >= 2 for names in found.values()):
            return {p: names[:2] for p, names in found.items()}
    raise AssertionError("unreachable")


def event(n: int, at: int, merchant: str) -> dict[str, Any]:
    return {"event_id": f"idle-{n}", "type": "order_refunded" if n % 17 == 0 else "order_placed",
            "order_id": f"o-{n}", "occurred_at": at, "merchant_id": merchant, "merchant_name": "Quiet",
            "country": "US", "channel": "online", "currency": CURRENCIES[n % 5],
            "total_minor": 100 + n * 37 % 9_973, "customer_id": f"c{n % 50}", "lines": []}


def report_of(app: App) -> httpx.Response:
    return httpx.get(f"{app.url}/api/reports/{DAY}.html", timeout=60)


def test_a_partition_with_only_junk_and_one_with_nothing_follow_the_others_and_the_day_closes(
        processes: Processes, tmp_path: Path) -> None:
    env = processes.env
    env["STREAM_IDLE_S"] = "2"
    bootstrap, topic, partitions = env["KAFKA_BOOTSTRAP"], env["ORDERS_TOPIC"], int(env["ORDERS_PARTITIONS"])
    busy, junk, empty = (0, 1), 2, 3
    homes = merchants(partitions)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(topic, partitions, 1)]).values():
        future.result(30)
    producer = Producer({"bootstrap.servers": bootstrap, "partitioner": "murmur2_random",
                         "enable.idempotence": True})

    def send(value: bytes, at: int, key: str | None = None, partition: int | None = None) -> None:
        where = {} if partition is None else {"partition": partition}
        producer.produce(topic, value, key=None if key is None else key.encode(), timestamp=at, **where)

    # Every minute of the day, orders of the busy partitions' merchants, keyed by merchant; some copies.
    events: list[dict[str, Any]] = []
    sellers = [m for p in busy for m in homes[p]]
    for minute in range(24 * 60):
        for k in range(2):
            n = len(events)
            order = event(n, MIDNIGHT + minute * 60_000 + k * 20_000 + n % 997, sellers[n % len(sellers)])
            for _ in range(2 if n % 11 == 0 else 1):
                send(orjson.dumps(order), order["occurred_at"], key=order["merchant_id"])
                events.append(order)
    # The next day's first hours, in both busy partitions: their watermarks pass the day's close.
    for n, merchant in enumerate(homes[p][0] for p in busy):
        order = event(100_000 + n, NEXT + 2 * 3_600_000 + n, merchant)
        send(orjson.dumps(order), order["occurred_at"], key=merchant)
        events.append(order)
    # The junk partition: no valid order of its own, only junk and one order of a busy merchant, which
    # the worker copies to that merchant's partition (its next-day time: the copy lands after the close).
    for n, value in enumerate([b"not json", b"{}", b"[1, 2]", orjson.dumps({"event_id": "x"}), b"\xff"]):
        send(value, NOON + n, partition=junk)
    misplaced = event(200_000, NEXT + 3_600_000, homes[busy[0]][1])
    send(orjson.dumps(misplaced), misplaced["occurred_at"], partition=junk)
    events.append(misplaced)
    assert producer.flush(30) == 0

    app = start_stack(processes)

    # The independent truth: by day, each event_id once.
    days = {d: tally(e for e in events if utc_day(e["occurred_at"]) == d) for d in (DAY, utc_day(NEXT))}
    assert days[DAY][0]["orders"] > 2_000 and len(days[DAY][1]) == 24 * 60  # the test's own sanity

    def closed() -> dict[str, Any] | None:
        # junk goes on arriving in the junk partition (stamped now, so it counts in today's dead letters):
        # only orders keep a partition busy
        send(b"still junk", int(time.time() * 1000), partition=junk)
        producer.poll(0)
        found = app.get(f"/api/audits?day={DAY}").json()
        return found if found["closed"] else None

    wait_until(closed, 240, interval=0.5, message=f"{DAY} closed in every partition")
    assert report_of(app).status_code == 200
    for day, (totals, minutes) in days.items():
        body = app.get(f"/api/snapshot?day={day}").json()
        assert money(body["totals"]) == totals, day
        assert by_minute(body) == minutes, day
    shown = app.get(f"/api/snapshot?day={DAY}").json()
    assert shown["dead_letters"] == {"invalid_json": 1, "missing_field": 2, "not_object": 1, "not_utf8": 1}
    assert app.get(f"/api/snapshot?day={utc_day(NEXT)}").json()["rerouted"] == 1  # on its own stamp's day

    code, line, audited = audit(processes, tmp_path / "closed.json", day=DAY)
    assert code == 0 and line.startswith("verified: "), line
    assert audited["day_closed"] is True and audited["differences"] == [], line
    assert audited["recount"]["closed"] == {str(p): True for p in range(partitions)}
    assert money(audited["recount"]["totals"]) == days[DAY][0]
    assert by_minute(audited["recount"]) == days[DAY][1]

    # The worker dies (kill -9: no last snapshot); its successor recounts the follow steps after the
    # snapshots. Later orders for the closed day, in each partition that was idle: too late there.
    worker = next(p for name, p in reversed(processes.running) if name == "stream")
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()
    processes.start("stream", "-m", "stream")
    stamps = {DAY, utc_day(NEXT), utc_day()}  # a dead letter counts on its stamp's day while it is open
    before = dead_letters_on(app, stamps).get("too_late", 0)
    late = [event(300_000 + p, NOON + p, homes[p][0]) for p in (junk, empty)]
    for order in late:
        send(orjson.dumps(order), NEXT + 4 * 3_600_000, key=order["merchant_id"])
    assert producer.flush(30) == 0
    wait_until(lambda: dead_letters_on(app, stamps).get("too_late", 0) == before + 2, 90,
               message="the late orders dead-lettered too_late")
    recovered = re.search(rf"partition {junk} recovered .*from a snapshot, (\d+) ranges counted again",
                          processes.log("stream"))
    assert recovered is not None and int(recovered.group(1)) >= 1  # its follow step, counted again
    assert money(app.get(f"/api/snapshot?day={DAY}").json()["totals"]) == days[DAY][0]
    code, line, audited = audit(processes, tmp_path / "late.json", day=DAY)
    assert code == 0 and line.startswith("verified: ") and audited["day_closed"] is True, line
    assert money(audited["recount"]["totals"]) == days[DAY][0]
    # the audit reads what the day index covers, to where the day closed: the late orders are tallied on
    # their stamp's day (the day they are for has closed), so it need not read them; any it reads are too late
    refused = {e["event_id"] for e in audited["recount"]["too_late"]}
    assert refused <= {o["event_id"] for o in late}
