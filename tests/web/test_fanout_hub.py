"""The hub's side of fan-out: one encoding per tick shared by every viewer, stalled viewers dropped."""

from __future__ import annotations

import asyncio
import time

import orjson

from app.fanout import Hub, Signal, Viewer
from stream.core.salesview import SalesView


def test_every_viewer_of_a_day_shares_one_snapshot_per_tick() -> None:
    hub = Hub(SalesView())
    first, second = hub.snapshot_message("2026-11-27"), hub.snapshot_message("2026-11-27")
    assert first is second  # the same object: encoded once
    assert orjson.loads(first)["type"] == "snapshot" and isinstance(orjson.loads(first)["sent_ms"], int)
    hub.publish()
    assert hub.snapshot_message("2026-11-27") is not first  # a new tick, a fresh snapshot


def test_only_viewers_whose_send_waits_too_long_are_dropped() -> None:
    hub = Hub(SalesView())
    dropped: list[str] = []
    viewers = {name: Viewer("2026-11-27") for name in ("idle", "sending", "stuck")}
    for name, viewer in viewers.items():
        viewer.drop = lambda name=name: dropped.append(name)
        hub.viewers.add(viewer)
    now = time.monotonic()
    viewers["sending"].sending_since = now - 1
    viewers["stuck"].sending_since = now - 11
    assert hub.drop_stalled(timeout_s=10) == 1
    assert dropped == ["stuck"] and hub.stalled == 1
    assert viewers["stuck"] not in hub.viewers and len(hub.viewers) == 2


def test_a_signal_wakes_its_waiter_and_stays_set_until_cleared() -> None:
    async def scenario() -> list[str]:
        signal, seen = Signal(), []

        async def waiter() -> None:
            await signal.wait()
            seen.append("woken")

        task = asyncio.create_task(waiter())
        await asyncio.sleep(0.01)
        assert seen == [] and not signal.is_set()
        signal.set()
        await asyncio.wait_for(task, 1)
        await signal.wait()  # already set: returns at once
        signal.clear()
        assert not signal.is_set()
        return seen

    assert asyncio.run(scenario()) == ["woken"]
