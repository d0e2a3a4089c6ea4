"""`make demo` (scripts/demo.py) on a data directory that holds hostile records, as a long-running demo's
var/demo may: it starts, serves and counts on."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from confluent_kafka import Producer

from broker import free_port
from tests.conftest import ROOT, wait_until

pytestmark = pytest.mark.kafka


def demo(var: Path, kafka_port: int, app_port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DEMO_VAR": str(var), "DEMO_KAFKA_PORT": str(kafka_port), "DEMO_PORT": str(app_port),
           "DEMO_RATE": "40", "DEMO_REPLAY_ORDERS": "3000", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "scripts/demo.py"], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                            stdout=(var / "demo.out").open("ab"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def live(url: str, var: Path, process: subprocess.Popen[bytes]) -> None:
    def up() -> bool:
        assert process.poll() is None, (var / "demo.out").read_text()[-3000:]
        return httpx.get(url + "/healthz", timeout=5).status_code == 200
    wait_until(up, 120, message="the demo to serve")


def stop(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGINT)
    assert process.wait(90) == 0


def test_the_demo_starts_again_on_a_var_that_holds_poison(tmp_path: Path) -> None:
    var = tmp_path / "demo"
    var.mkdir()
    kafka_port, app_port = free_port(), free_port()
    url = f"http://127.0.0.1:{app_port}"
    first = demo(var, kafka_port, app_port)
    try:
        live(url, var, first)
        producer = Producer({"bootstrap.servers": f"127.0.0.1:{kafka_port}"})
        now = int(time.time() * 1000)
        poison = [json.dumps({"event_id": "q", "type": "order_placed", "order_id": "q", "occurred_at": now,
                              "merchant_id": "m", "merchant_name": "m", "country": "US", "channel": "pos",
                              "currency": "USD", "total_minor": 100, "customer_id": "c",
                              "lines": [{"sku": "s", "title": "t", "qty": 2**64, "price_minor": 1}],
                              }).encode(),
                  json.dumps({"event_id": "n", "occurred_at": now + 9 * 3_600_000}).encode(), b"\xff", b"[]"]
        for value in poison:
            producer.produce("orders", value, b"m")
        refused = []
        for topic in ("orders.aggregates", "orders.aggregates.snapshots"):
            for partition in range(8):
                for i, value in enumerate((b"1", b"[]", b"not json")):
                    # Keyed, none a snapshot key: the compacted snapshots topic takes keyed records only.
                    producer.produce(topic, value, f"junk-{i}".encode(), partition=partition,
                                     on_delivery=lambda err, msg: err and refused.append(err))
        assert producer.flush(20) == 0 and not refused, refused
        time.sleep(3)
        counted = httpx.get(url + "/api/snapshot", timeout=5).json()["totals"]["orders"]
    finally:
        stop(first)
    second = demo(var, kafka_port, app_port)
    try:
        live(url, var, second)
        orders = lambda: httpx.get(url + "/api/snapshot", timeout=5).json()["totals"]["orders"]  # noqa: E731
        wait_until(lambda: orders() > counted, 60, message="the demo counting again")
        health = httpx.get(url + "/healthz", timeout=5).json()
        # The restarted app reads every snapshot record (the aggregates' junk may lie before the newest
        # snapshot's start): each one skipped and counted, not a reason to stop.
        assert health["unreadable_checkpoints"] >= 3 * 8
    finally:
        stop(second)
