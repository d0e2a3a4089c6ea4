"""Fan-out to websocket viewers: each update is encoded once and offered to every viewer of that day.

A viewer holds at most one pending message. If a new update arrives before the last one went out, the
viewer is marked for a resync and gets one fresh snapshot instead: memory per viewer stays bounded and a
slow viewer never holds up the others. Snapshots are encoded once per day per push tick and shared too.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import orjson

from app.view import SalesView

Message = str | bytes


class Viewer:
    def __init__(self, day: str) -> None:
        self.day = day
        self.pending: Message | None = None
        self.resync = True  # the first thing a viewer gets is a snapshot
        self.wake = asyncio.Event()
        self.wake.set()

    def offer(self, message: Message) -> None:
        if self.resync or self.pending is not None:
            self.pending = None
            self.resync = True
        else:
            self.pending = message
        self.wake.set()

    def ask_resync(self) -> None:
        self.pending = None
        self.resync = True
        self.wake.set()

    def next_message(self, snapshot: Callable[[str], Message]) -> Message | None:
        self.wake.clear()
        if self.resync:
            self.resync = False
            self.pending = None
            return snapshot(self.day)
        message, self.pending = self.pending, None
        return message


def encode(kind: str, body: dict[str, Any]) -> str:
    # sent_ms: the server's clock when the message was made, so a client can measure its push lag.
    return orjson.dumps({"type": kind, "sent_ms": int(time.time() * 1000), **body}).decode()


class Hub:
    def __init__(self, view: SalesView) -> None:
        self.view = view
        self.viewers: set[Viewer] = set()
        self.pushed = 0  # messages written to viewers' sockets
        self.stalled = 0  # viewers dropped because they stopped taking messages
        self.connected = 0  # viewers ever accepted
        self._snapshots: dict[str, str] = {}

    def snapshot_message(self, day: str) -> str:
        message = self._snapshots.get(day)
        if message is None:
            message = self._snapshots[day] = encode("snapshot", self.view.snapshot(day))
        return message

    def publish(self) -> int:
        """Offer every changed day's delta to its viewers; returns how many viewers were offered one."""
        # Snapshots live one tick at most: a newcomer never starts from state older than the last delta.
        self._snapshots.clear()
        offered = 0
        for day, changes in self.view.take_changes().items():
            watchers = [v for v in self.viewers if v.day == day]
            if not watchers:
                continue
            message = encode("delta", self.view.snapshot(day, changes))
            for viewer in watchers:
                viewer.offer(message)
            offered += len(watchers)
        return offered

    async def run(self, hz: float) -> None:
        while True:
            await asyncio.sleep(1 / hz)
            self.publish()
