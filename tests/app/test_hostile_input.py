"""Hostile web input, in-process: any query string on the API and the websocket, any body on
/api/replays, is answered with a 2xx, a 4xx or a 503 (a refused handshake before accept), never a 500, a
traceback or an error in the app's log. Hypothesis makes the input; the named nasties are checked too."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any
from urllib.parse import quote, urlencode

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient, WebSocketDenialResponse

from app.bodies import MAX_BODY
from app.sessions import Library
from tests.support.inprocess import FakeLibrary, app

SESSION = "2025-11-28-0000beef"
NASTY = ["", "nan", "NaN", "inf", "-inf", "1e309", "-1", "0", "-0", "0.0", "fast", "max", "1e-400", "٣",
         "²", "١٢٣", "9" * 5000, "1" * 10_240, "1e9", "-5", " 7", "0x10", "1_000", "\x00", "\u202e600",
         "2025-11-28", "../../etc", "%00", "' OR 1=1", "🎉", "\ud800".encode("utf-16", "surrogatepass").hex()]
KEYS = ["day", "replay", "speed", "at", "token", "Token", "%74oken"]
FUZZ = settings(derandomize=True, max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])
values = st.one_of(st.sampled_from(NASTY), st.text(max_size=40), st.integers().map(str),
                   st.floats().map(str), st.text(min_size=2_000, max_size=4_000, alphabet="9e.-"))
params = st.lists(st.tuples(st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), values), max_size=5)
# Raw: a bare % and stray =, & and ; stay as written; what a client may not send raw is %-encoded.
raw_queries = st.text(max_size=200).map(lambda text: quote(text, safe="=&%+;/?:@!$'()*,~[]"))


def json_bytes(value: Any) -> bytes:
    return json.dumps(value).encode()


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) |
                           st.text(max_size=30), lambda inner: st.lists(inner, max_size=4) |
                           st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
# json, not orjson: it writes integers past 64 bits too, which a client may send.
bodies = st.one_of(json_values.map(json_bytes), st.builds(lambda d, v: json_bytes({"day": d, **v}), values,
                   st.dictionaries(st.text(max_size=8), json_values, max_size=3)), st.binary(max_size=300))


class Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(f"{record.name}: {record.getMessage()}")


@pytest.fixture
def clients(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, TestClient, Errors]]:
    """An open app and a locked one, the library's real day checks in front of its fake Kafka side, and
    every warning or error anything logs meanwhile."""
    monkeypatch.setattr(FakeLibrary, "prepare", Library.prepare)  # no day is in the log: 400 or 404
    errors = Errors()
    logging.getLogger().addHandler(errors)
    try:
        with ExitStack() as stack:
            open_app = stack.enter_context(app())
            locked = stack.enter_context(app(token="s3cret"))
            yield open_app.client, locked.client, errors
    finally:
        logging.getLogger().removeHandler(errors)


def query(pairs: list[tuple[str, str]]) -> str:
    return urlencode(pairs, safe="%")  # "%74oken" stays as written: an encoded name is an attack too


def answered_cleanly(status: int) -> bool:
    return 200 <= status < 300 or 400 <= status < 500 or status == 503


def handshake(client: TestClient, url: str) -> int | str:
    """The refusal's HTTP status, or the first message's type once accepted."""
    try:
        with client.websocket_connect(url) as ws:
            return str(orjson.loads(ws.receive_text())["type"])
    except WebSocketDenialResponse as refused:
        return refused.status_code


def test_any_query_string_on_the_api_is_answered_cleanly(
        clients: tuple[TestClient, TestClient, Errors]) -> None:
    open_client, locked, errors = clients

    @FUZZ
    @given(st.sampled_from(["/api/snapshot", "/api/days", "/healthz", "/metrics", "/"]),
           st.one_of(params.map(query), raw_queries), st.booleans())
    def check(path: str, qs: str, lock: bool) -> None:
        response = (locked if lock else open_client).get(f"{path}?{qs}")
        assert answered_cleanly(response.status_code), (path, qs, response.status_code)
        if path == "/api/snapshot" and response.status_code == 400:
            assert "YYYY-MM-DD" in response.json()["error"]

    check()
    assert errors.records == []


def test_any_query_string_on_the_websocket_is_answered_before_or_after_a_clean_accept(
        clients: tuple[TestClient, TestClient, Errors]) -> None:
    open_client, locked, errors = clients
    replay = st.lists(st.tuples(st.sampled_from(["speed", "at"]), values), max_size=3).map(
        lambda pairs: [("replay", SESSION), *pairs])

    @FUZZ
    @given(st.one_of(params, replay).map(query) | raw_queries, st.booleans())
    def check(qs: str, lock: bool) -> None:
        answer = handshake(locked if lock else open_client, f"/ws?{qs}")
        assert answer in ("snapshot", "replay") or (isinstance(answer, int) and 400 <= answer < 500), (
            qs, answer)

    check()
    assert errors.records == []


def test_any_body_on_replays_is_answered_cleanly(clients: tuple[TestClient, TestClient, Errors]) -> None:
    open_client, locked, errors = clients

    @FUZZ
    @given(bodies, st.sampled_from(["application/json", "text/plain", "multipart/form-data", ""]),
           st.booleans())
    def check(body: bytes, content_type: str, lock: bool) -> None:
        headers = {"content-type": content_type} if content_type else {}
        if lock:
            headers["authorization"] = "Bearer s3cret"
        response = (locked if lock else open_client).post("/api/replays", content=body, headers=headers)
        # A body past the bound is refused unread, whatever it holds.
        wanted = (413,) if len(body) > MAX_BODY else (400, 404)
        assert response.status_code in wanted, (body, response.status_code, response.text)
        assert isinstance(response.json()["error"], str)

    check()
    assert errors.records == []


@pytest.mark.parametrize("speed", ["nan", "inf", "-inf", "1e309", "-1", "0", "fast", "1" * 10_240, "", " "])
def test_a_malformed_speed_is_a_400_before_accept(speed: str,
                                                  clients: tuple[TestClient, Any, Errors]) -> None:
    client, _, errors = clients
    answer = handshake(client, f"/ws?{query([('replay', SESSION), ('speed', speed)])}")
    # An empty speed is the default (600): that one is accepted.
    assert answer == ("replay" if speed == "" else 400)
    assert errors.records == []


@pytest.mark.parametrize("at", ["-5", "1e9", "٣", "²", "١٢٣", "9" * 5000, "9" * 16, "12a", "", "0x10",
                                " 5", "5 "])
def test_a_malformed_at_is_a_400_before_accept(at: str, clients: tuple[TestClient, Any, Errors]) -> None:
    client, _, errors = clients
    assert handshake(client, f"/ws?{query([('replay', SESSION), ('at', at)])}") == 400
    assert errors.records == []


@pytest.mark.parametrize("at", ["0", "1764288000000", "9" * 15])
def test_a_well_formed_at_is_accepted(at: str, clients: tuple[TestClient, Any, Errors]) -> None:
    client, _, _ = clients
    assert handshake(client, f"/ws?{query([('replay', SESSION), ('at', at)])}") == "replay"


@pytest.mark.parametrize("day", ["0000-01-01", "9999-12-31", "0001-01-01", "2025-02-29", "2024-02-29",
                                 "٢٠٢٥-11-28", "2025-11-28\n", "+2025-11-28"])
def test_the_day_takes_only_real_ascii_yyyy_mm_dd(day: str, clients: tuple[TestClient, Any, Errors]) -> None:
    client, _, errors = clients
    response = client.get("/api/snapshot", params={"day": day})
    valid = day in ("9999-12-31", "0001-01-01", "2024-02-29")
    assert response.status_code == (200 if valid else 400), response.text
    assert handshake(client, f"/ws?{query([('day', day)])}") == ("snapshot" if valid else 400)
    assert errors.records == []
