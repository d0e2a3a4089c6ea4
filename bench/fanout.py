"""Fan-out stage: N websocket viewers of one app process at PUSH_HZ=4 while orders flow, then 10,000 and
20,000 viewers of `python -m app --workers 2` (two processes on one port, SO_REUSEPORT).

The viewers run in processes of their own (`python -m bench.fanout URL COUNT SECONDS`, at most
CLIENT_VIEWERS each: a process's open files are bounded): one asyncio loop with a minimal websocket client
per viewer, so the client side stays cheap next to the app it measures. Push lag is the viewer's receive
time minus the message's `sent_ms` (when the app encoded it; one clock, one machine). A viewer counts a
delta whose `seq` is not the one after the last it had as a missed update, and every snapshot after the
first as a resync: every viewer received every update when both stay 0. App CPU and RSS (summed over the
app's processes) come from psutil over the same window.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import selectors
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench.report import Figure
from broker import free_port

ROOT = Path(__file__).resolve().parent.parent
FULL = [int(n) for n in os.environ.get("FANOUT_SIZES", "1000,2000,3000,5000").split(",")]
QUICK = [500]
MULTI = [int(n) for n in os.environ.get("FANOUT_MULTI_SIZES", "10000,20000").split(",")]
QUICK_MULTI = [1000]
WORKERS = 2
# A handshake waits this long: thousands queue at once on a busy machine (30 s lost the 20,000 round).
HANDSHAKE_WAIT_S = 120.0
CLIENT_VIEWERS = 10_000  # viewers per client process: each is a socket, and RLIMIT_NOFILE is 20,000 here
GOAL_VIEWERS, GOAL_P99_MS, GOAL_RSS_MIB = 5000, 1000.0, 200.0
# The viewers' loop gathers what arrived for up to this long before it reads: one wake-up takes hundreds of
# sockets' messages (woken per message, the client cost as much CPU as the app it measures). Lag is taken
# after the wait, so it only ever adds to the push lag measured.
GATHER_S = 0.01
_SENT = b'"sent_ms":'
_SEQ = b'"seq":'
_DIGITS = re.compile(rb"[0-9]+")


def _number_after(payload: bytes, key: bytes, start: int = 0, end: int | None = None,
                  last: bool = False) -> int | None:
    """The integer right after `key` in payload[start:end] (its first occurrence, or its last); None: none."""
    end = len(payload) if end is None else end
    at = payload.rfind(key, start, end) if last else payload.find(key, start, end)
    if at < 0:
        return None
    # The C regex and find, not a Python loop over digits: the client must stay cheap beside the app.
    digits = _DIGITS.match(payload, at + len(key), end)
    return None if digits is None else int(digits.group())


class _Viewer(asyncio.Protocol):
    """Just enough of a websocket client: handshake, unmasked server frames, pong, close."""

    def __init__(self, host: str, path: str, lags: list[float], ready: asyncio.Future[bool]) -> None:
        key = base64.b64encode(os.urandom(16)).decode()
        self.request = (f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
                        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                        "Sec-WebSocket-Version: 13\r\n\r\n").encode()
        self.lags = lags
        self.ready = ready
        self.buffer = bytearray()
        self.open = False
        self.messages = 0
        self.snapshots = 0
        self.missed = 0  # deltas that were not the step after the last one this viewer had
        self.seq: int | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.write(self.request)  # type: ignore[union-attr]

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = False
        if not self.ready.done():
            self.ready.set_result(False)

    def data_received(self, data: bytes) -> None:
        if self.open and not self.buffer:
            # Nothing held back: read the frames straight from `data`, copying only a partial one.
            self._frames(data, 0)
            return
        self.buffer += data
        if not self.open:
            head, sep, _ = self.buffer.partition(b"\r\n\r\n")
            if not sep:
                return
            del self.buffer[:len(head) + 4]
            self.open = head.startswith(b"HTTP/1.1 101")
            if not self.ready.done():
                self.ready.set_result(self.open)
        held, self.buffer = bytes(self.buffer), bytearray()
        self._frames(held, 0)

    def _frames(self, data: bytes, at: int) -> None:
        """Handle each whole frame in data[at:]; keep the rest for the next read."""
        while len(data) - at >= 2:
            opcode, length, start = data[at] & 0x0F, data[at + 1] & 0x7F, at + 2
            if length == 126:
                length, start = int.from_bytes(data[at + 2:at + 4]), at + 4
            elif length == 127:
                length, start = int.from_bytes(data[at + 2:at + 10]), at + 10
            end = start + length
            if len(data) < end:
                break
            if opcode == 0x1:
                self._message(data, start, end)
            elif opcode == 0x9:  # ping: answer with a masked pong (zero mask) or the server drops us
                self.transport.write(bytes([0x8A, 0x80 | length]) + b"\0\0\0\0" + data[start:end])  # type: ignore[union-attr]
            at = end
        if at < len(data):
            self.buffer += data[at:]

    def _message(self, data: bytes, start: int, end: int) -> None:
        now = time.time() * 1000
        self.messages += 1
        snapshot = data.startswith(b'{"type":"snapshot"', start)
        if snapshot:
            self.snapshots += 1
        seq = _number_after(data, _SEQ, start, end, last=True)  # the message's own, its last key
        if seq is not None:
            if not snapshot and self.seq is not None and seq != self.seq + 1:
                self.missed += 1
            self.seq = seq
        if self.messages == 1:
            return  # the snapshot on connect is not a push
        self.lags.append(now - (_number_after(data, _SENT, start, end) or 0))


class _Gathering(selectors.DefaultSelector):
    """A selector that, when the loop would wait, waits GATHER_S first and then takes every ready socket."""

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is None or timeout > 0:
            pause = GATHER_S if timeout is None else min(GATHER_S, timeout)
            time.sleep(pause)
            timeout = None if timeout is None else timeout - pause
        return super().select(timeout)


async def _watch(url: str, count: int, seconds: float) -> dict[str, Any]:
    host_port = url.split("//", 1)[1].split("/", 1)[0]
    host, port = host_port.rsplit(":", 1)
    loop = asyncio.get_running_loop()
    warmup: list[float] = []
    viewers: list[_Viewer] = []
    gate = asyncio.Semaphore(100)  # handshakes in flight, so the listen backlog never overflows

    async def connect() -> None:
        async with gate:
            ready: asyncio.Future[bool] = loop.create_future()
            viewer = _Viewer(host_port, "/ws", warmup, ready)
            await loop.create_connection(lambda: viewer, host, int(port))
            viewers.append(viewer)
            await asyncio.wait_for(ready, HANDSHAKE_WAIT_S)

    started = time.perf_counter()
    await asyncio.gather(*(connect() for _ in range(count)))
    connect_s = time.perf_counter() - started
    print(json.dumps({"connected": sum(v.open for v in viewers), "connect_s": connect_s}), flush=True)
    lags: list[float] = []
    for viewer in viewers:
        viewer.lags = lags
    before = sum(v.messages for v in viewers)
    await asyncio.sleep(seconds)
    received = sum(v.messages for v in viewers) - before
    still_open = sum(v.open for v in viewers)
    # Every snapshot after a viewer's first (which may land after the handshake counted it connected).
    resyncs = sum(max(0, v.snapshots - 1) for v in viewers)
    for viewer in viewers:
        if viewer.transport is not None:
            viewer.transport.abort()
    histogram: dict[int, int] = {}  # whole ms of lag -> messages: client processes' figures merge
    for lag in lags:
        histogram[int(lag)] = histogram.get(int(lag), 0) + 1
    return {"viewers": count, "open_at_end": still_open, "messages": received, "resyncs": resyncs,
            "missed": sum(v.missed for v in viewers), "histogram": sorted(histogram.items()),
            "connect_s": connect_s}


def _merged(results: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    """The client processes' figures as one: sums, and push lag percentiles over every message."""
    lags: dict[int, int] = {}
    for result in results:
        for ms, n in result["histogram"]:
            lags[ms] = lags.get(ms, 0) + n
    total = sum(lags.values())
    ordered = sorted(lags.items())

    def pick(q: float) -> float:
        seen = 0
        for ms, n in ordered:
            seen += n
            if seen > q * total:
                return float(ms)
        return float("nan")

    count = sum(r["viewers"] for r in results)
    merged = {key: sum(r[key] for r in results) for key in ("viewers", "open_at_end", "messages", "resyncs",
                                                             "missed")}
    return {**merged, "per_viewer_hz": merged["messages"] / max(1, count) / seconds, "p50_ms": pick(0.50),
            "p99_ms": pick(0.99), "max_ms": float(ordered[-1][0]) if ordered else float("nan"),
            "connect_s": max(r["connect_s"] for r in results)}


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdout=log.open("ab"),
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def _measure(url: str, app: list[psutil.Process], count: int, seconds: float, logs: Path) -> dict[str, Any]:
    """One round: start the viewer processes, wait for them to connect, watch the app for `seconds`."""
    shares = [min(CLIENT_VIEWERS, count - start) for start in range(0, count, CLIENT_VIEWERS)]
    clients = [subprocess.Popen([sys.executable, "-m", "bench.fanout", url, str(n), str(seconds)], cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=(logs / "viewers.log").open("ab"), text=True)
               for n in shares]
    try:
        connected = 0
        for client in clients:
            assert client.stdout is not None
            connected += json.loads(client.stdout.readline() or "{}").get("connected", 0)
        if connected != count:
            raise RuntimeError(f"only {connected} of {count} viewers connected")
        watched = [*app, *(psutil.Process(c.pid) for c in clients)]
        before, wall_before = [sum(p.cpu_times()[:2]) for p in watched], time.perf_counter()
        rss = 0.0
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            rss = max(rss, sum(p.memory_info().rss for p in app) / 2**20)
            time.sleep(0.25)
        wall = time.perf_counter() - wall_before
        used = [(sum(p.cpu_times()[:2]) - b) / wall * 100 for p, b in zip(watched, before, strict=True)]
        results = [json.loads(c.stdout.readline()) for c in clients if c.stdout is not None]
        for client in clients:
            client.wait(30)
    finally:
        for client in clients:
            if client.poll() is None:
                client.kill()
                client.wait()
    return {**_merged(results, seconds), "app_cpu_pct": sum(used[:len(app)]), "app_rss_mib": rss,
            "client_cpu_pct": sum(used[len(app):])}


