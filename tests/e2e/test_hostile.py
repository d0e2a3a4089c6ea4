"""Hostile input on the real broker: what producers salesdash does not control may send. Each test is one
of the findings that took the dashboard down or falsified it, and must now leave it up and exact."""

from __future__ import annotations

import json
import os
import random
import signal
import time
import uuid
from typing import Any

import orjson
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from broker import free_port
from stream.core.eventtime import day_of
from stream.core.routing import partition_for
from tests.conftest import App, Processes, settled, wait_until
from tests.support import rules as contract
from tests.support.orders import order_event
from tests.support.web import metrics

pytestmark = pytest.mark.kafka


def now_ms() -> int:
    return int(time.time() * 1000)


def sale(i: int, **fields: Any) -> dict[str, Any]:
    """A valid order stamped a moment ago, merchant and amount varying with i."""
    return order_event(**{"event_id": f"h-{uuid.uuid4().hex}", "order_id": f"o-{i}",
                          "occurred_at": now_ms() - 50, "merchant_id": f"m{i % 7:05d}",
                          "total_minor": 1_000 + i,
                          "lines": [{"sku": f"s{i % 11}", "title": "t", "qty": 1, "price_minor": 1_000 + i}],
                          **fields})


def send(env: dict[str, str], values: list[bytes], key_of: Any = None, topic: str | None = None,
         partition: int | None = None) -> None:
    """Write values as a producer outside salesdash might: keyed by `key_of(value)`, or not at all."""
    producer = Producer({"bootstrap.servers": env["KAFKA_BOOTSTRAP"], "linger.ms": 5})
    refused: list[Any] = []
    for value in values:
        key = key_of(value) if key_of is not None else None
        kwargs = {} if partition is None else {"partition": partition}
        producer.produce(topic or env["ORDERS_TOPIC"], value, key,
                         on_delivery=lambda err, msg: err and refused.append(err), **kwargs)
    assert producer.flush(20) == 0 and not refused, refused


def dead_letters(env: dict[str, str]) -> list[tuple[str, bytes | None]]:
    """(reason, value) of every record in the dead-letter topic."""
    topic = env["DLQ_TOPIC"]
    consumer = Consumer({"bootstrap.servers": env["KAFKA_BOOTSTRAP"], "group.id": f"dlq-{uuid.uuid4().hex}",
                         "enable.partition.eof": True, "isolation.level": "read_committed"})
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    out, ended = [], set()
    deadline = time.monotonic() + 30
    while len(ended) < len(partitions) and time.monotonic() < deadline:
        for message in consumer.consume(500, 0.5):
            if message.error() is not None:
                ended.add(message.partition())
                continue
            reason = dict(message.headers() or []).get("reason", b"").decode()
            out.append((reason, message.value()))
    consumer.close()
    return out


def written(env: dict[str, str]) -> list[tuple[int, bytes]]:
    """(partition, value) of every order a producer wrote, not the worker's rerouted copies."""
    topic = env["ORDERS_TOPIC"]
    consumer = Consumer({"bootstrap.servers": env["KAFKA_BOOTSTRAP"], "group.id": f"w-{uuid.uuid4().hex}",
                         "enable.partition.eof": True, "isolation.level": "read_committed"})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        out: list[tuple[int, bytes]] = []
        ended: set[int] = set()
        deadline = time.monotonic() + 30
        while len(ended) < len(partitions) and time.monotonic() < deadline:
            for message in consumer.consume(1000, 0.5):
                if message.error() is not None:
                    ended.add(message.partition() or 0)
                elif not dict(message.headers() or []).get("rerouted_from"):
                    out.append((message.partition() or 0, message.value() or b""))
        assert len(ended) == len(partitions), "the orders log read to its end"
        return out
    finally:
        consumer.close()


def shows(app: App, events: list[dict[str, Any]]) -> dict[str, Any]:
    """Wait until the day shows exactly what README's rules say `events` add up to; returns the day."""
    want = contract.money([e for e in events if contract.counts(e, now_ms())])
    day = day_of(events[0]["occurred_at"])  # the events' day, not the app's today: a run may pass midnight
    seen: list[Any] = [None]

    def showing() -> dict[str, Any] | None:
        seen[0] = body = settled(app, day)
        return body if body and {k: body["totals"][k] for k in want} == want else None

    try:
        return wait_until(showing, 60, message=f"the day to show {want}")  # type: ignore[no-any-return]
    except AssertionError as failed:
        last = seen[0] or {}
        raise AssertionError(f"{failed}; shown {last.get('totals')}, dead letters "
                             f"{last.get('dead_letters')}") from None


