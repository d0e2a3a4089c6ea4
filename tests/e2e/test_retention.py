"""Checkpoints carry a time retention: once it has deleted the oldest aggregates records, readers start from
the snapshots, and a fresh app and a recovering worker still show every day to the cent."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition

from broker import free_port
from tests.conftest import App, Processes, wait_until
from tests.support.checks import exact

pytestmark = pytest.mark.kafka


def log_starts(bootstrap: str, topic: str, partitions: int) -> list[int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"starts-{time.time_ns()}"})
    try:
        return [consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[0]
                for p in range(partitions)]
    finally:
        consumer.close()


@pytest.mark.timeout(400)
def test_after_retention_deleted_the_oldest_checkpoints_readers_still_show_every_day_exactly(
        processes: Processes, tmp_path: Path) -> None:
    processes.env.update({"AGGREGATES_RETENTION_S": "6", "STREAM_SNAPSHOT_EVERY_S": "1",
                          "STREAM_SNAPSHOT_RECORDS": "500"})
    env = processes.env
    partitions = int(env["ORDERS_PARTITIONS"])
    # Two past days, oldest first, then today's live orders: three days of history in one log.
    truths = []
    for day in ("2025-11-27", "2025-11-28"):
        truth = tmp_path / f"{day}.json"
        done = processes.run("-m", "loadgen", "backfill", "--day", day, "--orders", "3000", "--dup-rate",
                             "0.02", "--late-rate", "0.02", "--bad-rate", "0.01", "--truth", str(truth))
        assert done.returncode == 0, done.stderr
        truths.append(truth)
    port = free_port()
    worker = processes.start("stream", "-m", "stream")
    processes.start("app", "-m", "app", "--port", str(port))
    app = App(port)
    wait_until(lambda: app.get("/healthz").status_code == 200, 60, message="app /healthz")
    live = tmp_path / "live.json"
    load = processes.start("loadgen", "-m", "loadgen", "run", "--rate", "200", "--duration", "40",
                           "--seed", "9", "--dup-rate", "0.02", "--truth", str(live))
    # Retention deletes whole segments (a new one starts every second) once they are 6 s old.
    wait_until(lambda: min(log_starts(env["KAFKA_BOOTSTRAP"], env["AGGREGATES_TOPIC"], partitions)) > 0, 90,
               message="retention to delete the oldest checkpoints of every partition")
    assert load.wait(90) == 0, processes.log("loadgen")
    for truth in [*truths, live]:
        exact(app, truth)

    # A fresh app: the chain's first records are gone, so it must start from the snapshots.
    fresh = App(free_port())
    processes.start("app-2", "-m", "app", "--port", fresh.url.rsplit(":", 1)[1])
    wait_until(lambda: fresh.get("/healthz").status_code == 200, 60, message="a fresh app serving")
    for truth in [*truths, live]:
        exact(fresh, truth)

    # A recovering worker, then more of today's orders: counted on from its snapshot, exactly.
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()
    processes.start("stream", "-m", "stream")
    more = tmp_path / "more.json"
    again = processes.run("-m", "loadgen", "run", "--rate", "200", "--duration", "10", "--seed", "10",
                          "--truth", str(more), timeout=120)
    assert again.returncode == 0, again.stderr
    assert "from a snapshot" in processes.log("stream")
    # Today is the sum of both live runs: the two truth files merged.
    merged = merge_truths(live, more, tmp_path / "today.json")
    for reader in (app, fresh):
        exact(reader, merged)


def merge_truths(first: Path, second: Path, out: Path) -> Path:
    """Two load generator truth files of the same days as one (their runs never share an event id)."""
    a, b = json.loads(first.read_text()), json.loads(second.read_text())
    days = {}
    for name in {*a["days"], *b["days"]}:
        parts = [t["days"][name] for t in (a, b) if name in t["days"]]
        totals = {k: sum(p["totals"][k] for p in parts) for k in parts[0]["totals"]}
        minutes: dict[int, dict[str, int]] = {}
        for part in parts:
            for minute in part["minutes"]:
                into = minutes.setdefault(minute["start_ms"], {"start_ms": minute["start_ms"], "orders": 0,
                                                               "gross_cents": 0, "refunds_cents": 0})
                for key in ("orders", "gross_cents", "refunds_cents"):
                    into[key] += minute[key]
        days[name] = {"day": name, "totals": totals, "minutes": [minutes[k] for k in sorted(minutes)]}
    counts = {"failed": a["counts"]["failed"] + b["counts"]["failed"]}
    out.write_text(json.dumps({"counts": counts, "days": days}))
    return out
