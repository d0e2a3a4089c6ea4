"""Issue 19, finding 2, on the real broker: a day is found from what the workers counted (the day index in
their checkpoints), never from record timestamps. A past day written by a plain producer that sets no
timestamps, or sets them for valid orders only (the others are stamped when produced, today), and a day
of today beside one junk record per partition stamped 2100: each is listed by /api/days, verified by the
audit and replayed equal to an independent truth, orders, cents and every minute. At d941d1d the past
days were not listed and their replay said "no orders", and the 2100 records hid every day."""

from __future__ import annotations

import calendar
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from stream.audit.murmur2 import partition_for
from tests.conftest import App, Processes, settled, wait_until
from tests.e2e.test_audit import audit, every_minute_final
from tests.e2e.test_end_to_end import a_quiet_day_hour
from tests.e2e.test_replay import DAY, replay
from tests.e2e.test_replay_page import close_the_day
from tests.support.orders import order_event
from tests.support.truth import by_minute, money, tally

pytestmark = pytest.mark.kafka

YEAR_2100 = 4_102_444_800_000
CURRENCIES = ("USD", "EUR", "JPY", "KWD", "GBP")
JUNK = (b'{"event_id": "cut short', b"\xff\xfe not utf-8", b'{"type": "order_placed"}', b"[]")


def day_of_orders(start_ms: int, orders: int, step_ms: int) -> list[tuple[bytes, dict[str, Any] | None]]:
    """`orders` valid orders from `start_ms`, `step_ms` apart, some late by up to two minutes, every 20th
    followed by its copy and every 30th by a record that is no order: (bytes, the event or None)."""
    out: list[tuple[bytes, dict[str, Any] | None]] = []
    for n in range(orders):
        late = 120_000 if n % 17 == 5 else 0
        event = order_event(
            event_id=f"ix-{start_ms}-{n}", order_id=f"ixo-{n}", occurred_at=start_ms + n * step_ms - late,
            merchant_id=f"m{n % 41:05d}", merchant_name=f"Shop {n % 41}", currency=CURRENCIES[n % 5],
            total_minor=100 + n * 7 % 9_973, customer_id=f"c{n % 700}",
            type="order_refunded" if n % 23 == 0 else "order_placed")
        raw = orjson.dumps(event)
        out += [(raw, event)] * (2 if n % 20 == 0 else 1)
        if n % 30 == 0:
            out.append((JUNK[n % len(JUNK)], None))
    return out


def produce(env: dict[str, str], records: list[tuple[bytes, dict[str, Any] | None]], stamp_valid: bool
            ) -> None:
    """As a plain confluent-kafka producer writes: keyed by merchant (the Java client's partitioner); the
    timestamp set to occurred_at for valid orders if `stamp_valid`, else left to the producer (now)."""
    producer = Producer({"bootstrap.servers": env["KAFKA_BOOTSTRAP"], "partitioner": "murmur2_random",
                         "linger.ms": 20, "enable.idempotence": True})
    for raw, event in records:
        key = None if event is None else event["merchant_id"].encode()
        if event is not None and stamp_valid:
            producer.produce(env["ORDERS_TOPIC"], raw, key, timestamp=event["occurred_at"])
        else:
            producer.produce(env["ORDERS_TOPIC"], raw, key)
        producer.poll(0)
    assert producer.flush(30) == 0


def orders_topic_made(env: dict[str, str]) -> None:
    """The worker creates the orders topic at start; wait for it, as a producer of another service would."""
    admin = AdminClient({"bootstrap.servers": env["KAFKA_BOOTSTRAP"]})
    wait_until(lambda: env["ORDERS_TOPIC"] in admin.list_topics(timeout=5).topics, 30, message="orders topic")


def shown_as(stack: App, day: str, want: dict[str, int], minutes: dict[int, list[int]]) -> dict[str, Any]:
    body = wait_until(lambda: (b := settled(stack, day)) and money(b["totals"]) == want and b, 90,
                      message=f"the page's {day} equal to the truth")
    assert by_minute(body) == minutes
    return dict(body)


def listed(stack: App) -> list[str]:
    return [d["day"] for d in stack.get("/api/days").json()["days"]]


@pytest.mark.parametrize("stamp_valid", [False, True], ids=["no-timestamps", "valid-orders-stamped"])
def test_a_past_day_from_a_plain_producer_is_listed_verified_and_replayed_equal_to_the_truth(
        stack: App, processes: Processes, tmp_path: Path, stamp_valid: bool) -> None:
    env = processes.env
    orders_topic_made(env)
    start = calendar.timegm(time.strptime(DAY, "%Y-%m-%d")) * 1000 + 60_000
    records = day_of_orders(start, 6_000, 14_000)  # 00:01 to 23:21, some late, copies, junk
    want, minutes = tally(event for _, event in records if event is not None)
    assert want["orders"] > 5_000 and len(records) > 6_200  # the test's own sanity: copies and junk sent
    produce(env, records, stamp_valid)
    shown_as(stack, DAY, want, minutes)
    close_the_day(env)
    wait_until(lambda: every_minute_final(stack), 60, message="the closing orders counted")

    assert DAY in wait_until(lambda: DAY in listed(stack) and listed(stack), 30, message="/api/days")
    code, line, report = audit(processes, tmp_path / "audit.json")
    assert code == 0 and line.startswith("verified: "), line
    assert report["day_closed"] is True and report["differences"] == []
    assert money(report["recount"]["totals"]) == want and by_minute(report["recount"]) == minutes
    replayed = replay(processes, "--day", DAY, "--minutes")
    assert money(replayed["totals"]) == want
    assert by_minute(replayed) == minutes


def test_one_record_per_partition_stamped_2100_hides_no_day(
        stack: App, processes: Processes, tmp_path: Path) -> None:
    env = processes.env
    orders_topic_made(env)
    partitions = int(env["ORDERS_PARTITIONS"])
    producer = Producer({"bootstrap.servers": env["KAFKA_BOOTSTRAP"]})
    for p in range(partitions):  # first in each partition: junk from the year 2100
        producer.produce(env["ORDERS_TOPIC"], b"junk from the future", partition=p, timestamp=YEAR_2100)
    assert producer.flush(20) == 0
    t0 = a_quiet_day_hour()
    day = time.strftime("%Y-%m-%d", time.gmtime(t0 / 1000))
    records = [(raw, event) for raw, event in day_of_orders(t0, 1_000, 150) if event is not None]
    assert len({partition_for(e["merchant_id"].encode(), partitions) for _, e in records if e}) == partitions
    want, minutes = tally(event for _, event in records if event is not None)
    produce(env, records, stamp_valid=True)
    shown_as(stack, day, want, minutes)

    assert day in wait_until(lambda: day in listed(stack) and listed(stack), 30, message="/api/days")
    run = processes.run("-m", "stream", "replay", "--day", day, "--minutes")
    assert run.returncode == 0, run.stderr
    replayed = orjson.loads(run.stdout)
    assert money(replayed["totals"]) == want
    assert by_minute(replayed) == minutes
    dead = processes.run("-m", "stream", "audit", "--day", day, "--json", str(tmp_path / "audit.json"))
    assert dead.returncode == 0 and dead.stdout.startswith("verified: "), dead.stdout + dead.stderr
