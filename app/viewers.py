"""Fan-out to websocket viewers: each update is encoded once and offered to every viewer of that day.

A viewer holds at most one pending message. If a new update arrives before the last one went out, the
viewer is marked for a resync and gets one fresh snapshot instead: memory per viewer stays bounded and a
slow viewer never holds up the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import orjson

from app.view import SalesView


class Viewer:
    def __init__(self, day: str) -> None:
        self.day = day
        self.pending: bytes | None = None
        self.resync = True  # the first thing a viewer gets is a snapshot
        self.wake = asyncio.Event()
        self.wake.set()

    def offer(self, message: bytes) -> None:
        if self.resync or self.pending is not None:
            self.pending = None
            self.resync = True
        else:
            self.pending = message
        self.wake.set()

    def next_message(self, snapshot: Callable[[str], bytes]) -> bytes | None:
        self.wake.clear()
        if self.resync:
            self.resync = False
            self.pending = None
            return snapshot(self.day)
        message, self.pending = self.pending, None
        return message


class Hub:
    def __init__(self, view: SalesView) -> None:
        self.view = view
        self.viewers: set[Viewer] = set()
        self.pushed = 0

    def snapshot_message(self, day: str) -> bytes:
        return orjson.dumps({"type": "snapshot", **self.view.snapshot(day)})

    def publish(self) -> int:
        """Offer every changed day's delta to its viewers; returns how many viewers were offered one."""
        offered = 0
        for day, minutes in self.view.take_changes().items():
            watchers = [v for v in self.viewers if v.day == day]
            if not watchers:
                continue
            message = orjson.dumps({"type": "delta", **self.view.snapshot(day, minutes)})
            for viewer in watchers:
                viewer.offer(message)
            offered += len(watchers)
        return offered

    async def run(self, hz: float) -> None:
        while True:
            await asyncio.sleep(1 / hz)
            self.publish()
