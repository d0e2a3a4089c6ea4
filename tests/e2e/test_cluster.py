"""The project on a 3-node cluster as production runs Kafka: SASL_SSL with SCRAM-SHA-512, a CA of the
test's own, replication factor 3 with min.insync.replicas 2, and a leader killed with SIGKILL mid-produce.

The figures (start, failover, ack gap, memory) go to test-artifacts/cluster-figures.json.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from broker import Cluster, free_port
from tests.conftest import ARTIFACTS, ROOT, App, Processes, settled, wait_until
from tests.support.checks import exact, offsets_reach_the_end
from tests.support.truth import by_minute, decode_valid, money, tally

pytestmark = [pytest.mark.kafka, pytest.mark.cluster]

FIGURES: dict[str, Any] = {}


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    cluster = Cluster(tmp_path_factory.mktemp("cluster"))
    started = time.monotonic()
    cluster.start()
    FIGURES["start_s"] = round(time.monotonic() - started, 1)
    yield cluster
    FIGURES["rss_mb"] = {node: size // 2**20 for node, size in cluster.rss_bytes().items()}
    stopping = time.monotonic()
    cluster.stop()
    FIGURES["stop_s"] = round(time.monotonic() - stopping, 1)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "cluster-figures.json").write_text(json.dumps(FIGURES, indent=2) + "\n")


def fresh_topic(cluster: Cluster, name: str, partitions: int) -> str:
    topic = f"{name}-{uuid.uuid4().hex[:8]}"
    admin = AdminClient(cluster.client_config())
    admin.create_topics([NewTopic(topic, partitions, 3)])[topic].result(30)
    # A created topic shows up in metadata a moment later.
    wait_until(lambda: all(cluster.leader_of(topic, p) > 0 for p in range(partitions)), 30,
               message=f"leaders for {topic}")
    return topic


def read_all(cluster: Cluster, topic: str, **settings: Any) -> list[bytes]:
    """Every value in the topic up to its current end (the last stable offset under read_committed)."""
    consumer = Consumer(cluster.client_config(**{"group.id": f"check-{uuid.uuid4().hex[:8]}",
                                                 "enable.auto.commit": False, "enable.partition.eof": True,
                                                 **settings}))
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    values: list[bytes] = []
    at_end: set[int] = set()
    deadline = time.monotonic() + 60
    while len(at_end) < len(partitions):
        assert time.monotonic() < deadline, f"could not read all of {topic}"
        for message in consumer.consume(1000, 0.5):
            error = message.error()
            if error is not None and error.code() == KafkaError._PARTITION_EOF:
                at_end.add(message.partition() or 0)
            elif error is not None:
                raise KafkaException(error)
            else:
                values.append(message.value() or b"")
    consumer.close()
    return values


def test_acked_records_are_replicated_to_three_nodes_and_read_back_over_sasl_ssl(cluster: Cluster) -> None:
    topic = fresh_topic(cluster, "basic", 3)
    admin = AdminClient(cluster.client_config())
    partitions = admin.list_topics(topic, timeout=10).topics[topic].partitions
    assert {p: sorted(m.replicas) for p, m in partitions.items()} == {p: [1, 2, 3] for p in range(3)}
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    assert admin.describe_configs([resource])[resource].result()["min.insync.replicas"].value == "2"

    results: list[KafkaError | None] = []
    producer = Producer(cluster.client_config(**{
        "acks": "all", "enable.idempotence": True, "linger.ms": 5,
        "on_delivery": lambda err, _msg: results.append(err)}))
    sent = [f"r{i}".encode() for i in range(3_000)]
    for value in sent:
        producer.produce(topic, value)
        producer.poll(0)
    assert producer.flush(30) == 0
    assert len(results) == len(sent) and set(results) == {None}
    assert sorted(read_all(cluster, topic)) == sorted(sent)


def test_a_wrong_password_or_an_unknown_ca_is_refused_and_named(cluster: Cluster, tmp_path: Path) -> None:
    # The project's own processes say why too (stream.kafka.ensure_topics); run one meanwhile.
    lines = tmp_path / "one.jsonl"
    lines.write_text('{"event_id": "x"}\n')
    env = {**os.environ, **cluster.env(), "KAFKA_SASL_PASSWORD": "not-the-password",
           "ORDERS_TOPIC": f"refused-{uuid.uuid4().hex[:8]}"}
    loadgen = subprocess.Popen([sys.executable, "-m", "loadgen", "send", str(lines)], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def refusals(**override: Any) -> set[tuple[str, str]]:
        errors: list[KafkaError] = []
        config = {**cluster.client_config(**override), "error_cb": errors.append, "log_level": 0}
        admin = AdminClient({k: v for k, v in config.items() if v is not None})
        with pytest.raises(KafkaException):
            admin.list_topics(timeout=3)
        admin.poll(0)  # serves error_cb: list_topics itself only says "Broker transport failure"
        return {(e.name(), e.str()) for e in errors}

    wrong = refusals(**{"sasl.password": "not-the-password"})
    assert any(name == "_AUTHENTICATION" and "Authentication failed during authentication due to invalid "
               "credentials with SASL mechanism SCRAM-SHA-512" in text for name, text in wrong), wrong
    unknown_ca = refusals(**{"ssl.ca.location": None})  # the system's CAs do not know the test's CA
    assert any(name == "_SSL" and "certificate verify failed" in text
               for name, text in unknown_ca), unknown_ca

    out, err = loadgen.communicate(timeout=60)
    assert loadgen.returncode == 1, out + err
    assert err.count("\n") == 1 and err.startswith("error: cannot reach Kafka")
    assert "invalid credentials with SASL mechanism SCRAM-SHA-512" in err


class SteadyProducer(threading.Thread):
    """Produces numbered records round-robin over the partitions and notes when each was acked."""

    def __init__(self, cluster: Cluster, topic: str, partitions: int, rate: float) -> None:
        super().__init__(daemon=True)
        self.topic, self.partitions, self.rate = topic, partitions, rate
        self.sent = 0
        self.acked: dict[int, list[float]] = {p: [] for p in range(partitions)}
        self.acked_values: list[bytes] = []
        self.errors: list[str] = []
        self.remaining = -1  # records still unacked after the final flush
        self.stopping = threading.Event()
        self.producer = Producer(cluster.client_config(**{
            "acks": "all", "enable.idempotence": True, "linger.ms": 5, "log_level": 0,
            "on_delivery": self._delivered}))

    def _delivered(self, error: KafkaError | None, message: Any) -> None:
        if error is not None:
            self.errors.append(error.str())
            return
        self.acked[message.partition()].append(time.monotonic())
        self.acked_values.append(message.value())

    def run(self) -> None:
        started = time.monotonic()
        while not self.stopping.is_set():
            due = int((time.monotonic() - started) * self.rate)
            while self.sent < due:
                partition = self.sent % self.partitions  # every partition gets a steady share
                self.producer.produce(self.topic, str(self.sent).encode(), partition=partition)
                self.sent += 1
            self.producer.poll(0.005)
        self.remaining = self.producer.flush(120)

    def longest_gap(self, partition: int) -> float:
        times = self.acked[partition]
        return max((b - a for a, b in itertools.pairwise(times)), default=0.0)


def test_kill_9_of_a_partition_leader_mid_produce_loses_and_duplicates_nothing(cluster: Cluster) -> None:
    topic = fresh_topic(cluster, "failover", 3)
    # Kill a leader that is not also the quorum's leader: that failover is the one whose timing is known.
    controller = cluster.active_controller()
    partition = next(p for p in range(3) if cluster.leader_of(topic, p) != controller)
    victim = cluster.leader_of(topic, partition)
    load = SteadyProducer(cluster, topic, 3, rate=1_000)
    load.start()
    wait_until(lambda: all(len(times) > 100 for times in load.acked.values()), 30, message="acks flowing")

    killed = time.monotonic()
    cluster.kill(victim)
    leader = wait_until(lambda: (n := _leader_or_none(cluster, topic, partition)) not in (None, -1, victim)
                        and n, 60, interval=0.1, message="a new leader")
    failover = time.monotonic() - killed
    wait_until(lambda: load.acked[partition] and load.acked[partition][-1] > killed, 60, message="acks again")
    time.sleep(2)  # the partition runs on two replicas (min.insync.replicas=2) for a while
    restarting = time.monotonic()
    cluster.restart(victim)
    restart = time.monotonic() - restarting
    wait_until(lambda: cluster.isr_of(topic, partition) == [1, 2, 3], 60, message="the ISR whole again")
    time.sleep(1)
    load.stopping.set()
    load.join(150)

    gap = load.longest_gap(partition)
    FIGURES["failover"] = {"killed_node": victim, "new_leader": leader, "controller": controller,
                           "new_leader_after_s": round(failover, 2), "longest_ack_gap_s": round(gap, 2),
                           "restart_s": round(restart, 1), "sent": load.sent, "acked": len(load.acked_values)}
    assert load.errors == [] and load.remaining == 0
    assert len(load.acked_values) == load.sent
    assert 1.0 < gap < 60  # the kill did stall this partition, and it recovered
    stored = Counter(read_all(cluster, topic))
    assert [value for value, n in stored.items() if n > 1] == []  # no duplicates
    assert set(stored) == {str(i).encode() for i in range(load.sent)}  # no loss, nothing else


def _leader_or_none(cluster: Cluster, topic: str, partition: int) -> int | None:
    try:
        return cluster.leader_of(topic, partition, timeout=2)
    except KafkaException:  # the metadata request went to the dead node
        return None


def test_a_second_transactional_producer_fences_the_first(cluster: Cluster) -> None:
    topic = fresh_topic(cluster, "txn", 1)
    txn_id = f"txn-{uuid.uuid4().hex[:8]}"
    first = Producer(cluster.client_config(**{"transactional.id": txn_id}))
    first.init_transactions(60)
    first.begin_transaction()
    for i in range(10):
        first.produce(topic, f"a{i}".encode())
    first.commit_transaction(30)
    first.begin_transaction()
    first.produce(topic, b"zombie")
    first.flush(10)

    second = Producer(cluster.client_config(**{"transactional.id": txn_id}))
    second.init_transactions(60)  # bumps the epoch and aborts the first one's open transaction
    with pytest.raises(KafkaException) as fenced:
        try:
            first.commit_transaction(30)
        except SystemError as exc:  # confluent-kafka may wrap the error like this (notes: #865)
            raise exc.__cause__ from None  # type: ignore[misc]
    error = fenced.value.args[0]
    assert error.name() == "_FENCED" and error.fatal()
    second.begin_transaction()
    for i in range(5):
        second.produce(topic, f"b{i}".encode())
    second.commit_transaction(30)

    committed = read_all(cluster, topic, **{"isolation.level": "read_committed"})
    assert committed == [f"a{i}".encode() for i in range(10)] + [f"b{i}".encode() for i in range(5)]
    assert b"zombie" in read_all(cluster, topic, **{"isolation.level": "read_uncommitted"})
    state = AdminClient(cluster.client_config()).list_topics("__transaction_state", timeout=10)
    assert {len(p.replicas) for p in state.topics["__transaction_state"].partitions.values()} == {3}


def test_worker_app_and_load_generator_count_every_order_over_sasl_ssl(
    cluster: Cluster, tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:8]
    env = {**os.environ, **cluster.env(), "ORDERS_TOPIC": f"orders-{run}",
           "AGGREGATES_TOPIC": f"orders-{run}.aggregates", "DLQ_TOPIC": f"orders-{run}.dlq",
           "ORDERS_PARTITIONS": "4", "STREAM_GROUP": f"salesdash-stream-{run}",
           "STREAM_SESSION_TIMEOUT_S": "6", "FAUST_DATADIR": str(tmp_path / "faust"), "PYTHONUNBUFFERED": "1"}
    processes = Processes(env, tmp_path)
    try:
        port = free_port()
        worker = processes.start("stream", "-m", "stream")
        processes.start("app", "-m", "app", "--port", str(port))
        app = App(port)
        wait_until(lambda: app.get("/healthz").status_code == 200, 90, message="app /healthz")
        wait_until(lambda: "counting partitions" in processes.log("stream"), 90, message="worker counting")
        assert worker.poll() is None

        truth_path = tmp_path / "truth.json"
        load = processes.run("-m", "loadgen", "run", "--rate", "200", "--duration", "20",
                             "--truth", str(truth_path), timeout=120)
        assert load.returncode == 0, load.stderr
        truth = json.loads(truth_path.read_text())
        assert truth["counts"]["acknowledged"] == truth["counts"]["sent"] == 4_000
        # What the log holds, tallied without stream/ code, must agree with the load generator's truth.
        logged = decode_valid(read_all(cluster, env["ORDERS_TOPIC"]))
        assert len(logged) == 4_000
        for day, want in truth["days"].items():
            assert tally(e for e in logged if time.strftime("%Y-%m-%d", time.gmtime(e["occurred_at"] / 1000))
                         == day)[0] == want["totals"]
            body = wait_until(lambda d=day, w=want: (b := settled(app, d)) and  # type: ignore[misc]
                              b["totals"]["orders"] >= w["totals"]["orders"] and b, 60,
                              message=f"{day} fully counted")
            assert money(body["totals"]) == want["totals"]
            assert by_minute(body) == by_minute(want)

        assert "Authenticated as salesdash via SCRAM-SHA-512" in processes.log("stream")  # faust's aiokafka
        topics = AdminClient(cluster.client_config()).list_topics(timeout=10).topics
        for name in (env["ORDERS_TOPIC"], env["AGGREGATES_TOPIC"], env["DLQ_TOPIC"], f"orders-{run}.owners"):
            assert {len(p.replicas) for p in topics[name].partitions.values()} == {3}, name
    except BaseException:
        for name, _ in processes.running:
            sys.stderr.write(f"\n----- {name} log -----\n{processes.log(name)[-4000:]}\n")
        raise
    finally:
        processes.stop_all()


@pytest.mark.timeout(480)
def test_a_broker_lost_mid_load_and_back_a_minute_later_changes_no_figure(
    cluster: Cluster, tmp_path: Path
) -> None:
    """kill -9 of one broker of three (a partition leader) under load, restarted a minute later: the worker
    and the app follow the new leaders without a restart, the load generator loses nothing, and every
    figure is exact."""
    run = uuid.uuid4().hex[:8]
    env = {**os.environ, **cluster.env(), "ORDERS_TOPIC": f"orders-{run}",
           "AGGREGATES_TOPIC": f"orders-{run}.aggregates", "DLQ_TOPIC": f"orders-{run}.dlq",
           "ORDERS_PARTITIONS": "4", "STREAM_GROUP": f"salesdash-stream-{run}",
           "STREAM_SESSION_TIMEOUT_S": "6", "STREAM_CHECKPOINT_MS": "100", "STREAM_SKETCH_EVERY_MS": "200",
           "FAUST_DATADIR": str(tmp_path / "faust"), "PYTHONUNBUFFERED": "1"}
    processes = Processes(env, tmp_path)
    try:
        port = free_port()
        worker = processes.start("stream", "-m", "stream")
        app_process = processes.start("app", "-m", "app", "--port", str(port))
        app = App(port)
        wait_until(lambda: app.get("/healthz").status_code == 200, 90, message="app /healthz")
        wait_until(lambda: "counting partitions [0, 1, 2, 3]" in processes.log("stream"), 90,
                   message="worker counting")
        truth = tmp_path / "truth.json"
        load = processes.start("loadgen", "-m", "loadgen", "run", "--rate", "300", "--duration", "110",
                               "--seed", "3", "--dup-rate", "0.01", "--truth", str(truth))
        time.sleep(20)
        controller = cluster.active_controller()
        leaders = {cluster.leader_of(env["ORDERS_TOPIC"], p) for p in range(4)}
        victim = min(leaders - {controller} or leaders)  # a leader of the input; the controller if it must
        cluster.kill(victim)
        health = app.get("/healthz").json()
        time.sleep(60)
        cluster.restart(victim)
        assert load.wait(180) == 0, processes.log("loadgen")
        checked = exact(app, truth, timeout=120)
        assert checked["counts"]["acknowledged"] == checked["counts"]["sent"]  # loadgen lost nothing
        offsets_reach_the_end(app, cluster.bootstrap, env["ORDERS_TOPIC"], cluster.client_config())
        assert worker.poll() is None and app_process.poll() is None  # followed the new leaders, no restart
        assert health["kafka"] is True  # two brokers of three are a working cluster
    except BaseException:
        for name, _ in processes.running:
            sys.stderr.write(f"\n----- {name} log -----\n{processes.log(name)[-4000:]}\n")
        raise
    finally:
        processes.stop_all()