def test_an_absurd_integer_is_a_dead_letter_and_the_worker_counts_on(
        stack: App, processes: Processes) -> None:
    # qty = 2^64 took the worker down while it encoded the checkpoint, and again after every restart.
    env = processes.env
    good = [sale(i) for i in range(20)]
    line = {"sku": "x", "title": "x", "price_minor": 1}
    hostile = [json.dumps(sale(100, lines=[{**line, "qty": 2**64}])).encode(),
               json.dumps(sale(101, lines=[{**line, "qty": 2**60}])).encode(),
               json.dumps(sale(102, total_minor=2**63)).encode(),
               json.dumps(sale(103, occurred_at=2**62)).encode()]
    send(env, [orjson.dumps(e) for e in good[:10]] + hostile + [orjson.dumps(e) for e in good[10:]],
         key_of=lambda v: b"m00001")
    body = shows(stack, good)
    worker = next(p for n, p in processes.running if n == "stream")
    assert worker.poll() is None
    assert body["dead_letters"] == {"bad_value": 4}
    assert all(p["qty"] < 10**6 for p in body["top_products"])  # no absurd top product


def test_one_shop_clock_nine_hours_ahead_is_refused_and_closes_nothing(
        stack: App, processes: Processes) -> None:
    # A shop on local time sent as UTC moved its partition's watermark past the day's end: every later
    # order of that partition became too_late. Now it is future_time and the partition counts on.
    env = processes.env
    merchant = "m-ahead"
    before = [sale(i, merchant_id=merchant) for i in range(5)]
    ahead = sale(99, merchant_id=merchant, occurred_at=now_ms() + 9 * 3_600_000)
    send(env, [orjson.dumps(e) for e in [*before, ahead]], key_of=lambda v: merchant.encode())
    time.sleep(1)
    after = [sale(200 + i, merchant_id=merchant) for i in range(10)]
    send(env, [orjson.dumps(e) for e in after], key_of=lambda v: merchant.encode())
    body = shows(stack, [*before, ahead, *after])
    assert body["dead_letters"] == {"future_time": 1} and body["totals"]["orders"] == 15
    assert body["seconds"], "the per-second chart kept its seconds"


def test_records_that_are_not_checkpoints_are_skipped_by_the_app_a_fresh_app_and_a_recovering_worker(
        stack: App, processes: Processes) -> None:
    env = processes.env
    first = [sale(i) for i in range(10)]
    send(env, [orjson.dumps(e) for e in first], key_of=lambda v: orjson.loads(v)["merchant_id"].encode())
    shows(stack, first)
    junk = [b"1", b"[]", b"not json", b'{"v": 3, "p": 0, "start": "zero"}', b"\xff"]
    for partition in range(int(env["ORDERS_PARTITIONS"])):
        send(env, junk, topic=env["AGGREGATES_TOPIC"], partition=partition)
        # The snapshots topic is compacted, so the broker takes only keyed records (none a state key).
        send(env, junk, key_of=lambda v: b"junk-%d" % junk.index(v),
             topic=f"{env['AGGREGATES_TOPIC']}.snapshots", partition=partition)
    second = [sale(100 + i) for i in range(10)]
    send(env, [orjson.dumps(e) for e in second], key_of=lambda v: orjson.loads(v)["merchant_id"].encode())
    shows(stack, first + second)
    # A recovering worker meets the junk in the chain and in the snapshots, and counts on.
    worker = next(p for n, p in processes.running if n == "stream")
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()
    processes.start("stream", "-m", "stream")
    third = [sale(200 + i) for i in range(10)]
    send(env, [orjson.dumps(e) for e in third], key_of=lambda v: orjson.loads(v)["merchant_id"].encode())
    body = shows(stack, first + second + third)
    # A fresh app reads all of it from the start and serves the same day.
    port = free_port()
    processes.start("app-2", "-m", "app", "--port", str(port))
    fresh = App(port)
    wait_until(lambda: fresh.get("/healthz").status_code == 200, 60, message="a fresh app serving")
    assert settled(fresh, body["day"])["totals"] == body["totals"]
    samples = metrics(fresh.get("/metrics").text)
    # It reads every snapshot record; the aggregates' junk may lie before the newest snapshot's start.
    assert samples["salesdash_unreadable_checkpoints_total"] >= len(junk) * int(env["ORDERS_PARTITIONS"])
    assert fresh.get("/healthz").json()["unreadable_checkpoints"] > 0


