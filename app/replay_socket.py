"""/ws?replay=<session>: one viewer's replay, played from the session's checkpoints at the speed it asks
for, in the live feed's message shapes plus a `replay` status; play, pause, seek and speed come back as
frames on the same socket and act on this viewer's clock only."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import orjson
from starlette.websockets import WebSocket, WebSocketDisconnect

from app.fanout import encode
from app.playback import Player
from app.sessions import Library, Loading
from stream.core.clock import parse_speed
from stream.core.eventtime import parse_day
from stream.core.rules import Rules

TICK_S = 0.1  # ×600 moves a minute of the day per tick
MAX_FRAME = 4096
# A tape slot is held only by a socket that plays: one whose session has not started by then is closed.
START_WAIT_S = 5.0
MAX_SPEED = 1e6  # a day in under a tenth of a second; beyond it the clock's arithmetic overflows
MAX_SEEK_MS = 2**53  # a seek target the clock can hold as an exact number


def bounded_speed(text: str) -> float | None:
    """parse_speed, refusing a finite speed too large for the clock (ValueError)."""
    speed = parse_speed(text)
    if speed is not None and speed > MAX_SPEED:
        raise ValueError(f"a speed must be at most {MAX_SPEED:g}, got {text}")
    return speed


def failure(session: str, error: str) -> str:
    """The status message of a replay that cannot be played, and why."""
    return encode("replay", {"replay": {"session": session, "state": "failed", "error": error}})


def control(text: str) -> dict[str, Any] | None:
    """A viewer's frame as a command: play, pause, resync, seek {to_ms}, speed {speed}; None if not one."""
    try:
        frame = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(frame, dict):
        return None
    kind = frame.get("type")
    if kind in ("play", "pause", "resync"):
        return {"type": kind}
    to_ms = frame.get("to_ms")
    seekable = isinstance(to_ms, int) and not isinstance(to_ms, bool) and abs(to_ms) <= MAX_SEEK_MS
    if kind == "seek" and seekable:
        return {"type": "seek", "to_ms": to_ms}
    if kind == "speed" and isinstance(frame.get("speed"), str | int | float):
        try:
            return {"type": "speed", "speed": bounded_speed(str(frame["speed"]))}
        except ValueError:
            return None
    return None


async def watch(websocket: WebSocket, library: Library, loading: Loading, speed: float | None,
                at_ms: int | None, rules: Rules) -> None:
    """Play `loading` (opened for this viewer) on an accepted socket until it closes; then release it."""
    commands: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    if at_ms is not None:  # a viewer reconnecting mid-replay carries on from where it was
        commands.put_nowait({"type": "seek", "to_ms": at_ms})
    player = asyncio.create_task(_play(websocket, loading, speed, rules, commands))
    receiver = asyncio.create_task(_receive(websocket, commands))
    try:
        # Whichever ends first ends both: a player that gave up (failed, never started) closes the socket
        # even while its client stays silent, so its tape slot is free for a viewer that plays.
        await asyncio.wait([player, receiver], return_when=asyncio.FIRST_COMPLETED)
    finally:
        library.close(loading)
        for task in (player, receiver):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
                await task
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await websocket.close()


async def _receive(websocket: WebSocket, commands: asyncio.Queue[dict[str, Any]]) -> None:
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        data = message.get("text") or ""
        if len(data) > MAX_FRAME:
            await websocket.close(code=1009, reason="frame too large")
            return
        command = control(data)
        if command is not None:
            commands.put_nowait(command)


def _speed_name(speed: float | None) -> str:
    return "max" if speed is None else f"{speed:g}"


async def _play(websocket: WebSocket, loading: Loading, speed: float | None, rules: Rules,
                commands: asyncio.Queue[dict[str, Any]]) -> None:
    player: Player | None = None
    last: dict[str, Any] | None = None
    fresh = True  # the next message is a snapshot
    opened = time.monotonic()
    while True:
        tape, doc = loading.tape, loading.doc
        if loading.failed and (tape is None or not tape.records):
            await websocket.send_text(failure(loading.session, loading.failed))
            return
        if player is None and tape is not None and doc is not None:
            start, end = parse_day(doc["day"])
            player = Player(tape, doc["day"], start, end, speed, time.monotonic(), rules)
        if player is None and not loading.prepared_here and time.monotonic() - opened > START_WAIT_S:
            late = f"the session did not start within {START_WAIT_S:g} s; try again"
            await websocket.send_text(failure(loading.session, late))
            return
        if player is None:
            status = {"session": loading.session, "state": "loading", "speed": _speed_name(speed)}
            if status != last:
                await websocket.send_text(encode("replay", {"replay": status}))
                last = status
            await asyncio.sleep(TICK_S)
            continue
        now = time.monotonic()
        while not commands.empty():
            fresh = _obey(player, commands.get_nowait(), now) or fresh
        rewound = await asyncio.to_thread(player.advance, now)
        changes = player.view.take_changes()
        status = _status(player, loading, now)
        view, day = player.view, player.day
        # The ingest rate is the preparation's, not the day's: the page works it out from the seconds.
        if fresh or rewound:
            message = encode("snapshot", {**view.snapshot(day), "ingest_rate": None, "replay": status})
        elif day in changes:
            message = encode("delta", {**view.snapshot(day, changes[day]), "ingest_rate": None,
                                       "replay": status})
        elif status != last:
            message = encode("replay", {"replay": status})
        else:
            message = None
        if message is not None:
            await websocket.send_text(message)
        fresh, last = False, status
        await asyncio.sleep(max(0.0, now + TICK_S - time.monotonic()))


def _obey(player: Player, command: dict[str, Any], now: float) -> bool:
    """Apply a viewer's command to its clock; True if the viewer asked for a fresh snapshot."""
    clock = player.clock
    kind = command["type"]
    if kind == "play":
        clock.play(now)
    elif kind == "pause":
        clock.pause(now)
    elif kind == "seek":
        clock.seek(command["to_ms"], now)
    elif kind == "speed":
        clock.set_speed(command["speed"], now)
    return bool(kind == "resync")


def _status(player: Player, loading: Loading, now: float) -> dict[str, Any]:
    clock, tape = player.clock, player.tape
    due = clock.now(now)
    if loading.failed:
        state = "failed"
    elif player.shown_ms < due:
        state = "loading"  # the clock is ahead of the checkpoints read so far
    elif player.shown_ms >= clock.end_ms and tape.complete:
        state = "ended"
    else:
        state = "playing" if clock.playing else "paused"
    return {"session": loading.session, "day": player.day, "state": state, "clock_ms": player.shown_ms,
            "start_ms": clock.start_ms, "end_ms": clock.end_ms, "speed": _speed_name(clock.speed),
            "playing": clock.playing, "complete": tape.complete, "error": loading.failed}
