"""The project's own Kafka broker keeps any event time: past days to replay, clocks that run ahead."""

from __future__ import annotations

import time
import uuid

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewPartitions, NewTopic

from broker import Broker
from stream import config
from stream.kafka.admin import TopicError, ensure_topics, grow_topics

pytestmark = pytest.mark.kafka

YEAR_2019 = 1_546_300_800_000


def test_broker_keeps_records_stamped_far_in_the_past_and_the_future(kafka: Broker) -> None:
    topic = f"stamps-{uuid.uuid4().hex[:6]}"
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result()
    future = int(time.time() * 1000) + 7 * 86_400_000
    producer = Producer({"bootstrap.servers": kafka.bootstrap})
    errors: list[object] = []
    for stamp in (YEAR_2019, future):
        producer.produce(topic, b"x", timestamp=stamp, on_delivery=lambda err, _m: errors.append(err))
    producer.flush(10)
    assert errors == [None, None]

    consumer = Consumer({"bootstrap.servers": kafka.bootstrap, "group.id": topic})
    consumer.assign([TopicPartition(topic, 0, 0)])
    stamps = []
    while len(stamps) < 2:
        message = consumer.poll(10)
        assert message is not None and not message.error()
        stamps.append(message.timestamp()[1])
    consumer.close()
    assert stamps == [YEAR_2019, future]


def test_broker_retains_forever_and_creates_no_topic_by_itself(kafka: Broker) -> None:
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap})
    resource = ConfigResource(ConfigResource.Type.BROKER, "1")
    configs = admin.describe_configs([resource])[resource].result()
    assert configs["log.retention.ms"].value == "-1"
    assert configs["auto.create.topics.enable"].value == "false"


def test_topics_are_created_with_explicit_partition_counts(
    kafka: Broker, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = uuid.uuid4().hex[:6]
    monkeypatch.setenv("KAFKA_BOOTSTRAP", kafka.bootstrap)
    monkeypatch.setenv("ORDERS_TOPIC", f"orders-{run}")
    monkeypatch.setenv("AGGREGATES_TOPIC", f"aggregates-{run}")
    monkeypatch.setenv("DLQ_TOPIC", f"dlq-{run}")
    settings = config.load()
    ensure_topics(settings)
    ensure_topics(settings)  # a second process starting finds them and is content
    topics = AdminClient({"bootstrap.servers": kafka.bootstrap}).list_topics(timeout=10).topics
    names = (f"orders-{run}", f"aggregates-{run}", f"dlq-{run}")
    assert {len(topics[name].partitions) for name in names} == {8}

    monkeypatch.setenv("ORDERS_PARTITIONS", "3")
    with pytest.raises(TopicError, match="has 8 partitions but ORDERS_PARTITIONS is 3"):
        ensure_topics(config.load())


def test_a_grown_orders_topic_has_the_topics_that_follow_it_grown_and_keeps_its_homes(
    kafka: Broker, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = uuid.uuid4().hex[:6]
    monkeypatch.setenv("KAFKA_BOOTSTRAP", kafka.bootstrap)
    monkeypatch.setenv("ORDERS_TOPIC", f"orders-{run}")
    monkeypatch.setenv("AGGREGATES_TOPIC", f"aggregates-{run}")
    monkeypatch.setenv("DLQ_TOPIC", f"dlq-{run}")
    monkeypatch.setenv("ORDERS_PARTITIONS", "4")
    settings = config.load()
    ensure_topics(settings)
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap})
    admin.create_partitions([NewPartitions(f"orders-{run}", 6)])[f"orders-{run}"].result()
    # The broker acknowledges the growth before its metadata shows it; an operator's next step waits too.
    deadline = time.monotonic() + 30
    while len(admin.list_topics(timeout=10).topics[f"orders-{run}"].partitions) < 6:
        assert time.monotonic() < deadline, "the grown orders topic never showed 6 partitions"
        time.sleep(0.1)

    assert grow_topics(settings) == 6
    ensure_topics(settings)  # a worker starting after the growth is content too
    topics = admin.list_topics(timeout=10).topics
    counts = {name: len(topics[name].partitions) for name in topics if run in name}
    assert counts == {f"orders-{run}": 6, f"aggregates-{run}": 6, f"aggregates-{run}.snapshots": 6,
                      f"aggregates-{run}.state": 6, f"dlq-{run}": 6, f"orders-{run}.owners": 6,
                      f"orders-{run}.homes": 4}
    monkeypatch.setenv("ORDERS_PARTITIONS", "6")  # the grown count is not the homes count
    with pytest.raises(TopicError, match=r"\.homes has 4 partitions but ORDERS_PARTITIONS is 6"):
        ensure_topics(config.load())
