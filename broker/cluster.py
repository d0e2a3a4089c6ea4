"""A 3-node KRaft Apache Kafka cluster on 127.0.0.1 whose client listener is SASL_SSL (SCRAM-SHA-512).

Production Kafka is replicated and authenticated; this is the nearest thing one machine can run, so the
project's clients can be tested against RF 3 with min.insync.replicas 2, TLS hostname verification, a SCRAM
login, and a broker dying under them. Every node is a combined broker+controller of one static quorum.
Brokers talk to each other and to the controllers in PLAINTEXT, on 127.0.0.1 only.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from broker import tls
from broker.kafka import _NEVER, LIB, BrokerError, _cluster_id, _port_open, fetch_jars, free_port
from stream.config import KafkaConnection

USER = "salesdash"
NODES = 3

# Retention and timestamp limits as in broker.kafka (records carry the order's own time); the rest make
# a test cluster replicate like production and react within seconds.
_SETTINGS = {
    "process.roles": "broker,controller",
    "controller.listener.names": "CONTROLLER",
    "inter.broker.listener.name": "BROKER",
    "listener.security.protocol.map": "BROKER:PLAINTEXT,CLIENT:SASL_SSL,CONTROLLER:PLAINTEXT",
    "sasl.enabled.mechanisms": "SCRAM-SHA-512",
    "listener.name.client.sasl.enabled.mechanisms": "SCRAM-SHA-512",
    "listener.name.client.scram-sha-512.sasl.jaas.config":
        "org.apache.kafka.common.security.scram.ScramLoginModule required;",
    "default.replication.factor": "3",
    "min.insync.replicas": "2",
    "offsets.topic.replication.factor": "3",
    "offsets.topic.num.partitions": "8",  # 50 partitions x RF 3 make the first consumer group wait
    "transaction.state.log.replication.factor": "3",
    "transaction.state.log.min.isr": "2",
    "transaction.state.log.num.partitions": "8",  # the same, for the first init_transactions()
    "share.coordinator.state.topic.replication.factor": "3",
    "share.coordinator.state.topic.min.isr": "2",
    "auto.create.topics.enable": "false",
    "num.partitions": "1",
    "log.retention.ms": "-1",
    "log.retention.bytes": "-1",
    "log.message.timestamp.before.max.ms": _NEVER,
    "log.message.timestamp.after.max.ms": _NEVER,
    "group.initial.rebalance.delay.ms": "0",
    "group.min.session.timeout.ms": "6000",
    "group.consumer.min.session.timeout.ms": "6000",
    # A killed node loses its leaderships after ~3 s instead of 9 s.
    "broker.session.timeout.ms": "3000",
    "broker.heartbeat.interval.ms": "500",
    # Compaction and retention act within seconds, so tests can watch them (defaults: 15 s, 30 s, 5 min).
    "log.cleaner.backoff.ms": "1000",
    "log.initial.task.delay.ms": "1000",
    "log.retention.check.interval.ms": "1000",
}
_JVM = ["-Xms256m", "-Xmx512m", "-XX:+UseSerialGC", "-Djava.awt.headless=true",
        "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
        "-Dorg.slf4j.simpleLogger.showDateTime=true",  # a failover is read from three logs side by side
        "-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS",
        "-Dorg.slf4j.simpleLogger.log.kafka.server.KafkaRaftServer=info"]


@dataclass
class Node:
    """One broker+controller JVM and the three ports it listens on."""

    id: int
    broker_port: int  # inter-broker, PLAINTEXT
    client_port: int  # SASL_SSL: the only listener clients are told about
    controller_port: int  # KRaft quorum, PLAINTEXT
    dir: Path
    process: subprocess.Popen[bytes] | None = None
    log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def log_path(self) -> Path:
        return self.dir / "broker.log"

    def signal(self, sig: signal.Signals) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, sig)

    def reap(self) -> None:
        if self.process is not None:
            self.process.wait()
        if self.log is not None:
            self.log.close()
            self.log = None


class Cluster:
    """Three KRaft nodes in `data_dir`. `with Cluster(path) as c:` makes the TLS material, formats, starts
    all nodes, waits until each answers over SASL_SSL, and stops them all at the end.

    The state (cluster id, ports, passwords) is kept in `data_dir/cluster.json`, so a data dir can be
    started again with its data and its SCRAM user, which only exists from format time.
    """

    def __init__(self, data_dir: Path, password: str | None = None) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        state = self._load_state(password)
        self.cluster_id: str = state["cluster_id"]
        self.username: str = state["username"]
        self.password: str = state["password"]
        self._store_password: str = state["store_password"]
        self.nodes = []
        for n in range(1, NODES + 1):
            broker_port, client_port, controller_port = state["ports"][str(n)]
            self.nodes.append(Node(n, broker_port, client_port, controller_port, self.data_dir / f"n{n}"))
        self._admin: Any = None

    # --- what clients need -------------------------------------------------------------------------

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{n.client_port}" for n in self.nodes)

    @property
    def ca_location(self) -> Path:
        return self.data_dir / "tls" / tls.CA

    def client_config(self, **extra: Any) -> dict[str, Any]:
        """librdkafka settings that log in to this cluster; `extra` is merged over them."""
        return {**self.connection().librdkafka(), **extra}

    def env(self) -> dict[str, str]:
        """The environment a salesdash process (stream, app, loadgen) needs to use this cluster."""
        return {**self.connection().environment(), "KAFKA_REPLICATION_FACTOR": "3"}

    def connection(self) -> KafkaConnection:
        """How a client logs in to this cluster (stream.config maps it to librdkafka, faust and the env)."""
        return KafkaConnection(self.bootstrap, "SASL_SSL", "SCRAM-SHA-512", self.username, self.password,
                               str(self.ca_location))

    def node(self, node_id: int) -> Node:
        if not 1 <= node_id <= NODES:
            raise BrokerError(f"no node {node_id}: nodes are 1..{NODES}")
        return self.nodes[node_id - 1]

    # --- lifecycle ---------------------------------------------------------------------------------

    def start(self, timeout: float = 120.0) -> Cluster:
        """Make what is missing (TLS, formatted logs), start every node, wait until each answers."""
        fetch_jars()
        for node in self.nodes:
            self._check_ports(node)
        tls.ensure(self.ca_location.parent, self._store_password)
        self._format()
        try:
            for node in self.nodes:
                self._launch(node)
            self._wait_ready(self.nodes, timeout)
        except BaseException:
            self.stop()  # no JVM may outlive a failed start
            raise
        return self

    def kill(self, node_id: int) -> None:
        """SIGKILL one node, as a crash or a pulled plug would end it: no controlled shutdown."""
        node = self.node(node_id)
        node.signal(signal.SIGKILL)
        node.reap()

    def restart(self, node_id: int, timeout: float = 90.0) -> None:
        """Stop the node if it runs (SIGTERM: the other two keep the quorum), start it, wait for it."""
        node = self.node(node_id)
        if node.alive:
            node.signal(signal.SIGTERM)
            assert node.process is not None
            try:
                node.process.wait(30)
            except subprocess.TimeoutExpired:
                node.signal(signal.SIGKILL)
        node.reap()
        self._check_ports(node)
        self._launch(node)
        self._wait_ready([node], timeout)

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM every node at once: stopped one by one, the last node waits for a quorum that is gone."""
        for node in self.nodes:
            node.signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for node in self.nodes:
            if node.process is None:
                continue
            try:
                node.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                node.signal(signal.SIGKILL)
            node.reap()
        self._admin = None

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- looking inside ----------------------------------------------------------------------------

    def leader_of(self, topic: str, partition: int, timeout: float = 10.0) -> int:
        """The node id leading the partition in the metadata a live node serves now; -1 if none."""
        metadata = self._admin_client().list_topics(topic, timeout=timeout)
        found = metadata.topics.get(topic)
        # A node that has not applied a new topic's metadata yet names it with no partitions.
        if found is None or partition not in found.partitions:
            return -1
        return int(found.partitions[partition].leader)

    def isr_of(self, topic: str, partition: int, timeout: float = 10.0) -> list[int]:
        """The partition's in-sync replicas: all three once a restarted node has caught up."""
        metadata = self._admin_client().list_topics(topic, timeout=timeout)
        return sorted(metadata.topics[topic].partitions[partition].isrs)

    def active_controller(self) -> int:
        """The node leading the KRaft quorum (killing it costs an election too). Brokers cannot tell: in
        KRaft, DescribeCluster names a random broker, so this asks a controller with Kafka's own tool."""
        node = next((n for n in self.nodes if _port_open(n.controller_port)), None)
        if node is None:
            raise BrokerError("no controller is listening")
        result = _run(["java", "-Xmx128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                       "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn", "-cp", f"{LIB}/*",
                       "org.apache.kafka.tools.MetadataQuorumCommand",
                       "--bootstrap-controller", f"127.0.0.1:{node.controller_port}", "describe", "--status"])
        for line in result.stdout.splitlines():
            if line.startswith("LeaderId:"):
                return int(line.split()[1])
        raise BrokerError(f"no LeaderId in the quorum status: {result.stdout.strip()[-300:]}")

    def rss_bytes(self) -> dict[int, int]:
        """Resident memory of each live JVM, from /proc (Linux)."""
        sizes = {}
        for node in self.nodes:
            if node.alive and node.process is not None:
                status = Path(f"/proc/{node.process.pid}/status").read_text()
                kb = next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))
                sizes[node.id] = int(kb) * 1024
        return sizes

    # --- internals ---------------------------------------------------------------------------------

    def _load_state(self, password: str | None) -> dict[str, Any]:
        path = self.data_dir / "cluster.json"
        if path.exists():
            state: dict[str, Any] = json.loads(path.read_text())
            if password is not None and password != state["password"]:
                raise BrokerError(f"{path} was formatted with another password; use a fresh data dir")
            return state
        # Chosen once per data dir: the SCRAM user and the nodes' addresses are part of the formatted logs.
        ports = _distinct_free_ports(3 * NODES)
        state = {
            "cluster_id": _cluster_id(),
            "username": USER,
            "password": password or secrets.token_hex(16),  # hex: StorageTool's --add-scram parses , and ]
            "store_password": secrets.token_hex(16),
            "ports": {str(n): ports[3 * (n - 1): 3 * n] for n in range(1, NODES + 1)},
        }
        path.write_text(json.dumps(state, indent=2) + "\n")
        path.chmod(0o600)  # it holds the client password
        return state

    def _check_ports(self, node: Node) -> None:
        for port in (node.broker_port, node.client_port, node.controller_port):
            if _port_open(port):
                raise BrokerError(f"port {port} on 127.0.0.1 (node {node.id}) is already in use")

    def _properties(self, node: Node) -> Path:
        tls_dir = self.ca_location.parent
        voters = ",".join(f"{n.id}@127.0.0.1:{n.controller_port}" for n in self.nodes)
        settings = {
            **_SETTINGS,
            "node.id": str(node.id),
            "controller.quorum.voters": voters,
            "listeners": f"BROKER://127.0.0.1:{node.broker_port},CLIENT://127.0.0.1:{node.client_port},"
                         f"CONTROLLER://127.0.0.1:{node.controller_port}",
            "advertised.listeners": f"BROKER://127.0.0.1:{node.broker_port},"
                                    f"CLIENT://127.0.0.1:{node.client_port}",
            "log.dirs": str(node.dir / "data"),
        }
        for store, name in (("keystore", tls.KEYSTORE), ("truststore", tls.TRUSTSTORE)):
            settings[f"listener.name.client.ssl.{store}.type"] = "PKCS12"
            settings[f"listener.name.client.ssl.{store}.location"] = str(tls_dir / name)
            settings[f"listener.name.client.ssl.{store}.password"] = self._store_password
        settings["listener.name.client.ssl.key.password"] = self._store_password
        node.dir.mkdir(parents=True, exist_ok=True)
        path = node.dir / "server.properties"
        path.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
        path.chmod(0o600)  # it holds the key store password
        return path

    def _format(self) -> None:
        # One cluster id for all; the SCRAM user is written into the bootstrap metadata, so it exists
        # before any client can connect. The three formats run at once: each is a JVM start.
        scram = f"SCRAM-SHA-512=[name={self.username},password={self.password}]"
        running = [
            (node, subprocess.Popen(
                _java("kafka.tools.StorageTool", "format", "-t", self.cluster_id,
                      "-c", str(self._properties(node)), "--add-scram", scram, "--ignore-formatted"),
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
            for node in self.nodes
        ]
        for node, process in running:
            output, _ = process.communicate(timeout=120)
            if process.returncode != 0:
                raise BrokerError(f"formatting node {node.id} in {node.dir} failed: "
                                  f"{output.decode(errors='replace').strip()[-500:]}")

    def _launch(self, node: Node) -> None:
        config = self._properties(node)
        node.log = node.log_path.open("ab")  # kept across restarts: a crash's log is the evidence
        node.log.write(f"--- salesdash: node {node.id} starts at {time.strftime('%H:%M:%S')} ---\n".encode())
        node.log.flush()
        node.process = subprocess.Popen(_java("kafka.Kafka", str(config)), stdout=node.log,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        start_new_session=True)

    def _wait_ready(self, nodes: list[Node], timeout: float) -> None:
        """Each node must answer metadata requests on its own SASL_SSL port and list itself as live."""
        deadline = time.monotonic() + timeout
        waiting = list(nodes)
        while waiting:
            for node in waiting:
                if not node.alive:
                    assert node.process is not None
                    raise BrokerError(f"node {node.id} exited with {node.process.returncode}; "
                                      f"see {node.log_path}")
            waiting = [node for node in waiting if not self._answers(node)]
            if not waiting:
                return
            if time.monotonic() > deadline:
                names = ", ".join(str(n.id) for n in waiting)
                raise BrokerError(f"node(s) {names} did not answer over SASL_SSL in {timeout:.0f}s; "
                                  f"see {waiting[0].log_path}")
            time.sleep(0.2)

    def _answers(self, node: Node) -> bool:
        from confluent_kafka.admin import AdminClient

        if not _port_open(node.client_port):  # librdkafka would log each refused connection
            return False
        admin = AdminClient(self.client_config(**{"bootstrap.servers": f"127.0.0.1:{node.client_port}",
                                                  "log_level": 0}))
        try:
            metadata = admin.list_topics(timeout=2)  # short: the other nodes are polled in the same loop
        except Exception:
            return False
        return node.id in metadata.brokers

    def _admin_client(self) -> Any:
        from confluent_kafka.admin import AdminClient

        if self._admin is None:
            self._admin = AdminClient(self.client_config(log_level=0))  # a killed node is expected here
        return self._admin


def _java(*args: str) -> list[str]:
    return ["java", *_JVM, "-cp", f"{LIB}/*", *args]


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
    if result.returncode != 0:
        raise BrokerError(f"{command[-3]} failed: {result.stderr.strip()[-500:]}")
    return result


def _distinct_free_ports(count: int) -> list[int]:
    # free_port() closes its socket, so two calls may return the same port; nine must all differ.
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports
