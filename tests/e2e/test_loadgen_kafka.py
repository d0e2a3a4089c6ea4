"""The load generator on the real broker: its ground truth equals what a consumer reads back from the
topic, faults land at the rates asked, and a backfilled day stays inside that day."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple

import orjson
import pytest
from aiokafka.partitioner import murmur2
from confluent_kafka import Consumer, KafkaError, TopicPartition

from stream.core.order import InvalidOrder, parse_order
from tests.conftest import Processes
from tests.support.truth import by_minute, decode_valid, read_topic, tally

pytestmark = pytest.mark.kafka

DAY_MS = 86_400_000


class Record(NamedTuple):
    partition: int
    key: bytes | None
    value: bytes
    timestamp: int


def records(bootstrap: str, topic: str) -> list[Record]:
    """Every record of the topic with where it sits and its timestamp, read to the end of each partition."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"check-{time.monotonic_ns()}",
                         "enable.auto.commit": False, "enable.partition.eof": True})
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    open_partitions, found = set(partitions), []
    deadline = time.monotonic() + 60
    while open_partitions and time.monotonic() < deadline:
        for message in consumer.consume(5000, 0.5):
            error = message.error()
            if error is not None and error.code() == KafkaError._PARTITION_EOF:
                open_partitions.discard(message.partition())
            elif error is None:
                found.append(Record(message.partition(), message.key(), message.value(),
                                    message.timestamp()[1]))
    consumer.close()
    assert not open_partitions, f"could not read {topic} to the end"
    return found


def split(values: Iterable[bytes]) -> tuple[list[bytes], Counter[str]]:
    """Valid messages, and the malformed ones counted by the worker's reason for rejecting them."""
    valid, rejected = [], Counter[str]()
    now = int(time.time() * 1000)
    for value in values:
        try:
            parse_order(value, now, 300_000)
            valid.append(value)
        except InvalidOrder as exc:
            rejected[exc.reason] += 1
    return valid, rejected


def lagging(events: list[dict[str, Any]], partition_of: list[int]) -> int:
    """Events whose occurred_at is over half a second behind what their partition already carried."""
    newest: dict[int, int] = {}
    seen: set[str] = set()
    late = 0
    for event, partition in zip(events, partition_of, strict=True):
        if event["event_id"] in seen:
            continue  # a duplicate is behind by nature; it is not a late event
        seen.add(event["event_id"])
        late += event["occurred_at"] < newest.get(partition, 0) - 500
        newest[partition] = max(newest.get(partition, 0), event["occurred_at"])
    return late


def assert_truth_is_the_topic(truth: dict[str, Any], events: list[dict[str, Any]]) -> None:
    days = sorted({time.strftime("%Y-%m-%d", time.gmtime(e["occurred_at"] / 1000)) for e in events})
    assert sorted(truth["days"]) == days
    for day in days:
        totals, minutes = tally(e for e in events
                                if time.strftime("%Y-%m-%d", time.gmtime(e["occurred_at"] / 1000)) == day)
        assert truth["days"][day]["totals"] == totals
        assert by_minute(truth["days"][day]) == minutes


def within(observed: int, n: int, rate: float) -> bool:
    """`observed` of `n` draws is within four standard deviations of `rate`."""
    return abs(observed - n * rate) <= 4 * (n * rate * (1 - rate)) ** 0.5 + 1


def test_a_live_run_with_faults_matches_its_ground_truth(processes: Processes, tmp_path: Path) -> None:
    path = tmp_path / "truth.json"
    result = processes.run("-m", "loadgen", "run", "--rate", "2000", "--duration", "3", "--seed", "11",
                           "--dup-rate", "0.05", "--late-rate", "0.1", "--late-max", "20",
                           "--bad-rate", "0.03", "--truth", str(path))
    assert result.returncode == 0, result.stderr
    truth = orjson.loads(path.read_bytes())
    env = processes.env
    log = records(env["KAFKA_BOOTSTRAP"], env["ORDERS_TOPIC"])
    valid, rejected = split(r.value for r in log)
    events = decode_valid(valid)
    unique = len({e["event_id"] for e in events})
    counts = truth["counts"]
    assert counts["sent"] == counts["acknowledged"] == len(log)
    assert counts["events"] == unique == 6000
    assert counts["duplicates"] == len(events) - unique
    assert counts["rejected"] == dict(rejected)
    assert_truth_is_the_topic(truth, events)
    assert within(counts["duplicates"], unique, 0.05)
    assert within(sum(rejected.values()), unique, 0.03)
    assert len(rejected) >= 8  # many kinds of malformed
    assert within(counts["late"], unique, 0.1)
    valid_values = set(valid)
    in_order = [r for r in log if r.value in valid_values]  # each partition's records in offset order
    assert lagging(decode_valid(r.value for r in in_order), [r.partition for r in in_order]) == counts["late"]
    assert f"acked {len(log)}" in result.stderr