def run(bootstrap: str, quick: bool) -> list[Figure]:
    sizes, multi, seconds = (QUICK, QUICK_MULTI, 8.0) if quick else (FULL, MULTI, 20.0)
    run_id = uuid.uuid4().hex[:6]
    port, multi_port = free_port(), free_port()
    logs = Path(tempfile.mkdtemp(prefix="bench-fanout-"))
    env = {**os.environ, "KAFKA_BOOTSTRAP": bootstrap, "ORDERS_TOPIC": f"fanout-{run_id}",
           "AGGREGATES_TOPIC": f"fanout-{run_id}.aggregates", "DLQ_TOPIC": f"fanout-{run_id}.dlq",
           "ORDERS_PARTITIONS": "4", "STREAM_GROUP": f"bench-fanout-{run_id}", "PUSH_HZ": "4",
           "FAUST_DATADIR": str(logs / "faust")}
    url, multi_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{multi_port}"
    # Load for a change, and so a delta, on every tick of every round, however long connecting takes (at
    # 20,000 viewers minutes on a busy machine): it runs until the stage stops it.
    duration = "3600"
    processes = [_start(["-m", "stream", "--loglevel", "warning"], env, logs / "stream.log"),
                 _start(["-m", "app", "--port", str(port), "--log-level", "warning"], env, logs / "app.log")]
    figures: list[Figure] = []
    try:
        _wait_healthy(url, 90)
        processes.append(_start(["-m", "loadgen", "run", "--rate", "200", "--duration", duration], env,
                                logs / "loadgen.log"))
        _wait_orders(url, 60)
        figures += _rounds(url, [psutil.Process(processes[1].pid)], sizes, seconds, logs, "")
        processes[1].terminate()  # the one-process rounds are done: its CPU goes to the next ones
        processes.append(_start(["-m", "app", "--port", str(multi_port), "--log-level", "warning",
                                 "--workers", str(WORKERS)], env, logs / "app-workers.log"))
        supervisor = psutil.Process(processes[-1].pid)
        for _ in range(WORKERS * 4):  # the kernel picks a process per request: ask each, likely
            _wait_healthy(multi_url, 90)
        apps = supervisor.children()
        figures += _rounds(multi_url, apps, multi, seconds, logs, f", {len(apps)} app processes")
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    return figures


