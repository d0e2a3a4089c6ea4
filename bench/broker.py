"""Broker stage: Kafka's own perf tools (kafka-producer-perf-test and kafka-consumer-perf-test, the
`ProducerPerformance` and `ConsumerPerformance` classes of the kafka-tools jar in broker/lib) against the
bench broker: the broker-side limit on this machine, client and broker sharing its cores as ours do.

The producer sends real order events (a payload file of loadgen's model) with loadgen's settings (acks=all,
idempotent, lz4, linger 20 ms, ~1 MB batches like librdkafka's), so its records/s is the ceiling for the
produce stage; the consumer then reads them all back."""

from __future__ import annotations

import re
import subprocess
import tempfile
import uuid
from pathlib import Path

from bench.report import Figure
from broker.kafka import LIB
from loadgen.catalog import Catalog
from loadgen.model import Model

_PRODUCED = re.compile(r"(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg")
_JAVA = ["java", "-Xms512m", "-Xmx512m", "-XX:+UseG1GC", "-Djava.awt.headless=true",
         "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn", "-cp", f"{LIB}/*"]


def run(bootstrap: str, quick: bool) -> list[Figure]:
    records = 200_000 if quick else 5_000_000
    topic = f"bench-perf-{uuid.uuid4().hex[:6]}"
    payloads = _payload_file(20_000)
    _create(bootstrap, topic)
    produced = _java("org.apache.kafka.tools.ProducerPerformance", "--topic", topic, "--num-records",
                     str(records), "--throughput", "-1", "--payload-file", str(payloads), "--producer-props",
                     f"bootstrap.servers={bootstrap}", "acks=all", "enable.idempotence=true",
                     "compression.type=lz4", "linger.ms=20", "batch.size=1000000")
    found = _PRODUCED.findall(produced)
    if not found:
        raise RuntimeError(f"ProducerPerformance printed no summary: {produced[-2000:]}")
    sent, rate, mb, latency = found[-1]
    consumed = _java("org.apache.kafka.tools.ConsumerPerformance", "--bootstrap-server", bootstrap,
                     "--topic", topic, "--messages", sent, "--timeout", "60000", "--hide-header")
    # start.time, end.time, MB, MB.sec, nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, ...
    fields = [f.strip() for f in consumed.strip().splitlines()[-1].split(",")]
    read_mb_s, read_rate = float(fields[3]), float(fields[5])
    print(f"kafka-producer-perf-test: {float(rate):,.0f} records/s, {float(mb):.1f} MB/s (avg latency "
          f"{float(latency):.0f} ms); kafka-consumer-perf-test: {read_rate:,.0f} records/s, "
          f"{read_mb_s:.1f} MB/s", flush=True)
    what = f"{int(sent):,} order events"
    return [
        Figure("broker", f"kafka-producer-perf-test, {what}, loadgen's settings", float(rate), "records/s"),
        Figure("broker", "kafka-producer-perf-test, payload (uncompressed)", float(mb), "MB/s"),
        Figure("broker", f"kafka-consumer-perf-test, {what} (incl. group join)", read_rate, "records/s"),
        Figure("broker", "kafka-consumer-perf-test, payload", read_mb_s, "MB/s"),
    ]


def _payload_file(count: int) -> Path:
    """Real order events, one a line: what the perf producer picks its records from."""
    model = Model(Catalog(1, 2000), 1, "perf")
    model.prepare()
    path = Path(tempfile.mkdtemp(prefix="bench-perf-")) / "orders.jsonl"
    path.write_bytes(b"\n".join(value for value, _, _ in model.events([1_764_288_000_000] * count)))
    return path


def _create(bootstrap: str, topic: str) -> None:
    from confluent_kafka.admin import AdminClient
    from confluent_kafka.cimpl import NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})  # held: a dropped client cancels the request
    admin.create_topics([NewTopic(topic, 8, 1)])[topic].result()


def _java(*args: str) -> str:
    done = subprocess.run([*_JAVA, *args], capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"{args[0]} failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout
