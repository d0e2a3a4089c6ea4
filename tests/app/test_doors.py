"""The app's doors stay bounded, in-process: a tape slot is held only by a socket that plays, a speed or a
seek too large for the clock is refused before use, request-made Kafka look-ups are single-flight, cached
and on their own pool, and request bodies and the compare cache have a size."""

from __future__ import annotations

import asyncio
import threading
import time

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.testclient import WebSocketDenialResponse

from app import registry, replay_socket
from app.compare import KEPT, Comparisons
from app.replay_socket import MAX_SPEED, control
from app.sessions import Library
from stream import config
from stream.core.salesview import SalesView
from tests.support.inprocess import FakeLibrary, StubLoading, app

DAY = "2025-11-28"
SETTINGS = config.load().reaching("127.0.0.1:9")


def _opens_within(client: object, url: str, seconds: float) -> bool:
    """Whether the handshake is accepted within `seconds` (a 503 is tried again)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with client.websocket_connect(url) as ws:  # type: ignore[attr-defined]
                ws.receive_text()
                return True
        except WebSocketDenialResponse as refused:
            assert refused.status_code == 503
            time.sleep(0.1)
    return False


def test_a_socket_on_an_id_nobody_made_is_told_so_and_closed_without_taking_a_slot() -> None:
    real = f"{DAY}-0000cafe"
    with app() as running:
        running.library.registered = {real}
        for i in range(running.library.tapes_loaded + 4):  # each is told why and closed, with no loading
            bogus = f"{DAY}-0000000{i}"
            with running.client.websocket_connect(f"/ws?replay={bogus}") as socket:
                assert orjson.loads(socket.receive_text())["replay"] == {
                    "session": bogus, "state": "failed", "error": f"no replay session {bogus}"}
                assert socket.receive()["type"] == "websocket.close"
        assert running.library.opened == []
        assert _opens_within(running.client, f"/ws?replay={real}", 1)


def test_silent_sockets_on_failed_sessions_do_not_keep_a_real_replay_out(
        monkeypatch: pytest.MonkeyPatch) -> None:
    real = f"{DAY}-0000cafe"
    monkeypatch.setattr(FakeLibrary, "_load", lambda self, session, preparation: StubLoading(
        session, known=session == real))
    with app() as running:
        failed = [running.client.websocket_connect(f"/ws?replay={DAY}-0000000{i}")
                  for i in range(running.library.tapes_loaded)]
        try:
            for ws in failed:
                socket = ws.__enter__()
                assert orjson.loads(socket.receive_text())["replay"]["state"] == "failed"
                # ... and then they say nothing, holding the socket open.
            assert _opens_within(running.client, f"/ws?replay={real}", 10)
        finally:
            for ws in failed:
                ws.__exit__(None, None, None)


def test_a_socket_whose_session_never_starts_is_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(replay_socket, "START_WAIT_S", 0.3)
    monkeypatch.setattr(FakeLibrary, "_load", lambda self, session, preparation: StubLoading(session, True))
    with app() as running, running.client.websocket_connect(f"/ws?replay={DAY}-0000cafe") as ws:
        states = []
        while not states or states[-1] == "loading":
            states.append(orjson.loads(ws.receive_text())["replay"]["state"])
        assert states[-1] == "failed"
        assert ws.receive()["type"] == "websocket.close"
        assert running.library._loading[f"{DAY}-0000cafe"].users == 0


@given(st.floats(min_value=MAX_SPEED, exclude_min=True, allow_infinity=False))
@settings(max_examples=30, deadline=None)
def test_a_finite_speed_too_large_for_the_clock_is_no_command(speed: float) -> None:
    assert control(orjson.dumps({"type": "speed", "speed": speed}).decode()) is None
    assert control(orjson.dumps({"type": "speed", "speed": repr(speed)}).decode()) is None


@given(st.integers(min_value=2**53 + 1))
@settings(max_examples=30, deadline=None)
def test_a_seek_past_what_the_clock_holds_is_no_command(to_ms: int) -> None:
    for target in (to_ms, -to_ms):
        assert control(f'{{"type": "seek", "to_ms": {target}}}') is None


def test_speed_1e308_is_refused_before_the_handshake() -> None:
    with app() as running, pytest.raises(WebSocketDenialResponse) as refused, \
            running.client.websocket_connect(f"/ws?replay={DAY}-0000beef&speed=1e308"):
        pass
    assert refused.value.status_code == 400


class CountingLibrary(Library):
    """The real Library, its registry read a stand-in that counts: every Kafka look-up a replay makes."""

    def __init__(self) -> None:
        super().__init__(SETTINGS)
        self.reads: list[str] = []

    def _read_registry(self) -> registry.Registry:
        self.reads.append(threading.current_thread().name)
        raise AssertionError("a day not in the view needs no look-up")


def test_a_flood_of_unknown_days_makes_no_kafka_look_up() -> None:
    # The days come from the view's day index (kept by the feed), so an unknown day is a 404 at once.
    library = CountingLibrary()

    async def flood() -> list[BaseException | object]:
        asks = [library.prepare(f"2001-01-{n:02d}") for n in range(1, 29)]
        return await asyncio.gather(*asks, *(library.days(fresh=True) for _ in range(50)),
                                    return_exceptions=True)  # type: ignore[arg-type]

    try:
        answers = asyncio.run(flood())
    finally:
        library.shutdown()
    assert sum(getattr(a, "status", None) == 404 for a in answers) == 28
    assert library.reads == []


@pytest.mark.parametrize("path", ["/api/replays", "/api/audits"])
@pytest.mark.parametrize("chunked", [False, True])
def test_a_body_past_the_bound_is_a_413(path: str, chunked: bool) -> None:
    body = orjson.dumps({"day": DAY, "pad": "x" * 1_000_000})
    with app(days=[DAY]) as running:
        content = iter([body[i:i + 65536] for i in range(0, len(body), 65536)]) if chunked else body
        answer = running.client.post(path, content=content)
    assert answer.status_code == 413
    assert running.library.prepared == []


def test_the_compare_cache_does_not_grow_with_the_days_asked_for() -> None:
    comparisons = Comparisons(SalesView())
    for n in range(1, 1000):
        day = f"{2000 + n // 365:04d}-{1 + n % 12:02d}-{1 + n % 28:02d}"
        comparisons.default(day)
        comparisons.frame(day)
    held = [len(getattr(comparisons, name)) for name in vars(comparisons) if name.startswith("_")
            and isinstance(getattr(comparisons, name), dict)]
    assert held and max(held) <= KEPT
