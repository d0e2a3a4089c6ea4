"""Replay sessions for the page: the days the workers counted (the view's day index), preparing a day's
session (`python -m stream replay --publish` in a child process, so counting never competes with the
app's event loop), and loading a session's checkpoints into a Tape for players.

The live view is not touched: a session is read from its own topic by a private consumer that never
commits, and the child reads `orders` with a throwaway group id.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from app import registry
from app.lookups import Lookups
from app.playback import Tape
from stream.config import Settings
from stream.core import eventtime
from stream.core.salesview import DayInLog, SalesView
from stream.kafka.reader import Reader
from stream.kafka.timeindex import NoOrders
from stream.replay.session import new_id, registry_topic

log = logging.getLogger("salesdash.app")
ROOT = Path(__file__).resolve().parent.parent
REGISTRY_FRESH_S = 1.0  # a replay socket's session is looked for in a registry read at most this old
OPEN_WAIT_S = 30.0  # how long a session id may stay unknown while its preparation starts
GONE_WAIT_S = 10.0  # how long a session may still say "running" after its preparation exited


class ReplayRefused(Exception):
    """A replay cannot start; the message is one line for the page, the status an HTTP status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Preparation:
    session: str
    day: str
    process: subprocess.Popen[bytes]
    errors: Path

    def failure(self) -> str | None:
        """Why the child failed, once it has; None while it runs or after it succeeded."""
        code = self.process.poll()
        if code is None or code == 0:
            return None
        lines = [line for line in self.errors.read_text(errors="replace").splitlines() if line.strip()]
        return lines[-1].removeprefix("error: ") if lines else f"the replay exited with {code}"


class Loading:
    """A session being read into its Tape by a thread of its own, until the registry says it is done."""

    def __init__(self, settings: Settings, session: str, preparation: Preparation | None) -> None:
        self.session = session
        self.doc: dict[str, Any] | None = None  # the registry entry, once read
        self.tape: Tape | None = None
        self.failed: str | None = None
        self.users = 0
        self._settings = settings
        self._preparation = preparation
        self._gone_since: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"replay-{session}", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()

    @property
    def prepared_here(self) -> bool:
        """This app started the session's preparation: its registry entry may take a while to appear."""
        return self._preparation is not None

    def _run(self) -> None:
        reader = Reader.open(self._settings, "app-replay", missing_is_empty=True)
        try:
            self._read(reader)
        except Exception as exc:  # any Kafka failure ends this session's loading, not the app
            log.error("loading replay session %s failed: %s", self.session, exc)
            self.failed = f"reading the session failed: {exc}"
        finally:
            if self.tape is not None and self.failed:
                self.tape.failed = self.failed
            reader.close()

    def _read(self, reader: Reader) -> None:
        registry = registry_topic(self._settings)
        reader.assign({(registry, 0): 0})
        started = time.monotonic()
        while not self._stop.is_set():
            for message in reader.take(500, 0.2):
                value = message.value()
                if not value:
                    continue
                if message.topic() == registry:
                    if message.key() == self.session.encode():
                        self._registered(reader, orjson.loads(value))
                elif self.tape is not None:
                    self.tape.add(message.partition(), value)
            # The registry's end, or no registry at all: either way every session in it is known.
            registry_read = (registry, 0) in reader.reached_end
            if self.doc is None:
                failure = self._preparation.failure() if self._preparation else None
                if failure or (registry_read and self._preparation is None):
                    self.failed = failure or f"no replay session {self.session}"
                    return
                if time.monotonic() - started > OPEN_WAIT_S and self._preparation is None:
                    self.failed = f"no replay session {self.session}"
                    return
                continue
            state = self.doc.get("state")
            if state == "running" and self._preparation is not None and self._gone(self._preparation):
                self.failed = "the replay stopped before it finished"
                return
            if state == "failed":
                self.failed = f"the replay failed: {self.doc.get('reason', 'unknown reason')}"
                return
            if state == "finished" and self.tape is not None:
                wanted = {int(p): end for p, end in (self.doc.get("ends") or {}).items() if end is not None}
                if all(self.tape.ends.get(p) == end for p, end in wanted.items()):
                    self.tape.complete = True
                    return

    def _gone(self, preparation: Preparation) -> bool:
        """The child has exited and had time to say so in the registry, yet the session still runs."""
        if preparation.process.poll() is None:
            self._gone_since = None
            return False
        if self._gone_since is None:
            self._gone_since = time.monotonic()
        return time.monotonic() - self._gone_since > GONE_WAIT_S

    def _registered(self, reader: Reader, doc: dict[str, Any]) -> None:
        first = self.doc is None
        self.doc = doc
        if first:
            partitions = [int(p) for p in doc.get("read", range(int(doc["partitions"])))]
            self.tape = Tape(partitions)
            reader.assign({(doc["topic"], p): 0 for p in partitions})


