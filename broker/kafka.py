"""Fetch Kafka's jars with Maven, then format, start, wait for and stop a single-node KRaft broker."""

from __future__ import annotations

import base64
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LIB = HERE / "lib"
POM = HERE / "pom.xml"

# Records carry the order's own time: a past day must not be deleted on arrival (time retention compares
# record timestamps with the wall clock) and a clock-skewed shop must not be refused (KIP-1030 in 4.x).
_NEVER = str(2**63 - 1)
_SETTINGS = {
    "process.roles": "broker,controller",
    "node.id": "1",
    "controller.listener.names": "CONTROLLER",
    "inter.broker.listener.name": "PLAINTEXT",
    "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
    "offsets.topic.replication.factor": "1",
    "offsets.topic.num.partitions": "8",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "transaction.state.log.num.partitions": "8",  # not 50: the first claim of a fresh broker waits for them
    "share.coordinator.state.topic.replication.factor": "1",
    "share.coordinator.state.topic.min.isr": "1",
    "group.initial.rebalance.delay.ms": "0",
    "auto.create.topics.enable": "false",
    "log.retention.ms": "-1",
    "log.retention.bytes": "-1",
    # Topics with their own retention (checkpoints, dead letters) and compaction (snapshots) act within
    # seconds instead of minutes: cheap on a small broker, and what lets tests watch them work.
    "log.retention.check.interval.ms": "1000",
    "log.cleaner.backoff.ms": "1000",
    "log.initial.task.delay.ms": "1000",
    "log.message.timestamp.before.max.ms": _NEVER,
    "log.message.timestamp.after.max.ms": _NEVER,
    "group.consumer.min.session.timeout.ms": "6000",
    "group.min.session.timeout.ms": "6000",
    "num.partitions": "1",
}


class BrokerError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def kafka_version() -> str:
    text = POM.read_text()
    start = text.index("<kafka.version>") + len("<kafka.version>")
    return text[start : text.index("</kafka.version>")]


def fetch_jars() -> Path:
    """Copy the broker's jars from Maven (its ~/.m2 cache makes repeat runs instant) into broker/lib."""
    marker = LIB / f".kafka-{kafka_version()}"
    if marker.exists():
        return LIB
    if shutil.which("mvn") is None:
        raise BrokerError("Maven (mvn) is not on PATH: install Maven 3.8+ and Java 17+ to run the broker")
    shutil.rmtree(LIB, ignore_errors=True)
    result = subprocess.run(
        ["mvn", "-B", "-q", "-f", str(POM), "dependency:copy-dependencies", f"-DoutputDirectory={LIB}"],
    )
    if result.returncode != 0:
        raise BrokerError(f"Maven could not fetch Kafka {kafka_version()} (exit {result.returncode})")
    marker.touch()
    return LIB


class Broker:
    """One KRaft broker+controller process. `with Broker(...) as b:` starts it and stops it."""

    def __init__(self, data_dir: Path, port: int = 9092, controller_port: int | None = None,
                 heap: str = "768m") -> None:
        self.data_dir = Path(data_dir)
        self.port = port
        self.controller_port = controller_port or free_port()
        self.heap = heap
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "broker.log"

    def _write_config(self) -> Path:
        settings = dict(_SETTINGS)
        settings["controller.quorum.voters"] = f"1@127.0.0.1:{self.controller_port}"
        settings["listeners"] = (
            f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}"
        )
        settings["advertised.listeners"] = f"PLAINTEXT://127.0.0.1:{self.port}"
        settings["log.dirs"] = str(self.data_dir / "logs")
        config = self.data_dir / "server.properties"
        config.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
        return config

    def _java(self, *args: str) -> list[str]:
        return ["java", f"-Xms{self.heap}", f"-Xmx{self.heap}", "-XX:+UseG1GC", "-Djava.awt.headless=true",
                "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
                "-Dorg.slf4j.simpleLogger.log.kafka.server.KafkaRaftServer=info",
                "-cp", f"{LIB}/*", *args]

    def start(self, timeout: float = 90.0) -> Broker:
        if _port_open(self.port):
            raise BrokerError(f"port {self.port} on 127.0.0.1 is already in use (another Kafka running?)")
        fetch_jars()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self._write_config()
        # The cluster id is kept with the data, so a restarted broker keeps its log.
        id_file = self.data_dir / "cluster.id"
        if not id_file.exists():
            id_file.write_text(_cluster_id())
        formatted = subprocess.run(
            self._java("kafka.tools.StorageTool", "format", "-t", id_file.read_text().strip(),
                       "-c", str(config), "--ignore-formatted"),
            capture_output=True, text=True,
        )
        if formatted.returncode != 0:
            raise BrokerError(f"formatting {self.data_dir} failed: {formatted.stderr.strip()[-500:]}")
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self._java("kafka.Kafka", str(config)), stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float) -> None:
        from confluent_kafka.admin import AdminClient

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise BrokerError(f"Kafka exited with {self.process.returncode}; see {self.log_path}")
            # Knock on the port first: librdkafka logs every refused connection to stderr.
            if _port_open(self.port):
                try:
                    AdminClient({"bootstrap.servers": self.bootstrap, "log_level": 0}).list_topics(timeout=5)
                    return
                except Exception:
                    pass
            time.sleep(0.2)
        raise BrokerError(f"Kafka did not answer on {self.bootstrap} in {timeout:.0f}s; see {self.log_path}")

    def stop(self, timeout: float = 30.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def kill(self) -> None:
        """Stop without a clean shutdown, as a crash would."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def __enter__(self) -> Broker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _cluster_id() -> str:
    # 22 url-safe base64 characters; one that starts with '-' would be read as an option by StorageTool.
    while True:
        candidate = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if candidate[0] != "-":
            return candidate


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0
