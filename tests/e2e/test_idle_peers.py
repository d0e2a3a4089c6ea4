"""Issue 19, finding 5 with two workers: a worker that owns only quiet partitions follows the busy
partitions of the other worker, learnt from its checkpoints, so the day still closes for the readers.
Two workers share four partitions; orders come only for merchants homed in the partitions one of them
owns, a past day's and then the next day's first hours (past the day's hour of lateness). The day
closes in every partition (the report is 200, the audit says verified and closed everywhere), every
figure exact, while the assignment never changed. At e27431d the other worker's partitions had nothing
to follow and held the day open (timed out waiting for the day to close)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from tests.conftest import Processes, start_stack, utc_day, wait_until
from tests.e2e.test_audit import audit
from tests.e2e.test_failover import two_workers
from tests.e2e.test_idle_partitions import DAY, MIDNIGHT, NEXT, event, merchants, report_of
from tests.support.truth import by_minute, money, tally

pytestmark = pytest.mark.kafka


def owners(admin: AdminClient, group: str, topic: str) -> list[set[int]]:
    """The partitions of `topic` each member of the group is assigned, from the group's description."""
    described = admin.describe_consumer_groups([group], request_timeout=10)[group].result(timeout=15)
    return [{tp.partition for tp in member.assignment.topic_partitions if tp.topic == topic}
            for member in described.members]


def shared(admin: AdminClient, group: str, topic: str, partitions: int) -> list[set[int]] | None:
    """The two members' partitions once each owns some and together they own all; else None."""
    found = owners(admin, group, topic)
    whole = set().union(*found) == set(range(partitions))
    return found if len(found) == 2 and all(found) and whole else None


@pytest.mark.timeout(300)
def test_a_worker_owning_only_quiet_partitions_follows_the_other_workers_busy_ones_and_the_day_closes(
        processes: Processes, tmp_path: Path) -> None:
    env = processes.env
    env["STREAM_IDLE_S"] = "2"
    bootstrap, topic, partitions = env["KAFKA_BOOTSTRAP"], env["ORDERS_TOPIC"], int(env["ORDERS_PARTITIONS"])
    group, owners_topic = env["STREAM_GROUP"], f"{topic}.owners"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(topic, partitions, 1)]).values():
        future.result(30)
    app = start_stack(processes)
    two_workers(processes)
    assignment = wait_until(lambda: shared(admin, group, owners_topic, partitions), 60,
                            message="two workers sharing the partitions")
    busy, quiet = assignment
    homes = merchants(partitions)
    sellers = [m for p in sorted(busy) for m in homes[p]]
    events: list[dict[str, Any]] = []
    producer = Producer({"bootstrap.servers": bootstrap, "partitioner": "murmur2_random",
                         "enable.idempotence": True})

    def send(order: dict[str, Any]) -> None:
        producer.produce(topic, orjson.dumps(order), key=order["merchant_id"].encode(),
                         timestamp=order["occurred_at"])
        events.append(order)

    # Every minute of the day, an order of a merchant homed in the busy worker's partitions; some copies.
    for minute in range(24 * 60):
        n = len(events)
        order = event(n, MIDNIGHT + minute * 60_000 + n % 997, sellers[n % len(sellers)])
        for _ in range(2 if n % 11 == 0 else 1):
            send(order)
    assert producer.flush(30) == 0
    later = iter(range(100_000, 200_000))

    def closed() -> dict[str, Any] | None:
        # the next day's first hours go on arriving in each busy partition: their watermarks pass the
        # day's close and keep moving, so those partitions stay busy for the other worker to follow
        for p in sorted(busy):
            n = next(later)
            send(event(n, NEXT + 2 * 3_600_000 + n, homes[p][0]))
        producer.poll(0)
        found = app.get(f"/api/audits?day={DAY}").json()
        return found if found["closed"] else None

    wait_until(closed, 90, interval=0.5, message=f"{DAY} closed in every partition")
    assert producer.flush(30) == 0
    assert owners(admin, group, owners_topic) in ([busy, quiet], [quiet, busy])  # no rebalance meanwhile
    assert report_of(app).status_code == 200
    totals, minutes = tally(e for e in events if utc_day(e["occurred_at"]) == DAY)
    assert totals["orders"] > 1_000 and len(minutes) == 24 * 60  # the test's own sanity
    body = app.get(f"/api/snapshot?day={DAY}").json()
    assert money(body["totals"]) == totals
    assert by_minute(body) == minutes

    code, line, audited = audit(processes, tmp_path / "closed.json", day=DAY)
    assert code == 0 and line.startswith("verified: "), line
    assert audited["day_closed"] is True and audited["differences"] == [], line
    assert audited["recount"]["closed"] == {str(p): True for p in range(partitions)}
    assert money(audited["recount"]["totals"]) == totals
    assert by_minute(audited["recount"]) == minutes