def test_a_backfilled_day_stays_inside_the_day_and_matches_its_ground_truth(
    processes: Processes, tmp_path: Path
) -> None:
    day, start = "2025-11-28", 1_764_288_000_000  # Black Friday 2025
    path = tmp_path / "truth.json"
    result = processes.run("-m", "loadgen", "backfill", "--day", day, "--orders", "20000",
                           "--late-rate", "0.05", "--late-max", "600", "--dup-rate", "0.02",
                           "--bad-rate", "0.01", "--truth", str(path))
    assert result.returncode == 0, result.stderr
    env = processes.env
    log = records(env["KAFKA_BOOTSTRAP"], env["ORDERS_TOPIC"])
    assert all(start <= r.timestamp < start + DAY_MS for r in log)
    valid, _ = split(r.value for r in log)
    events = decode_valid(valid)
    assert all(start <= e["occurred_at"] < start + DAY_MS for e in events)
    valid_values = set(valid)
    assert all(r.timestamp == orjson.loads(r.value)["occurred_at"] for r in log if r.value in valid_values)
    truth = orjson.loads(path.read_bytes())
    assert list(truth["days"]) == [day]
    assert_truth_is_the_topic(truth, events)
    assert truth["counts"]["events"] == 20_000
    # The shape of Black Friday: the midnight rush beats the small hours.
    minutes = by_minute(truth["days"][day])
    first, dawn = (sum(minutes.get(start + (h * 60 + m) * 60_000, [0])[0] for m in range(10)) for h in (0, 4))
    assert first > 3 * dawn


def test_keys_land_on_the_partition_the_java_client_and_faust_choose(processes: Processes) -> None:
    result = processes.run("-m", "loadgen", "run", "--rate", "1000", "--duration", "1", "--merchants", "300")
    assert result.returncode == 0, result.stderr
    env = processes.env
    log = records(env["KAFKA_BOOTSTRAP"], env["ORDERS_TOPIC"])
    partitions = int(env["ORDERS_PARTITIONS"])
    assert len({r.key for r in log}) > 50
    for record in log:
        assert record.key is not None
        assert record.partition == (murmur2(record.key) & 0x7FFFFFFF) % partitions


def test_a_plain_run_sends_exactly_rate_times_duration(processes: Processes) -> None:
    result = processes.run("-m", "loadgen", "run", "--rate", "300", "--duration", "2")
    assert result.returncode == 0, result.stderr
    assert "acked 600 " in result.stderr
    values = read_topic(processes.env["KAFKA_BOOTSTRAP"], processes.env["ORDERS_TOPIC"])
    events = decode_valid(values)
    assert len(values) == len(events) == 600
    refunds = sum(e["type"] == "order_refunded" for e in events)
    assert 0 < refunds < 30  # about 2%


def test_a_backfill_behind_later_records_is_refused_and_sends_nothing(processes: Processes) -> None:
    first = processes.run("-m", "loadgen", "backfill", "--day", "2025-11-28", "--orders", "500")
    assert first.returncode == 0, first.stderr
    topic = processes.env["ORDERS_TOPIC"]
    sent = len(records(processes.env["KAFKA_BOOTSTRAP"], topic))
    # An earlier day, and the same day with another count (not the run the log holds a part of).
    for day, orders in (("2025-11-27", "500"), ("2025-11-28", "400")):
        again = processes.run("-m", "loadgen", "backfill", "--day", day, "--orders", orders)
        assert again.returncode == 1
        assert again.stderr.strip().splitlines()[-1].startswith(
            f"error: topic {topic} already has records stamped {day} or later")
    same = processes.run("-m", "loadgen", "backfill", "--day", "2025-11-28", "--orders", "500")
    assert same.returncode == 0, same.stderr  # the same backfill again: resumed, already complete
    assert "sent 0 " in same.stderr and "already_in_log 500" in same.stderr
    assert len(records(processes.env["KAFKA_BOOTSTRAP"], topic)) == sent
    later = processes.run("-m", "loadgen", "backfill", "--day", "2025-11-29", "--orders", "500")
    assert later.returncode == 0, later.stderr  # days oldest first are fine
