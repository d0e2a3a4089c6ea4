"""The system under test as a user runs it: `python -m stream` and `python -m app` on fresh topics of the
bench broker, their RSS sampled in the background, and everything stopped on the way out."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import psutil
from confluent_kafka import Consumer, TopicPartition

from broker import free_port
from stream import config
from stream.kafka.admin import ensure_topics

ROOT = Path(__file__).resolve().parent.parent
PARTITIONS = 8


class RssSampler(threading.Thread):
    """Every `period` s, the RSS (MiB) of each named process: {name: [(seconds since start, MiB)]}."""

    def __init__(self, pids: dict[str, int], period: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.processes = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.period = period
        self.samples: dict[str, list[tuple[float, float]]] = {name: [] for name in pids}
        self._halt = threading.Event()
        self._t0 = time.monotonic()

    def run(self) -> None:
        while not self._halt.wait(self.period):
            at = time.monotonic() - self._t0
            for name, process in self.processes.items():
                with contextlib.suppress(psutil.Error):  # it exited: Stack.check reports that
                    self.samples[name].append((at, process.memory_info().rss / 2**20))

    def stop(self) -> None:
        self._halt.set()
        self.join(5)


class Stack:
    """Worker and app on topics of their own; `with Stack(bootstrap, "name") as stack:`."""

    def __init__(self, bootstrap: str, name: str, push_hz: str = "4", worker_log: str = "warn") -> None:
        run = f"bench-{name}-{uuid.uuid4().hex[:6]}"
        self.logs = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
        self.worker_log = worker_log  # "info" logs the "owning partitions" and "counting partitions" lines
        # The snapshot topics too: the worker derives them from AGGREGATES_TOPIC, so must these settings.
        aggregates = f"{run}.aggregates"
        settings = replace(config.load().reaching(bootstrap), orders_partitions=PARTITIONS, orders_topic=run,
                           aggregates_topic=aggregates, snapshots_topic=f"{aggregates}.snapshots",
                           state_topic=f"{aggregates}.state", dlq_topic=f"{run}.dlq",
                           owners_topic=f"{run}.owners", homes_topic=f"{run}.homes")
        self.settings = settings
        self.env = {**os.environ, "KAFKA_BOOTSTRAP": bootstrap, "ORDERS_TOPIC": run,
                    "AGGREGATES_TOPIC": aggregates, "SNAPSHOTS_TOPIC": settings.snapshots_topic,
                    "STATE_TOPIC": settings.state_topic, "DLQ_TOPIC": settings.dlq_topic,
                    "OWNERS_TOPIC": settings.owners_topic, "ORDERS_PARTITIONS": str(PARTITIONS),
                    "STREAM_GROUP": run, "PUSH_HZ": push_hz, "FAUST_DATADIR": str(self.logs / "faust"),
                    "PYTHONUNBUFFERED": "1"}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.log_names: dict[str, str] = {}  # process name -> the log it writes now

    def __enter__(self) -> Stack:
        ensure_topics(self.settings)  # before the clock starts: creating topics is not counting
        self.start("stream", "-m", "stream", "--loglevel", self.worker_log)
        self.start("app", "-m", "app", "--host", "127.0.0.1", "--port", str(self.port),
                   "--log-level", "warning")
        started = time.monotonic()
        try:
            self.wait_healthy(90)
            print(f"  worker and app up in {time.monotonic() - started:.1f}s", flush=True)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self, name: str, *args: str, log: str | None = None) -> subprocess.Popen[bytes]:
        """Start `python ARGS` as process `name`, its output in `log`.log (default: `name`.log)."""
        process = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=self.env,
                                   stdout=self.log_path(log or name).open("ab"), stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
        self.processes[name] = process
        self.log_names[name] = log or name
        return process

    def run(self, *args: str, timeout: float = 600) -> str:
        """Run `python ARGS` to completion on this stack's topics; returns its stderr (loadgen's report)."""
        done = subprocess.run([sys.executable, *args], cwd=ROOT, env=self.env, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}): {done.stderr[-2000:]}")
        return done.stderr

    def log_path(self, log: str) -> Path:
        return self.logs / f"{log}.log"

    def pid(self, name: str) -> int:
        return self.processes[name].pid

    def check(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                log = self.log_path(self.log_names[name]).read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{name} exited with {process.returncode}: {log}")

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check()
            try:
                if httpx.get(self.url + "/healthz", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the app at {self.url} never became healthy (logs in {self.logs})")

    def snapshot(self, day: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = httpx.get(self.url + "/api/snapshot" + (f"?day={day}" if day else ""),
                                         timeout=10).json()
        return body

    def wait_drained(self, ends: dict[int, int], timeout: float, day: str | None = None) -> float:
        """Seconds until the app's view includes every record below `ends`."""
        started = time.monotonic()
        while not covers(self.snapshot(day)["offsets"], ends):
            self.check()
            if time.monotonic() - started > timeout:
                raise RuntimeError(f"the app did not catch up with {ends} within {timeout:.0f}s")
            time.sleep(0.1)
        return time.monotonic() - started

    def close(self) -> None:
        for process in reversed(self.processes.values()):
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def high_watermarks(bootstrap: str, topic: str) -> dict[int, int]:
    """Each partition's next offset: every record acknowledged so far lies below it."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-marks-{uuid.uuid4()}"})
    try:
        return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                for p in range(PARTITIONS)}
    finally:
        consumer.close()


def covers(offsets: dict[str, int], ends: dict[int, int]) -> bool:
    """Whether a pushed day's `offsets` include every record below `ends`."""
    return all(offsets.get(str(p), 0) >= end for p, end in ends.items() if end > 0)
