"""Every door of the app flooded for 30 s beside 500 live viewers (the benchmark's viewer client, in its
own process): reports, audits and replays of days nobody has, bodies past the bound, replay sockets on
bogus ids and absurd speeds, snapshots of any day. The viewers' push lag p99 stays within 1 s, none is
dropped, and /healthz says 200 throughout."""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
import sys
import time

import httpx
import pytest
import websockets

from tests.conftest import ARTIFACTS, ROOT, App, Processes, wait_until

pytestmark = [pytest.mark.kafka]
VIEWERS, SECONDS, FLOODERS = 500, 30.0, 96
MAX_DATA_AGE_MS = 3000


def _doors(n: int) -> tuple[str, str, dict[str, object] | bytes | None]:
    """The n-th request of the flood: (method, path, body)."""
    day = f"2001-{1 + n % 12:02d}-{1 + n % 28:02d}"
    return [("GET", f"/api/reports/{day}.html", None), ("GET", f"/api/audits?day={day}", None),
            ("POST", "/api/audits", {"day": day}), ("POST", "/api/replays", {"day": day}),
            ("POST", "/api/replays", b"{" + b" " * 2_000_000 + b"}"),
            ("GET", f"/api/snapshot?day={day}", None),
            ("GET", "/api/days", None), ("WS", f"/ws?replay={day}-{n:08x}", None),
            ("WS", f"/ws?replay={day}-0000beef&speed=1e308", None)][n % 9]


async def _flood(app: App, until: float) -> dict[str, int]:
    answers: dict[str, int] = {}
    counter = itertools.count()

    async def one(client: httpx.AsyncClient) -> None:
        while time.monotonic() < until:
            method, path, body = _doors(next(counter))
            try:
                if method == "WS":  # opened and left silent: it may hold a slot only while it plays
                    async with websockets.connect(app.ws_url.removesuffix("/ws") + path, open_timeout=5,
                                                  close_timeout=1) as ws:
                        await asyncio.wait_for(ws.recv(), 2)
                    status = 101
                elif isinstance(body, bytes):
                    status = (await client.post(path, content=body)).status_code
                else:
                    status = (await client.request(method, path, json=body)).status_code
            except (httpx.HTTPError, websockets.WebSocketException, TimeoutError, OSError) as exc:
                status = -1 if not isinstance(exc, websockets.InvalidStatus) else exc.response.status_code
            route = path.split("?")[0].strip("/").split("/")
            door = f"{method} {route[-1 if method == 'WS' else 1]} {status}"
            answers[door] = answers.get(door, 0) + 1

    async with httpx.AsyncClient(base_url=app.url, timeout=10) as client:
        await asyncio.gather(*(one(client) for _ in range(FLOODERS)))
    return answers


async def _health(app: App, until: float) -> list[tuple[int, int | None]]:
    """/healthz every half second: (status, data_age_ms)."""
    answers: list[tuple[int, int | None]] = []
    async with httpx.AsyncClient(base_url=app.url, timeout=5) as client:
        while time.monotonic() < until:
            try:
                answer = await client.get("/healthz")
                answers.append((answer.status_code, answer.json()["data_age_ms"]))
            except httpx.HTTPError:
                answers.append((-1, None))
            await asyncio.sleep(0.5)
    return answers


async def _beside(app: App) -> tuple[dict[str, int], list[tuple[int, int | None]]]:
    until = time.monotonic() + SECONDS
    return await asyncio.gather(_flood(app, until), _health(app, until))


def test_a_flood_of_every_door_leaves_the_viewers_and_the_health_probe_alone(
    stack: App, processes: Processes
) -> None:
    processes.start("loadgen", "-m", "loadgen", "run", "--rate", "100", "--duration", str(int(SECONDS) + 60))
    wait_until(lambda: stack.get("/api/snapshot").json()["totals"]["orders"] > 0, 30, message="orders")
    viewers = subprocess.Popen([sys.executable, "-m", "bench.fanout", stack.ws_url, str(VIEWERS),
                                str(SECONDS)], cwd=ROOT, env=processes.env, stdout=subprocess.PIPE, text=True)
    try:
        assert viewers.stdout is not None
        assert json.loads(viewers.stdout.readline())["connected"] == VIEWERS
        answers, health = asyncio.run(_beside(stack))
        watched = json.loads(viewers.stdout.readline())
    finally:
        viewers.kill()
        viewers.wait()
    flooded = sum(answers.values())
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "flood.json").write_text(json.dumps({"answers": answers, "health": health, "viewers": {
        k: v for k, v in watched.items() if k != "histogram"}}, indent=1))
    assert flooded > 500, answers  # the doors were knocked on, all of them
    assert {key.split()[1] for key in answers} >= {"reports", "audits", "replays", "snapshot", "days", "ws"}
    assert not any(key.endswith(" 500") for key in answers), answers
    # A silent socket on a bogus id holds no tape slot past its failure: no replay socket is turned away.
    assert not any(key.startswith("WS") and key.endswith(" 503") for key in answers), answers
    assert health and all(status == 200 for status, _ in health), (health, answers)
    # The feed kept folding: with orders every 10 ms, a checkpoint is never seconds old.
    assert max(age or 0 for _, age in health) <= MAX_DATA_AGE_MS, health
    assert watched["open_at_end"] == VIEWERS, watched
    assert watched["p99_ms"] <= 1000, (watched["p99_ms"], answers)
    # Every tick brought every viewer its update (PUSH_HZ 4, a change every tick), not a fraction of them.
    assert watched["per_viewer_hz"] >= 3.5, watched
