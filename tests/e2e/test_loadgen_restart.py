"""A broker that goes away mid-run and comes back: every acknowledged order is in the log exactly once."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest

from broker import Broker, free_port
from tests.support.truth import by_minute, decode_valid, read_topic, tally

pytestmark = pytest.mark.kafka

ROOT = Path(__file__).resolve().parents[2]


def test_a_broker_killed_and_restarted_mid_run_loses_and_doubles_nothing(tmp_path: Path) -> None:
    broker = Broker(tmp_path / "kafka", port=free_port(), heap="512m")  # its own: the session's stays up
    broker.start()
    try:
        env = {**os.environ, "KAFKA_BOOTSTRAP": broker.bootstrap, "ORDERS_TOPIC": "orders",
               "AGGREGATES_TOPIC": "orders.aggregates", "DLQ_TOPIC": "orders.dlq", "ORDERS_PARTITIONS": "4"}
        path = tmp_path / "truth.json"
        command = ["-m", "loadgen", "run", "--rate", "1000", "--duration", "10", "--truth", str(path)]
        load = subprocess.Popen([sys.executable, *command], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        time.sleep(3)
        broker.kill()  # no clean shutdown, as in a crash
        time.sleep(3)
        broker.start()  # same port, same data
        _, stderr = load.communicate(timeout=180)
        assert load.returncode == 0, stderr
        assert "broker errors" in stderr  # it did notice the broker go

        events = decode_valid(read_topic(broker.bootstrap, "orders"))
    finally:
        broker.stop()
    truth = orjson.loads(path.read_bytes())
    assert truth["counts"]["acknowledged"] == truth["counts"]["sent"] == 10_000
    copies = Counter(e["event_id"] for e in events)
    assert len(copies) == 10_000  # nothing lost
    assert set(copies.values()) == {1}  # nothing written twice
    totals, minutes = tally(events)
    assert sum(day["totals"]["gross_cents"] for day in truth["days"].values()) == totals["gross_cents"]
    assert {start: m for day in truth["days"].values() for start, m in by_minute(day).items()} == minutes
