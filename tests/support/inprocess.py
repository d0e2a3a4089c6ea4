"""The web app in-process, without a broker: a fake feed folds checkpoints made by the real core into the
app's view, and a fake replay library answers as told. Routes then run under Starlette's TestClient."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from starlette.testclient import TestClient

from app.coverage import Coverage
from app.registry import Registry
from app.routes import create_app
from app.sessions import Library, Loading, Preparation, ReplayRefused
from stream import config
from stream.config import AppSettings
from stream.core.partition import PartitionState
from stream.core.rules import Rules
from stream.core.salesview import DayInLog, SalesView

ROOT = Path(__file__).resolve().parents[2]
TESTSERVER = "testserver"  # the Host header of TestClient's websockets (its requests use base_url)


def checkpoints(events: list[dict[str, Any]], now_ms: int, partition: int = 0) -> list[bytes]:
    """The checkpoint records the worker would publish for `events` (one batch)."""
    state = PartitionState(partition, Rules())
    for offset, event in enumerate(events):
        state.apply(offset, orjson.dumps(event), now_ms)
    record = state.checkpoint(now_ms)
    return [] if record is None else [record.encode()]


@dataclass
class FakeFeed:
    """Folds the given records once the app starts; then `caught_up` and `reachable` say what it is told."""

    view: SalesView
    records: list[bytes]
    up: bool = True
    loaded: bool = True
    caught_up: asyncio.Event = field(default_factory=asyncio.Event)
    lag: int = 0
    unreadable: int = 0
    coverage: Coverage = field(default_factory=lambda: Coverage(timeout_s=6))

    def reachable(self) -> bool:
        return self.up

    async def run(self) -> None:
        for raw in self.records:
            self.view.apply(raw)
        self.view.close_days(len(self.view.ledgers))  # as the real feed does after a batch
        if self.loaded:
            self.caught_up.set()
        await asyncio.Event().wait()  # a feed runs for the life of the app


class StubLoading(Loading):
    """A session that reads nothing: unknown (failed before it started), or known and forever loading."""

    def __init__(self, session: str, known: bool = False) -> None:
        self.session = session
        self.doc = self.tape = None
        self.failed = None if known else f"no replay session {session}"
        self.users = 0
        self._preparation = None

    def close(self) -> None:
        pass


class FakeLibrary(Library):
    """The replay library with its Kafka lookups answered from memory."""

    def __init__(self, settings: config.Settings, days: list[str], refusal: ReplayRefused | None) -> None:
        super().__init__(settings)
        self.known = days
        self.refusal = refusal
        self.prepared: list[str] = []
        self.opened: list[str] = []
        self.registered: set[str] | None = None  # the registry's sessions; None: any id is one

    async def days(self, fresh: bool = False) -> list[DayInLog]:
        return [DayInLog(day, 10) for day in sorted(self.known)]

    async def exists(self, session: str) -> bool:
        return True if self.registered is None else await super().exists(session)

    def _read_registry(self) -> Registry:
        return Registry({session: {"session": session} for session in self.registered or ()})

    async def prepare(self, day: str) -> str:
        if self.refusal is not None:
            raise self.refusal
        self.prepared.append(day)
        return f"{day}-0000beef"

    def _load(self, session: str, preparation: Preparation | None) -> Loading:
        self.opened.append(session)
        return StubLoading(session)


@dataclass
class Running:
    client: TestClient
    feed: FakeFeed
    library: FakeLibrary


@contextmanager
def app(records: list[bytes] | None = None, *, up: bool = True, loaded: bool = True, token: str | None = None,
        origins: tuple[str, ...] = (), days: list[str] | None = None,
        refusal: ReplayRefused | None = None, hosts: tuple[str, ...] | None = None) -> Iterator[Running]:
    settings = AppSettings(kafka=config.load().reaching("127.0.0.1:9"), static_dir=ROOT / "static",
                           push_hz=20, stall_timeout_s=10, allowed_origins=origins, token=token,
                           allowed_hosts=hosts or ("127.0.0.1", "localhost", TESTSERVER))
    made: dict[str, Any] = {}

    def connect(settings: AppSettings, view: SalesView) -> tuple[FakeFeed, FakeLibrary]:
        made["feed"] = FakeFeed(view, records or [], up=up, loaded=loaded)
        made["library"] = FakeLibrary(settings.kafka, days or [], refusal)
        return made["feed"], made["library"]

    with TestClient(create_app(settings, connect), base_url="http://127.0.0.1:8000") as client:
        yield Running(client, made["feed"], made["library"])
