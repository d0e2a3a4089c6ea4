"""Fan-out to websocket viewers: each update is encoded once and offered to every viewer of that day.

A viewer holds at most one pending message. If a new update arrives before the last one went out, the
viewer is marked for a resync and gets one fresh snapshot instead: memory per viewer stays bounded and a
slow viewer never holds up the others. Snapshots are encoded once per day per push tick and shared too.

Every snapshot and delta carries `epoch` (this process's view: a new one's seq 1 is no repeat) and `seq`,
per day (a merchant's viewers: per day and merchant): a delta is step `seq` of the day, a snapshot holds
every step through its `seq`. A page applies a delta only if it is the next step after what it holds, and
asks for a snapshot otherwise.

Alerts ride the same sockets: every snapshot carries the alerts its viewer may see, and when they change
(app.alert_watch) one `alerts` message is encoded per audience (the global page's viewers, each merchant's
viewers: app.alerts.for_merchant) and offered only to an audience whose alerts changed.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable, Collection
from typing import Any

import orjson

from app.alerts import Alert, for_merchant, public
from app.server import text_frame
from stream.core.salesview import Changes, SalesView

Frame = str | bytes  # an encoded websocket message


class Signal:
    """asyncio.Event's set/clear/wait for one waiter, without the Event's deque: ~0.7 KB less a viewer."""

    def __init__(self) -> None:
        self._set = False
        self._waiter: asyncio.Future[None] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> None:
        if self._set:
            return
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None


class Viewer:
    merchant: str | None = None  # a merchant's viewer (app.merchant_feed) gets that merchant's figures

    def __init__(self, day: str) -> None:
        self.day = day
        self.pending: Frame | None = None
        self.resync = True  # the first thing a viewer gets is a snapshot
        self.wake = Signal()
        self.wake.set()
        self.sending_since: float | None = None  # monotonic time the current send began; None when idle
        self.drop: Callable[[], None] = lambda: None  # set by whoever owns the connection
        # The socket's direct frame write (app.server), set by whoever owns the connection; None: none.
        self.write: Callable[[bytes], bool] | None = None

    def offer(self, message: Frame) -> bool:
        """Take the next message; True when it was written to the socket at once."""
        if self.resync or self.pending is not None:
            self.pending = None
            self.resync = True
        elif (self.write is not None and self.sending_since is None and not self.wake.is_set()
              and self.write(wire(message))):
            return True  # idle, nothing queued before it, and the socket takes it: no task switch
        else:
            self.pending = message
        self.wake.set()
        return False

    def ask_resync(self) -> None:
        self.pending = None
        self.resync = True
        self.wake.set()

    def next_message(self, snapshot: Callable[[str], Frame]) -> Frame | None:
        self.wake.clear()
        if self.resync:
            # Still resyncing while it is made: a health change offered meanwhile is not written first.
            fresh = snapshot(self.day)
            self.resync = False
            self.pending = None  # whatever was offered while it was made (a health change) is in it
            return fresh
        message, self.pending = self.pending, None
        return message


class _Wire:
    """The websocket frame of the message being offered to one viewer after another, made once."""

    def __init__(self) -> None:
        self._message: Frame | None = None  # held, so an identity check cannot match a reused id
        self._frame = b""

    def __call__(self, message: Frame) -> bytes:
        if message is not self._message:
            self._message = message
            self._frame = text_frame(message.encode() if isinstance(message, str) else message)
        return self._frame


wire = _Wire()


def visible(alerts: list[Alert], merchant: str | None) -> list[Alert]:
    """The alerts a viewer of `merchant`'s view may see; None: the global page sees them all."""
    return alerts if merchant is None else for_merchant(alerts, merchant)


def encode(kind: str, body: dict[str, Any]) -> str:
    # sent_ms: the server's clock when the message was made, so a client can measure its push lag.
    return orjson.dumps({"type": kind, "sent_ms": int(time.time() * 1000), **body}).decode()


