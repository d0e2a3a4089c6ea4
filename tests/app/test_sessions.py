"""Replay sessions bounded: at most REPLAY_SESSIONS_KEPT session topics (the least recently used ended ones
go when a new one is prepared, never a watched or running one), at most REPLAY_TAPES_LOADED tapes in
memory (one more viewer of another session is refused with 503). The real Library, its Kafka calls stubbed."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, replace
from typing import Any

import pytest
from starlette.testclient import WebSocketDenialResponse

from app import registry, routes, sessions
from app.registry import Registry
from app.sessions import Library, Loading, Preparation, ReplayRefused
from stream import config
from stream.config import AppSettings
from stream.core.salesview import DayInLog, SalesView
from tests.support.inprocess import StubLoading, app

SETTINGS = replace(config.load().reaching("127.0.0.1:9"), aggregates_topic="agg")
DAY = "2025-11-28"


def doc(session: str, state: str = "finished", started_ms: int = 0, **facts: Any) -> dict[str, Any]:
    return {"v": 2, "session": session, "day": DAY, "topic": f"agg.replay.{session}",
            "source_topic": SETTINGS.orders_topic, "state": state, "started_ms": started_ms,
            "updated_ms": started_ms, **facts}


def registry_of(*docs: dict[str, Any], gone: tuple[str, ...] = ()) -> Registry:
    return Registry({d["session"]: d for d in docs},
                    {d["topic"] for d in docs if d["session"] not in gone} | {"agg", "orders"})


@dataclass
class Process:
    pid: int = 4242
    code: int | None = None

    def poll(self) -> int | None:
        return self.code


class StubbedLibrary(Library):
    """The real Library: its registry, its deletions, its child processes and its tapes are stand-ins."""

    def __init__(self, found: Registry, kept: int = 20, loaded: int = 4) -> None:
        super().__init__(SETTINGS, kept, loaded)
        self.found = found
        self.forgotten: list[str] = []
        self.started: list[str] = []

    async def days(self, fresh: bool = False) -> list[DayInLog]:
        return [DayInLog(DAY, 10), DayInLog("2025-11-29", 10)]

    def _read_registry(self) -> Registry:
        return self.found

    def _forget(self, names: list[str]) -> list[str]:
        self.forgotten.extend(names)
        return names

    def _load(self, session: str, preparation: Preparation | None) -> Loading:
        return StubLoading(session, known=True)


@pytest.fixture
def no_children(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    started: list[list[str]] = []

    def popen(args: list[str], **_: Any) -> Process:
        started.append(args)
        return Process()

    monkeypatch.setattr(sessions.subprocess, "Popen", popen)
    return started


def finished(count: int, state: str = "finished") -> list[dict[str, Any]]:
    return [doc(f"{DAY}-{i:08x}", state, started_ms=1_000 + i) for i in range(count)]


def test_preparing_one_more_than_kept_deletes_the_oldest_ended_sessions(no_children: list[list[str]]) -> None:
    library = StubbedLibrary(registry_of(*finished(22)))
    session = asyncio.run(library.prepare(DAY))
    assert no_children and session.startswith(DAY)
    # 22 kept + 1 new = 23: the three oldest go, 20 remain counting the new one.
    assert library.forgotten == [f"{DAY}-{i:08x}" for i in range(3)]


def test_within_the_bound_nothing_is_deleted(no_children: list[list[str]]) -> None:
    library = StubbedLibrary(registry_of(*finished(19)))
    asyncio.run(library.prepare(DAY))
    assert library.forgotten == [] and no_children


def test_running_and_watched_sessions_are_never_deleted(no_children: list[list[str]]) -> None:
    docs = [doc("old-running", "running", started_ms=1), doc("old-watched", started_ms=2),
            doc("old-failed", "failed", started_ms=3), doc("newer", started_ms=4)]
    library = StubbedLibrary(registry_of(*docs), kept=2)
    watched = library.open("old-watched")
    library.close(library.open("old-failed"))  # loaded, but idle
    asyncio.run(library.prepare(DAY))
    # 4 + 1 new, 2 kept: 3 must go, but only the ended ones nobody watches may.
    assert library.forgotten == ["newer", "old-failed"]  # old-failed was opened lately: it goes last
    assert watched.users == 1 and list(library._loading) == ["old-watched"]  # the idle tape went too


def test_a_session_used_lately_by_this_app_outlives_older_unused_ones(no_children: list[list[str]]) -> None:
    library = StubbedLibrary(registry_of(*finished(3)), kept=3)
    library.close(library.open(f"{DAY}-{0:08x}"))  # watched a moment ago, now idle
    asyncio.run(library.prepare(DAY))
    assert library.forgotten == [f"{DAY}-{1:08x}"]


def test_a_closed_day_is_reused_and_counts_as_kept(no_children: list[list[str]]) -> None:
    closed = doc("closed-one", started_ms=5, closed=True)
    library = StubbedLibrary(registry_of(closed, *finished(19)))
    assert asyncio.run(library.prepare(DAY)) == "closed-one"
    assert no_children == [] and library.forgotten == []  # nothing new: nothing deleted
    # Another day: 20 kept (the reused one among them) + 1 new: the oldest by use goes, not the reused.
    asyncio.run(library.prepare("2025-11-29"))
    assert library.forgotten == [f"{DAY}-{0:08x}"]


def test_two_replays_asked_at_once_start_one_preparation(no_children: list[list[str]]) -> None:
    async def both() -> list[str | BaseException]:
        library = StubbedLibrary(registry_of(*finished(25)))  # each must make room first: both wait
        return await asyncio.gather(library.prepare(DAY), library.prepare("2025-11-29"),
                                    library.prepare("2025-11-29"), return_exceptions=True)

    first, second, third = asyncio.run(both())
    assert len(no_children) == 1 and isinstance(first, str)
    assert isinstance(second, ReplayRefused) and second.status == 429
    assert isinstance(third, ReplayRefused) and third.status == 429


def test_the_first_replay_asked_is_the_one_started_however_long_its_clean_up_takes(
        no_children: list[list[str]]) -> None:
    library = StubbedLibrary(registry_of(*finished(25)))
    calls: list[list[str]] = []

    def forget(names: list[str]) -> list[str]:  # the first clean-up is slow, any later one quick
        calls.append(names)
        if len(calls) == 1:
            time.sleep(0.3)
        return names

    library._forget = forget  # type: ignore[method-assign]

    async def both() -> list[str | BaseException]:
        return await asyncio.gather(library.prepare(DAY), library.prepare("2025-11-29"),
                                    return_exceptions=True)

    first, second = asyncio.run(both())
    assert isinstance(first, str) and first.startswith(DAY), first
    assert isinstance(second, ReplayRefused) and second.status == 429
    assert len(no_children) == 1 and len(calls) == 1  # the refused one deleted nothing


def test_entries_whose_topic_is_gone_are_tombstoned_and_other_topics_never_deleted() -> None:
    docs = [doc("gone-one"), doc("kept-one"), {**doc("hostile"), "topic": "orders"},
            {**doc("other-agg"), "topic": "elsewhere.replay.other-agg"}, doc("x/../y")]
    found = registry_of(*docs, gone=("gone-one",))
    assert registry.victims(SETTINGS, found, keep=1, protected=set(), last_used_ms={}) == [
        "kept-one", "gone-one"]


def test_deleting_a_session_refuses_viewers_of_it_meanwhile(no_children: list[list[str]]) -> None:
    library = StubbedLibrary(registry_of(*finished(20)))
    seen: list[str] = []

    def forget(names: list[str]) -> list[str]:
        with pytest.raises(ReplayRefused) as refused:
            library.open(names[0])
        seen.append(f"{refused.value.status} {refused.value}")
        return names

    library._forget = forget  # type: ignore[method-assign]
    asyncio.run(library.prepare(DAY))
    assert seen == [f"404 replay session {DAY}-{0:08x} is being deleted"]
    library.close(library.open(f"{DAY}-{0:08x}"))  # once deleted, an open is the usual "no session"


def test_a_failed_clean_up_does_not_stop_the_new_replay(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(settings: config.Settings, names: list[str], timeout: float = 15.0) -> None:
        raise registry.admin.TopicError(f"cannot delete topic {names[0]}: not authorized")

    monkeypatch.setattr(registry.admin, "delete_topics", refuse)
    assert registry.forget(SETTINGS, ["a-session"]) == []  # kept in the registry: tried again next time


def test_at_most_the_loaded_tapes_are_held_and_one_more_viewer_is_refused() -> None:
    library = StubbedLibrary(Registry(), loaded=4)
    held = [library.open(f"s{i}") for i in range(4)]
    assert library.open("s0") is held[0] and held[0].users == 2  # a second viewer shares the tape
    with pytest.raises(ReplayRefused) as refused:
        library.open("s4")
    assert refused.value.status == 503 and "try again" in str(refused.value)
    library.close(held[1])  # idle now: it makes room
    fifth = library.open("s4")
    assert set(library._loading) == {"s0", "s2", "s3", "s4"} and fifth.users == 1


def test_idle_tapes_stay_for_reuse_until_room_is_needed() -> None:
    library = StubbedLibrary(Registry(), loaded=2)
    for name in ("a", "b"):
        library.close(library.open(name))
    assert list(library._loading) == ["a", "b"]  # idle, kept: a viewer coming back starts at once
    library.close(library.open("a"))
    library.open("c")
    assert list(library._loading) == ["a", "c"]  # the least recently opened idle one went


def test_a_viewer_beyond_the_loaded_tapes_gets_503_with_retry_after_before_the_handshake() -> None:
    with app() as running:
        library = running.library
        for i in range(library.tapes_loaded):
            library.open(f"{DAY}-0000000{i}")  # watched, by viewers that stay
        with pytest.raises(WebSocketDenialResponse) as refused, \
                running.client.websocket_connect(f"/ws?replay={DAY}-0000beef"):
            pass
    assert refused.value.status_code == 503 and refused.value.headers["retry-after"] == "5"
    assert "as many as this app holds" in refused.value.text


def test_the_bounds_come_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPLAY_SESSIONS_KEPT", "3")
    monkeypatch.setenv("REPLAY_TAPES_LOADED", "1")
    monkeypatch.setattr(routes, "AggregatesFeed", lambda settings, view: None)  # no consumer
    _, library = routes.connect(AppSettings(kafka=SETTINGS), SalesView())
    assert (library.sessions_kept, library.tapes_loaded) == (3, 1)
    assert (AppSettings(kafka=SETTINGS).replay_sessions_kept, Library(SETTINGS).tapes_loaded) == (3, 4)
    monkeypatch.setenv("REPLAY_TAPES_LOADED", "0")
    with pytest.raises(SystemExit, match="REPLAY_TAPES_LOADED must be an integer ≥ 1"):
        AppSettings(kafka=SETTINGS)
