"""Replaying a day from the page, on the real broker: the days the log holds, a session the app prepares,
played to the end with the ground truth's figures, mid-day minutes already exact, clear refusals, and the
whole round trip in a real browser: open at x600, the counter advances, pause, seek, back to live."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import websockets
from confluent_kafka import Producer
from playwright.sync_api import Page

from stream.core.eventtime import MINUTE_MS, parse_day
from stream.core.routing import partition_for
from tests.conftest import App, Processes, picture, settled, wait_until
from tests.e2e.test_replay import DAY, backfill
from tests.support.truth import by_minute, money
from tests.support.web import Fold, orders_now

pytestmark = pytest.mark.kafka
START, END = parse_day(DAY)
NOON = START + 12 * 60 * MINUTE_MS
LATE_MAX_MS = 120_000  # backfill's --late-max


def start_replay(app: App, day: str) -> httpx.Response:
    return httpx.post(app.url + "/api/replays", json={"day": day}, timeout=30)


def listed(app: App, day: str) -> None:
    """Wait for the day in /api/days: the workers' day index lists it once they have counted some of it."""
    wait_until(lambda: any(d["day"] == day for d in app.get("/api/days").json()["days"]), 60,
               message=f"{day} in /api/days")


async def watch(app: App, session: str, speed: str, until: str, commands: tuple[dict[str, Any], ...] = (),
                timeout: float = 90) -> tuple[Fold, dict[str, Any]]:
    """Fold a replay's messages as the page does until its state is `until`; returns the fold and status."""
    fold, status = Fold(), {}
    async with websockets.connect(f"{app.ws_url}?replay={session}&speed={speed}", max_size=None) as ws:
        for command in commands:
            await ws.send(orjson.dumps(command).decode())
        deadline = time.monotonic() + timeout
        while status.get("state") != until:
            message = orjson.loads(await asyncio.wait_for(ws.recv(), max(0.1, deadline - time.monotonic())))
            status = message.get("replay", status)
            assert status.get("state") != "failed", status
            if message["type"] in ("snapshot", "delta"):
                fold.apply(message)
    return fold, status


def test_the_page_replays_a_day_to_the_cent_of_the_ground_truth_and_the_live_view(
    stack: App, processes: Processes, tmp_path: Path
) -> None:
    truth = backfill(processes, tmp_path / "truth.json")
    counts, want = truth["counts"], truth["days"][DAY]
    wait_until(lambda: (body := settled(stack, DAY)) and body["totals"]["orders"] >= want["totals"]["orders"],
               60, message="the day counted")
    # Listed from the workers' day index: the offsets it spans, each partition's first to its last record
    # counted or tallied into the day (copies at a partition's end are past its last).
    (listed,) = stack.get("/api/days").json()["days"]
    assert listed["day"] == DAY
    assert counts["acknowledged"] - counts["duplicates"] <= listed["records"] <= counts["acknowledged"]

    started = start_replay(stack, DAY)
    assert started.status_code == 202, started.text
    session = started.json()["session"]
    fold, status = asyncio.run(watch(stack, session, "max", until="ended"))

    replayed = fold.as_snapshot()
    assert status["complete"] and status["clock_ms"] == END
    assert money(replayed["totals"]) == want["totals"]
    assert by_minute(replayed) == by_minute(want)
    live = wait_until(lambda: (body := settled(stack, DAY)) and
                      body["totals"]["orders"] >= want["totals"]["orders"] and body, 60, message="live day")
    assert replayed["totals"] == live["totals"]  # unique shoppers and AOV too
    for breakdown in ("countries", "channels", "top_merchants", "top_products"):
        assert replayed[breakdown] == live[breakdown], breakdown

    # Paused at noon: every minute that late events can no longer reach is already the truth's.
    fold, status = asyncio.run(watch(stack, session, "600", until="paused", commands=(
        {"type": "pause"}, {"type": "seek", "to_ms": NOON})))
    assert status["clock_ms"] == NOON
    reachable_from = NOON - MINUTE_MS - LATE_MAX_MS - MINUTE_MS  # checkpoints are cut a minute apart
    settled_minutes = {m: v for m, v in by_minute(want).items() if m < reachable_from}
    shown = by_minute(fold.as_snapshot())
    assert {m: shown.get(m) for m in settled_minutes} == settled_minutes
    assert max(shown) < NOON and fold.as_snapshot()["totals"]["orders"] < want["totals"]["orders"]


def test_a_replay_that_cannot_start_says_why(stack: App, processes: Processes, tmp_path: Path) -> None:
    backfill(processes, tmp_path / "truth.json", orders=2_000)
    topic = processes.env["ORDERS_TOPIC"]
    assert start_replay(stack, "2025-11-29").json() == {"error": f"no orders for 2025-11-29 in topic {topic}"}
    assert start_replay(stack, "2025-11-29").status_code == 404
    future = start_replay(stack, "2999-01-01")
    assert (future.status_code, future.json()) == (400, {"error": "day: 2999-01-01 is in the future"})
    assert start_replay(stack, "Black Friday").status_code == 400
    junk = httpx.post(stack.url + "/api/replays", content=b"{nope", timeout=10)
    assert junk.status_code == 400 and "YYYY-MM-DD" in junk.json()["error"]

    async def unknown() -> dict[str, Any]:
        async with websockets.connect(f"{stack.ws_url}?replay=no-such-session") as ws:
            while True:
                message = orjson.loads(await asyncio.wait_for(ws.recv(), 40))
                if message["replay"]["state"] != "loading":
                    return dict(message["replay"])

    assert asyncio.run(unknown()) == {"session": "no-such-session", "state": "failed",
                                      "error": "no replay session no-such-session"}


