"""Fan-out stage: N websocket viewers of one app process at PUSH_HZ=4 while orders flow.

The viewers run in a separate process (`python -m bench.fanout URL COUNT SECONDS`): one asyncio loop with
a minimal websocket client per viewer, so the client side stays cheap next to the app it measures. Push
lag is the viewer's receive time minus the message's `sent_ms` (when the app encoded it; one clock, one
machine). App CPU and RSS come from psutil over the same window.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import psutil

from bench.report import Figure
from broker import free_port

ROOT = Path(__file__).resolve().parent.parent
FULL = [int(n) for n in os.environ.get("FANOUT_SIZES", "1000,2000,3000,5000").split(",")]
QUICK = [500]
GOAL_VIEWERS, GOAL_P99_MS, GOAL_RSS_MIB = 5000, 1000.0, 200.0
_SENT = b'"sent_ms":'


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
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.write(self.request)  # type: ignore[union-attr]

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = False
        if not self.ready.done():
            self.ready.set_result(False)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.open:
            head, sep, _ = self.buffer.partition(b"\r\n\r\n")
            if not sep:
                return
            del self.buffer[:len(head) + 4]
            self.open = head.startswith(b"HTTP/1.1 101")
            if not self.ready.done():
                self.ready.set_result(self.open)
        while len(self.buffer) >= 2:
            opcode, length, start = self.buffer[0] & 0x0F, self.buffer[1] & 0x7F, 2
            if length == 126:
                length, start = int.from_bytes(self.buffer[2:4]), 4
            elif length == 127:
                length, start = int.from_bytes(self.buffer[2:10]), 10
            if len(self.buffer) < start + length:
                return
            payload = bytes(self.buffer[start:start + length])
            del self.buffer[:start + length]
            if opcode == 0x1:
                self._message(payload)
            elif opcode == 0x9:  # ping: answer with a masked pong (zero mask) or the server drops us
                self.transport.write(bytes([0x8A, 0x80 | len(payload)]) + b"\0\0\0\0" + payload)  # type: ignore[union-attr]

    def _message(self, payload: bytes) -> None:
        now = time.time() * 1000
        self.messages += 1
        if payload.startswith(b'{"type":"snapshot"'):
            self.snapshots += 1
        if self.messages == 1:
            return  # the snapshot on connect is not a push
        at = payload.find(_SENT) + len(_SENT)
        end = payload.find(b",", at)
        self.lags.append(now - int(payload[at:end]))


async def _watch(url: str, count: int, seconds: float) -> dict[str, float]:
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
            await asyncio.wait_for(ready, 30)

    started = time.perf_counter()
    await asyncio.gather(*(connect() for _ in range(count)))
    connect_s = time.perf_counter() - started
    print(json.dumps({"connected": sum(v.open for v in viewers), "connect_s": connect_s}), flush=True)
    lags: list[float] = []
    for viewer in viewers:
        viewer.lags = lags
        viewer.snapshots = 0
    before = sum(v.messages for v in viewers)
    await asyncio.sleep(seconds)
    received = sum(v.messages for v in viewers) - before
    still_open = sum(v.open for v in viewers)
    resyncs = sum(v.snapshots for v in viewers)
    for viewer in viewers:
        if viewer.transport is not None:
            viewer.transport.abort()
    lags.sort()
    def pick(q: float) -> float:
        return lags[min(len(lags) - 1, int(q * len(lags)))] if lags else float("nan")

    return {"viewers": count, "open_at_end": still_open, "messages": received, "resyncs": resyncs,
            "per_viewer_hz": received / max(1, count) / seconds, "p50_ms": pick(0.50), "p99_ms": pick(0.99),
            "max_ms": lags[-1] if lags else float("nan"), "connect_s": connect_s}


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdout=log.open("ab"),
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def _measure(url: str, app: psutil.Process, count: int, seconds: float, logs: Path) -> dict[str, float]:
    """One round: start the viewer process, wait for it to connect, watch the app for `seconds`."""
    viewers = subprocess.Popen([sys.executable, "-m", "bench.fanout", url, str(count), str(seconds)],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=(logs / "viewers.log").open("ab"),
                               text=True)
    try:
        assert viewers.stdout is not None
        connected = json.loads(viewers.stdout.readline() or "{}")
        if connected.get("connected") != count:
            raise RuntimeError(f"only {connected.get('connected')} of {count} viewers connected")
        cpu_before, wall_before = sum(app.cpu_times()[:2]), time.perf_counter()
        client = psutil.Process(viewers.pid)
        client_before = sum(client.cpu_times()[:2])
        rss = 0.0
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            rss = max(rss, app.memory_info().rss / 2**20)
            time.sleep(0.25)
        wall = time.perf_counter() - wall_before
        cpu = (sum(app.cpu_times()[:2]) - cpu_before) / wall * 100
        client_cpu = (sum(client.cpu_times()[:2]) - client_before) / wall * 100
        result = json.loads(viewers.stdout.readline())
        viewers.wait(30)
    finally:
        if viewers.poll() is None:
            viewers.kill()
            viewers.wait()
    return {**result, "app_cpu_pct": cpu, "app_rss_mib": rss, "client_cpu_pct": client_cpu}


def run(bootstrap: str, quick: bool) -> list[Figure]:
    sizes, seconds = (QUICK, 8.0) if quick else (FULL, 20.0)
    run_id = uuid.uuid4().hex[:6]
    port = free_port()
    logs = Path(tempfile.mkdtemp(prefix="bench-fanout-"))
    env = {**os.environ, "KAFKA_BOOTSTRAP": bootstrap, "ORDERS_TOPIC": f"fanout-{run_id}",
           "AGGREGATES_TOPIC": f"fanout-{run_id}.aggregates", "DLQ_TOPIC": f"fanout-{run_id}.dlq",
           "ORDERS_PARTITIONS": "4", "STREAM_GROUP": f"bench-fanout-{run_id}", "PUSH_HZ": "4",
           "FAUST_DATADIR": str(logs / "faust")}
    url = f"http://127.0.0.1:{port}"
    # Enough load for a change, and so a delta, on every tick, for every round.
    duration = str(int(len(sizes) * (seconds + 40) + 60))
    processes = [_start(["-m", "stream", "--loglevel", "warn"], env, logs / "stream.log"),
                 _start(["-m", "app", "--port", str(port), "--log-level", "warning"], env, logs / "app.log")]
    figures: list[Figure] = []
    try:
        _wait_healthy(url, 90)
        processes.append(_start(["-m", "loadgen", "run", "--rate", "200", "--duration", duration], env,
                                logs / "loadgen.log"))
        _wait_orders(url, 60)
        app = psutil.Process(processes[1].pid)
        for count in sizes:
            print(f"{count:,} viewers ...", flush=True)
            r = _measure(url.replace("http", "ws") + "/ws", app, count, seconds, logs)
            print(f"  {count:,} viewers: push lag p50 {r['p50_ms']:.0f} ms, p99 {r['p99_ms']:.0f} ms, "
                  f"max {r['max_ms']:.0f} ms; {r['per_viewer_hz']:.2f} msgs/s per viewer, "
                  f"{r['resyncs']} resyncs, {r['open_at_end']:,} open at end; "
                  f"app CPU {r['app_cpu_pct']:.0f}%, RSS {r['app_rss_mib']:.0f} MiB; "
                  f"viewers' process CPU {r['client_cpu_pct']:.0f}%", flush=True)
            at_goal = count >= GOAL_VIEWERS
            figures += [
                Figure("fan-out", f"push lag p50, {count:,} viewers at 4 Hz", r["p50_ms"], "ms"),
                Figure("fan-out", f"push lag p99, {count:,} viewers at 4 Hz", r["p99_ms"], "ms",
                       goal="≤ 1 s at 5,000 viewers" if at_goal else "",
                       met=r["p99_ms"] <= GOAL_P99_MS and r["open_at_end"] == count if at_goal else None),
                Figure("fan-out", f"app CPU, {count:,} viewers", r["app_cpu_pct"], "% of a core"),
                Figure("memory", f"app RSS, {count:,} viewers", r["app_rss_mib"], "MiB",
                       goal="≤ 200 MB at 5,000 viewers" if at_goal else "",
                       met=r["app_rss_mib"] * 2**20 <= GOAL_RSS_MIB * 1e6 if at_goal else None),
            ]
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
    result = asyncio.run(_watch(sys.argv[1], int(sys.argv[2]), float(sys.argv[3])))
    print(json.dumps(result), flush=True)