class Hub:
    def __init__(self, view: SalesView, kafka_up: Callable[[], bool] = lambda: True,
                 merchant_extra: Callable[[dict[str, Any]], dict[str, Any]] = lambda body: body) -> None:
        self.view = view
        self.merchant_extra = merchant_extra  # a merchant's snapshot with what comes along (its compare)
        self.kafka_up = kafka_up  # the feed's health answer, asked once a tick
        self.kafka = bool(kafka_up())  # as viewers know it: snapshots carry it, a health message moves it
        self.viewers: set[Viewer] = set()
        self.pushed = 0  # messages written to viewers' sockets
        self.stalled = 0  # viewers dropped because they stopped taking messages
        self.connected = 0  # viewers ever accepted
        self._snapshots: dict[str, str] = {}
        self.epoch = secrets.token_hex(8)
        self._seq: dict[str, int] = {}  # day -> the last delta's step (days that changed while watched)
        self._merchants: dict[tuple[str, str], str] = {}
        self._merchant_seq: dict[tuple[str, str], int] = {}  # (day, merchant) -> its last delta's step
        self.alerts: list[Alert] = []  # as viewers know them: in snapshots, and moved by alerts messages

    def _check_health(self) -> None:
        if bool(self.kafka_up()) != self.kafka:
            # Health moved since the last tick (a newcomer right after /healthz said 200): everyone learns
            # it now, and no snapshot cached with the old answer goes out.
            self._publish_health()
            self._snapshots.clear()
            self._merchants.clear()

    def snapshot_message(self, day: str) -> str:
        self._check_health()
        message = self._snapshots.get(day)
        if message is None:
            body = {**self.view.snapshot(day), "kafka": self.kafka, "alerts": public(self.alerts),
                    "epoch": self.epoch, "seq": self._seq.get(day, 0)}
            message = self._snapshots[day] = encode("snapshot", body)
        return message

    def merchant_message(self, day: str, merchant: str) -> str:
        """One merchant's day as a whole snapshot (app.merchant_feed), encoded once a tick."""
        self._check_health()
        message = self._merchants.get((day, merchant))
        if message is None:
            body = {**self.merchant_extra(self.view.merchant_snapshot(day, merchant)), "kafka": self.kafka,
                    "alerts": public(visible(self.alerts, merchant)),
                    "epoch": self.epoch, "seq": self._merchant_seq.get((day, merchant), 0)}
            message = self._merchants[(day, merchant)] = encode("snapshot", body)
        return message

    def publish(self) -> int:
        """Offer a health change to every viewer and every changed day's delta to its viewers; returns how
        many offers were made."""
        # Snapshots live one tick at most: a newcomer never starts from state older than the last delta.
        self._snapshots.clear()
        self._merchants.clear()
        offered = self._publish_health()
        for day, changes in self.view.take_changes().items():
            offered += self._publish_merchants(day, changes)
            watchers = [v for v in self.viewers if v.day == day and v.merchant is None]
            if not watchers:
                continue
            seq = self._seq[day] = self._seq.get(day, 0) + 1
            message = encode("delta", {**self.view.snapshot(day, changes), "epoch": self.epoch, "seq": seq})
            offered += self._offer(message, watchers)
        return offered

    def _offer(self, message: Frame, viewers: Collection[Viewer]) -> int:
        """Offer one encoded message to each of `viewers`; returns how many."""
        self.pushed += sum(viewer.offer(message) for viewer in viewers)  # written at once, no task switch
        return len(viewers)

    def _audiences(self, day: str | None = None) -> dict[str | None, list[Viewer]]:
        """The viewers (of `day`, if given) by the merchant they watch; None: the global page."""
        audiences: dict[str | None, list[Viewer]] = {}
        for viewer in self.viewers:
            if day is None or viewer.day == day:
                audiences.setdefault(viewer.merchant, []).append(viewer)
        return audiences

    def _publish_merchants(self, day: str, changes: Changes) -> int:
        """Each watched merchant's delta of the day's changes (its touched minutes), encoded
        once for its watchers."""
        offered = 0
        for merchant, viewers in self._audiences(day).items():
            if merchant is None:
                continue
            seq = self._merchant_seq[(day, merchant)] = self._merchant_seq.get((day, merchant), 0) + 1
            message = encode("delta", {**self.view.merchant_snapshot(day, merchant, changes),
                                       "epoch": self.epoch, "seq": seq})
            offered += self._offer(message, viewers)
        return offered

    def _publish_health(self) -> int:
        kafka = bool(self.kafka_up())
        if kafka == self.kafka:
            return 0
        self.kafka = kafka
        # One encoding for everyone; a viewer that gets a snapshot instead learns it from the snapshot.
        return self._offer(encode("health", {"kafka": kafka}), self.viewers)

    def alerts_changed(self, before: list[Alert], after: list[Alert]) -> None:
        """An AlertWatch listener: offer each audience whose alerts changed one shared `alerts` message.
        `before` is the watch's; the hub compares with what its viewers were told."""
        known, self.alerts = self.alerts, after
        self._snapshots.clear()  # a newcomer's snapshot must not carry the old alerts
        self._merchants.clear()
        for merchant, viewers in self._audiences().items():
            seen = visible(after, merchant)
            if seen == visible(known, merchant):
                continue  # another merchant's alert moved: nothing this audience may see changed
            self._offer(encode("alerts", {"alerts": public(seen)}), viewers)

    def drop_stalled(self, timeout_s: float) -> int:
        """Disconnect every viewer whose current send has waited longer than `timeout_s`."""
        # One scan a tick instead of a timer on every send: sends are 20,000 a second at 5,000 viewers.
        now = time.monotonic()
        stalled = [v for v in self.viewers
                   if v.sending_since is not None and now - v.sending_since > timeout_s]
        for viewer in stalled:
            self.viewers.discard(viewer)
            self.stalled += 1
            viewer.drop()
        return len(stalled)

    async def run(self, hz: float, stall_timeout_s: float) -> None:
        # A fixed rate: the time a publish takes is not added to the period (a busy tick is skipped, not
        # made up for in a burst).
        loop = asyncio.get_running_loop()
        period = 1 / hz
        due = loop.time() + period
        while True:
            await asyncio.sleep(max(0.0, due - loop.time()))
            self.publish()
            self.drop_stalled(stall_timeout_s)
            due = max(due + period, loop.time())