def _rounds(url: str, app: list[psutil.Process], sizes: list[int], seconds: float, logs: Path,
            label: str) -> list[Figure]:
    figures: list[Figure] = []
    for count in sizes:
        print(f"{count:,} viewers{label} ...", flush=True)
        r = _measure(url.replace("http", "ws") + "/ws", app, count, seconds, logs)
        print(f"  {count:,} viewers{label}: push lag p50 {r['p50_ms']:.0f} ms, p99 {r['p99_ms']:.0f} ms, "
              f"max {r['max_ms']:.0f} ms; {r['per_viewer_hz']:.2f} msgs/s per viewer, "
              f"{r['resyncs']} resyncs, {r['missed']} missed updates, {r['open_at_end']:,} open at end; "
              f"app CPU {r['app_cpu_pct']:.0f}%, RSS {r['app_rss_mib']:.0f} MiB; "
              f"viewers' processes CPU {r['client_cpu_pct']:.0f}%", flush=True)
        every = r["open_at_end"] == count and r["missed"] == 0 and r["resyncs"] == 0
        if label:  # the scale-out rounds: the goal is at every size
            goal, met = "≤ 1 s, every viewer every update", r["p99_ms"] <= GOAL_P99_MS and every
        elif count >= GOAL_VIEWERS:
            goal, met = "≤ 1 s at 5,000 viewers", r["p99_ms"] <= GOAL_P99_MS and r["open_at_end"] == count
        else:
            goal, met = "", None
        figures += [
            Figure("fan-out", f"push lag p50, {count:,} viewers at 4 Hz{label}", r["p50_ms"], "ms"),
            Figure("fan-out", f"push lag p99, {count:,} viewers at 4 Hz{label}", r["p99_ms"], "ms",
                   goal=goal, met=met),
            # A resync is an update replaced by a snapshot: the viewer fell behind.
            Figure("fan-out", f"updates missed or resynced, {count:,} viewers{label}",
                   r["missed"] + r["resyncs"], "updates"),
            Figure("fan-out", f"app CPU, {count:,} viewers{label}", r["app_cpu_pct"], "% of a core"),
            Figure("memory", f"app RSS, {count:,} viewers{label}", r["app_rss_mib"], "MiB",
                   goal="≤ 200 MB at 5,000 viewers" if count >= GOAL_VIEWERS and not label else "",
                   met=r["app_rss_mib"] * 2**20 <= GOAL_RSS_MIB * 1e6 if count >= GOAL_VIEWERS and not label
                   else None),
        ]
    return figures


def _wait_healthy(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/healthz", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"the app at {url} never became healthy")


def _wait_orders(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if httpx.get(url + "/api/snapshot", timeout=5).json()["totals"]["orders"] > 0:
            return
        time.sleep(0.5)
    raise RuntimeError("no orders reached the app")


if __name__ == "__main__":
    with asyncio.Runner(loop_factory=lambda: asyncio.SelectorEventLoop(_Gathering())) as runner:
        result = runner.run(_watch(sys.argv[1], int(sys.argv[2]), float(sys.argv[3])))
    # The raw histogram for _measure to merge, and this process's own percentiles for anyone else.
    print(json.dumps({**_merged([result], float(sys.argv[3])), "histogram": result["histogram"]}), flush=True)