@pytest.mark.browser
def test_a_replay_opened_from_the_page_advances_pauses_seeks_and_returns_to_live(
    stack: App, processes: Processes, tmp_path: Path, page: tuple[Page, list[str]]
) -> None:
    tab, errors = page
    truth = backfill(processes, tmp_path / "truth.json")
    tab.goto(stack.url)
    tab.wait_for_selector("#conn[data-state=live]", timeout=15_000)
    tab.wait_for_selector(f"#replay-day option[value='{DAY}']", state="attached", timeout=15_000)
    assert tab.get_attribute("body", "data-mode") is None

    tab.select_option("#replay-day", DAY)
    tab.select_option("#replay-speed", "600")
    tab.click("#replay-start")
    tab.wait_for_url("**/?replay=*", timeout=15_000)
    assert tab.get_attribute("body", "data-mode") == "replay"
    assert tab.is_visible("#replay-bar") and tab.text_content(".replay-badge") == "Replay"
    assert tab.text_content("#conn") == "replay"

    def orders() -> int:
        return int(tab.get_attribute("#orders", "data-value") or "0")

    def clock() -> int:
        return int(tab.get_attribute("#replay-bar", "data-clock-ms") or "0")

    wait_until(lambda: orders() > 0, 60, message="the replay's first orders")
    readings, walls = [], []
    for _ in range(6):
        time.sleep(0.5)
        readings.append((clock(), orders()))
        walls.append(time.monotonic())
    assert readings == sorted(readings) and readings[-1][1] > readings[0][1], readings  # it advances
    # x600: ten minutes of the day per wall second, measured against the wall time the readings took (a
    # loaded machine stretches the sleeps); the page's clock ticks a few times a second, hence the margin.
    speed = (readings[-1][0] - readings[0][0]) / ((walls[-1] - walls[0]) * 1000)
    assert 300 <= speed <= 900, (speed, readings, walls)

    tab.click("#replay-toggle")
    wait_until(lambda: tab.text_content("#replay-state") == "paused", 10, message="paused")
    held = (clock(), orders())
    time.sleep(1.5)
    assert (clock(), orders()) == held and tab.text_content("#replay-toggle") == "Play"

    # Seek: drag the scrubber to 18:00 (minute 1080 of the day) while paused.
    tab.eval_on_selector("#replay-scrub", """(el) => { el.value = '1080';
        el.dispatchEvent(new Event('input')); el.dispatchEvent(new Event('change')); }""")
    wait_until(lambda: clock() == START + 1080 * MINUTE_MS, 30, message="the clock at 18:00")
    assert tab.text_content("#replay-clock") == "18:00:00 UTC"
    want = truth["days"][DAY]
    before_six = sum(m["orders"] for m in want["minutes"] if m["start_ms"] < START + 1070 * MINUTE_MS)
    wait_until(lambda: before_six <= orders() < want["totals"]["orders"], 10, message="the figures at 18:00")
    tab.screenshot(path=str(picture("replay.png")))

    tab.click("#replay-exit")
    tab.wait_for_url(stack.url + "/", timeout=10_000)
    tab.wait_for_selector("#conn[data-state=live]", timeout=15_000)
    assert tab.text_content("#conn") == "live" and tab.get_attribute("body", "data-mode") is None
    assert not tab.is_visible("#replay-bar")
    assert errors == []


def test_a_day_closed_in_every_partition_is_prepared_once_and_an_open_one_afresh(
    stack: App, processes: Processes, tmp_path: Path
) -> None:
    backfill(processes, tmp_path / "truth.json", orders=2_000)
    listed(stack, DAY)
    first = start_replay(stack, DAY).json()["session"]
    asyncio.run(watch(stack, first, "max", until="ended"))
    # Nothing after the day yet: a late record could still change it, so it is counted again.
    second = start_replay(stack, DAY).json()["session"]
    assert second != first
    asyncio.run(watch(stack, second, "max", until="ended"))

    close_the_day(processes.env)
    closed = start_replay(stack, DAY).json()["session"]
    assert closed not in (first, second)
    _, status = asyncio.run(watch(stack, closed, "max", until="ended"))
    assert start_replay(stack, DAY).json()["session"] == closed  # now the day cannot change: kept
    assert status["complete"]


def close_the_day(env: dict[str, str]) -> None:
    """An order stamped now for a merchant of every partition: each partition's watermark passes the
    day's close (an order counts in its merchant's partition only)."""
    partitions = int(env["ORDERS_PARTITIONS"])
    homes = {partition_for(f"closer-{i}".encode(), partitions): f"closer-{i}" for i in range(200)}
    assert len(homes) == partitions
    producer = Producer({"bootstrap.servers": env["KAFKA_BOOTSTRAP"], "partitioner": "murmur2_random"})
    for merchant in homes.values():
        (event,) = orders_now(1, merchant_id=merchant)
        producer.produce(env["ORDERS_TOPIC"], orjson.dumps(event), merchant.encode(),
                         timestamp=event["occurred_at"])
    assert producer.flush(20) == 0