class Library:
    """What the app knows of replays: the log's days, preparations it started, sessions it has loaded.

    Bounded both ways: at most `sessions_kept` session topics stay on the broker (preparing a new one
    deletes the least recently used ended ones beyond that, never one being watched), and at most
    `tapes_loaded` sessions are held in memory (idle ones make room; with none idle, `open` refuses).
    """

    def __init__(self, settings: Settings, sessions_kept: int = 20, tapes_loaded: int = 4,
                 view: SalesView | None = None) -> None:
        self.settings = settings
        self.view = view if view is not None else SalesView(settings.rules)  # the app's: its feed folds it
        self.sessions_kept = sessions_kept
        self.tapes_loaded = tapes_loaded
        self._preparations: dict[str, Preparation] = {}
        self._loading: OrderedDict[str, Loading] = OrderedDict()  # least recently opened first
        self._used_ms: dict[str, int] = {}  # session -> when this app last handed it out or opened it
        self._forgetting: set[str] = set()  # sessions being deleted: no viewer may open them meanwhile
        self._logs = Path(tempfile.mkdtemp(prefix="salesdash-replays-"))
        self.lookups = Lookups()
        self._starting = asyncio.Lock()

    async def days(self, fresh: bool = False) -> list[DayInLog]:
        """The days the workers counted or tallied records into, oldest first: from the day index in the
        view the app's feed keeps up to date (never from record timestamps), so `fresh` changes nothing."""
        return self.view.days()

    async def prepare(self, day: str) -> str:
        """A session of `day`: one that holds the day for good, the one being prepared, or a new one."""
        try:
            wanted = eventtime.day(day, int(time.time() * 1000), self.settings.rules.allowed_lateness_ms)
        except ValueError as exc:
            raise ReplayRefused(f"day: {exc}", 400) from None
        if not any(d.name == wanted.name for d in await self.days(fresh=True)):
            raise ReplayRefused(str(NoOrders(day, self.settings.orders_topic)), 404)
        found = await self.lookups.get("registry", self._read_registry, 0.0)
        kept = registry.closed_session(found, day, self.settings.orders_topic)
        if kept is not None:
            self._used_ms[kept] = int(time.time() * 1000)
            return kept
        async with self._starting:  # one start at a time, first asked first: the others see it running
            preparing = self._preparing(day)
            if preparing is not None:
                return preparing
            await self._make_room(found)
            return self._start(day)

    def _start(self, day: str) -> str:
        session = new_id(day)
        errors = self._logs / f"{session}.log"
        with errors.open("wb") as sink:
            process = subprocess.Popen(
                [sys.executable, "-m", "stream", "replay", "--day", day, "--publish", "--session", session],
                cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=sink)
        self._preparations[session] = Preparation(session, day, process, errors)
        self._used_ms[session] = int(time.time() * 1000)
        log.info("preparing replay session %s of %s (pid %s)", session, day, process.pid)
        return session

    def _preparing(self, day: str) -> str | None:
        """The session of `day` being prepared; ReplayRefused (429) while another day is."""
        for preparation in self._preparations.values():
            if preparation.process.poll() is None:
                if preparation.day == day:
                    return preparation.session
                raise ReplayRefused(f"a replay of {preparation.day} is being prepared; try again when it "
                                    "is ready", 429)
        return None

    def _read_registry(self) -> registry.Registry:
        return registry.read(self.settings)

    def _forget(self, sessions: list[str]) -> list[str]:
        return registry.forget(self.settings, sessions)

    async def _make_room(self, found: registry.Registry) -> None:
        """Forget the oldest ended sessions beyond `sessions_kept`, counting the one about to be made."""
        watched = {s for s, loading in self._loading.items() if loading.users > 0}
        running = {p.session for p in self._preparations.values() if p.process.poll() is None}
        victims = registry.victims(self.settings, found, self.sessions_kept, watched | running, self._used_ms)
        if not victims:
            return
        self._forgetting.update(victims)
        try:
            for session in victims:  # none is watched: an idle tape of one is dropped now
                loading = self._loading.pop(session, None)
                if loading is not None:
                    loading.close()
            for session in await self.lookups.run(lambda: self._forget(victims)):
                self._used_ms.pop(session, None)
        finally:
            self._forgetting.difference_update(victims)

    async def exists(self, session: str) -> bool:
        """The session is registered, or this app prepares or holds it. A socket for any other id is
        refused before it starts a loading: an id nobody made never holds a tape slot, even briefly."""
        if session in self._preparations or session in self._loading:
            return True
        return session in (await self.lookups.get("registry", self._read_registry, REGISTRY_FRESH_S)).docs

    def open(self, session: str) -> Loading:
        """The session's loading, started if need be; release it with `close` when done watching.
        ReplayRefused (503) while `tapes_loaded` other sessions are all being watched."""
        if session in self._forgetting:
            raise ReplayRefused(f"replay session {session} is being deleted", 404)
        loading = self._loading.get(session)
        if loading is None or (loading.failed and loading.doc is None):
            if loading is not None:
                self._loading.pop(session)
            self._evict(room=1)
            if len(self._loading) >= self.tapes_loaded:
                raise ReplayRefused(f"{len(self._loading)} replays are being watched, as many as this app "
                                    "holds at once; try again shortly", 503)
            loading = self._loading[session] = self._load(session, self._preparations.get(session))
        self._loading.move_to_end(session)
        loading.users += 1
        self._used_ms[session] = int(time.time() * 1000)
        return loading

    def _load(self, session: str, preparation: Preparation | None) -> Loading:
        return Loading(self.settings, session, preparation)

    def close(self, loading: Loading) -> None:
        loading.users -= 1
        self._evict()

    def _evict(self, room: int = 0) -> None:
        """Drop the least recently opened idle tapes until `room` more fit within `tapes_loaded`."""
        idle = [s for s, loading in self._loading.items() if loading.users <= 0]
        for session in idle[:max(0, len(self._loading) + room - self.tapes_loaded)]:
            self._loading.pop(session).close()

    def shutdown(self) -> None:
        self.lookups.shutdown()
        for loading in self._loading.values():
            loading.close()
        for preparation in self._preparations.values():
            if preparation.process.poll() is None:
                preparation.process.terminate()