def test_a_producer_that_ignores_the_key_contract_is_counted_exactly(stack: App,
                                                                     processes: Processes) -> None:
    # No key, or keyed by order id: a merchant and an event's redelivered copies spread over partitions.
    env = processes.env
    rng = random.Random(14)
    events = [sale(i, merchant_id=f"m{rng.randrange(9):05d}") for i in range(300)]
    values = [orjson.dumps(e) for e in events]
    copies = [values[rng.randrange(len(values))] for _ in range(12)]  # redeliveries, anywhere
    send(env, values[:150] + copies[:6])  # no key at all
    send(env, values[150:] + copies[6:], key_of=lambda v: orjson.loads(v)["order_id"].encode())
    body = shows(stack, events)
    partitions = int(env["ORDERS_PARTITIONS"])
    # Each merchant's figures in one place, so the top ten is exact: recomputed here from the events.
    nets: dict[str, int] = {}
    for event in events:
        nets[event["merchant_id"]] = nets.get(event["merchant_id"], 0) + event["total_minor"]
    want = sorted(nets.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    assert [(m["merchant_id"], m["net_cents"]) for m in body["top_merchants"]] == want
    # Orders found outside their merchant's partition were copied there once: as many as the log says.
    misplaced = sum(1 for partition, value in written(env)
                    if partition_for(orjson.loads(value)["merchant_id"].encode(), partitions) != partition)
    assert body["rerouted"] == misplaced > 0
    assert metrics(stack.get("/metrics").text)["salesdash_rerouted_today"] == body["rerouted"]


def test_a_burst_of_wide_orders_never_wedges_a_partition(stack: App, processes: Processes) -> None:
    # Many distinct long SKUs for one merchant: a checkpoint carrying every touched product outgrew
    # Kafka's record limit. Checkpoints now carry the top ten; the snapshot rows are one record each.
    env = processes.env
    merchant = "m-wide"
    wide = [sale(i, merchant_id=merchant, total_minor=500 * 100, lines=[
        {"sku": f"{i:04d}-{j:03d}-" + "k" * 200, "title": "w" * 200, "qty": 1, "price_minor": 100}
        for j in range(120)]) for i in range(200)]
    send(env, [orjson.dumps(e) for e in wide], key_of=lambda v: merchant.encode())
    after = [sale(1000 + i, merchant_id=merchant) for i in range(5)]
    send(env, [orjson.dumps(e) for e in after], key_of=lambda v: merchant.encode())
    body = shows(stack, wide + after)
    assert body["totals"]["orders"] == 205 and len(body["top_products"]) == 10


def poison(t0: int) -> dict[str, list[bytes]]:
    """Bad records of every kind found so far, by the reason the worker must give."""
    def event(**fields: Any) -> bytes:
        fields = {"event_id": f"p-{uuid.uuid4().hex}", "occurred_at": t0, **fields}
        return json.dumps(order_event(**fields)).encode()

    line = {"sku": "a", "title": "b", "qty": 1, "price_minor": 1}
    return {
        "invalid_json": [b'{"event_id": "cut', b"", b"{" * 10_000],
        "not_utf8": [b'{"event_id": "\xc3\x28"}'],
        "not_object": [b"1", b"[]", b'"order"', b"null"],
        "wrong_type": [event(total_minor=12.5), event(total_minor=True), event(lines="many")],
        "bad_value": [event(lines=[{**line, "qty": 2**64}]), event(total_minor=10**16),
                      event(country="usa"), event(occurred_at=2**60), event(total_minor=-1)],
        "absurd_amount": [event(lines=[{**line, "qty": 100_000, "price_minor": 10**6}]),
                          event(currency="KRW", total_minor=10**13)],
        "unknown_currency": [event(currency="XBT")],
        "too_old": [event(occurred_at=t0 // 1000)],
        # The second a minute past the limit: the worker's clock has moved on by the time it reads it.
        "future_time": [event(occurred_at=t0 + 9 * 3_600_000), event(occurred_at=t0 + 360_000)],
        "missing_field": [b"{}"],
    }


def test_poison_of_every_kind_mixed_into_a_valid_stream(stack: App, processes: Processes) -> None:
    env = processes.env
    t0 = now_ms()
    valid = [sale(i) for i in range(200)]
    bad = poison(t0)
    stream = [orjson.dumps(e) for e in valid]
    rng = random.Random(13)
    for values in bad.values():
        for value in values:
            stream.insert(rng.randrange(len(stream)), value)
    send(env, stream, key_of=lambda v: b"m00001")
    body = shows(stack, valid)
    assert next(p for n, p in processes.running if n == "stream").poll() is None
    want = {reason: len(values) for reason, values in bad.items()}
    assert body["dead_letters"] == want
    letters = dead_letters(env)
    assert sorted((r, v or b"") for r, v in letters) == sorted((r, v) for r, vs in bad.items() for v in vs)
    port = free_port()
    processes.start("app-3", "-m", "app", "--port", str(port))
    fresh = App(port)
    wait_until(lambda: fresh.get("/healthz").status_code == 200, 60, message="a fresh app serving")
    assert settled(fresh, body["day"])["totals"] == body["totals"]
