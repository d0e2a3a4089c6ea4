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


def test_a_kafka_health_change_is_pushed_to_every_viewer_in_one_encoding() -> None:
    up = [True]
    hub = Hub(SalesView(), lambda: up[0])
    viewers = [Viewer("2026-11-27"), Viewer("2026-11-27"), Viewer("2026-11-28")]
    for viewer in viewers:
        hub.viewers.add(viewer)
        assert orjson.loads(viewer.next_message(hub.snapshot_message) or "")["kafka"] is True
    assert hub.publish() == 0 and all(v.next_message(hub.snapshot_message) is None for v in viewers)

    up[0] = False
    assert hub.publish() == 3
    pushed = [v.next_message(hub.snapshot_message) for v in viewers]
    assert all(message is pushed[0] for message in pushed)  # encoded once for all
    health = orjson.loads(pushed[0] or "")
    assert health.keys() == {"type", "kafka", "sent_ms"} and health["type"] == "health"
    assert health["kafka"] is False and isinstance(health["sent_ms"], int)
    newcomer = Viewer("2026-11-27")
    assert orjson.loads(newcomer.next_message(hub.snapshot_message) or "")["kafka"] is False
    assert hub.publish() == 0  # no change, no message: the state is news only when it moves

    up[0] = True
    hub.publish()
    assert orjson.loads(viewers[0].next_message(hub.snapshot_message) or "") | {"sent_ms": 0} == {
        "type": "health", "kafka": True, "sent_ms": 0}


def test_a_viewer_with_a_message_pending_gets_a_snapshot_that_tells_the_health() -> None:
    up = [True]
    hub = Hub(SalesView(), lambda: up[0])
    viewer = Viewer("2026-11-27")
    hub.viewers.add(viewer)
    viewer.next_message(hub.snapshot_message)
    viewer.offer("a delta not sent yet")
    up[0] = False
    hub.publish()  # the health message lands on a pending one: latest state wins, as a snapshot
    message = orjson.loads(viewer.next_message(hub.snapshot_message) or "")
    assert message["type"] == "snapshot" and message["kafka"] is False


def test_a_newcomer_between_ticks_is_told_kafka_as_it_is_now_and_then_no_stale_health() -> None:
    up = [False]
    hub = Hub(SalesView(), lambda: up[0])  # the app starts before its first answer from Kafka
    up[0] = True  # Kafka answers: /healthz says 200 at once, the hub's next tick is up to 1/PUSH_HZ away
    newcomer = Viewer("2026-11-27")
    hub.viewers.add(newcomer)
    assert orjson.loads(newcomer.next_message(hub.snapshot_message) or "")["kafka"] is True
    assert hub.publish() == 0 and newcomer.next_message(hub.snapshot_message) is None
