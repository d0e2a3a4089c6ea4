"""The Host allow-list: a request naming any other host (a DNS-rebinding page: evil.example resolved to
127.0.0.1) gets 400 and no data on every route and on the websocket handshake, live and replay."""

from __future__ import annotations

import pytest
from starlette.testclient import WebSocketDenialResponse

from stream.config import allowed_hosts
from tests.support.inprocess import app


def evil() -> dict[str, str]:
    return {"host": "evil.example"}  # fresh each time: websocket_connect adds its headers to the dict


ROUTES = ["/", "/api/snapshot", "/api/days", "/healthz", "/metrics", "/vendor/plotly.min.js",
          "/static/dashboard.js", "/nope"]
SOCKETS = ["/ws", "/ws?day=2025-11-28", "/ws?replay=2025-11-28-0000beef", "/elsewhere"]


@pytest.mark.parametrize("path", ROUTES)
def test_a_foreign_host_gets_400_and_no_data_on_every_route(path: str) -> None:
    with app() as running:
        refused = running.client.get(path, headers=evil())
        welcome = running.client.get(path)
    assert refused.status_code == 400
    assert refused.text == "Invalid host header"
    assert welcome.status_code != 400


def test_a_foreign_host_cannot_start_a_replay() -> None:
    with app(days=["2025-11-28"]) as running:
        refused = running.client.post("/api/replays", json={"day": "2025-11-28"}, headers=evil())
        assert running.library.prepared == []
    assert refused.status_code == 400


@pytest.mark.parametrize("path", SOCKETS)
def test_a_foreign_host_is_refused_at_the_websocket_handshake(path: str) -> None:
    with app() as running, pytest.raises(WebSocketDenialResponse) as refused, \
            running.client.websocket_connect(path, headers=evil()):
        pass
    assert refused.value.status_code == 400
    assert running.library.opened == []


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.1:8000", "localhost", "localhost:1234",
                                  "LOCALHOST:8000"])
def test_loopback_names_are_welcome_on_any_port(host: str) -> None:
    with app() as running:
        assert running.client.get("/api/snapshot", headers={"host": host}).status_code == 200
        with running.client.websocket_connect("/ws", headers={"host": host}) as ws:
            assert ws.receive_json()["type"] == "snapshot"


@pytest.mark.parametrize("host", ["evil.example", "127.0.0.1.evil.example", "localhost.evil.example",
                                  "127.0.0.2", "", "127.0.0.1:8000:1", "exa mple"])
def test_anything_else_is_refused(host: str) -> None:
    with app() as running:
        assert running.client.get("/api/snapshot", headers={"host": host}).status_code == 400


def test_allowed_hosts_adds_names_and_a_star_allows_any(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLOWED_HOSTS", "Dash.Example.com, *.wall.example")
    hosts = allowed_hosts("10.1.2.3")
    assert hosts == ("10.1.2.3", "127.0.0.1", "localhost", "dash.example.com", "*.wall.example")
    with app(hosts=hosts) as running:
        for host in ("dash.example.com:443", "tv.wall.example", "10.1.2.3:8000"):
            assert running.client.get("/api/snapshot", headers={"host": host}).status_code == 200, host
        assert running.client.get("/api/snapshot", headers=evil()).status_code == 400
    with app(hosts=("*",)) as running:
        assert running.client.get("/api/snapshot", headers=evil()).status_code == 200


def test_the_bound_host_is_allowed_and_an_ipv6_one_is_bracketed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ALLOWED_HOSTS", raising=False)
    assert allowed_hosts("127.0.0.1") == ("127.0.0.1", "localhost")
    assert allowed_hosts("::1") == ("[::1]", "127.0.0.1", "localhost")
    with app(hosts=allowed_hosts("::1")) as running:
        assert running.client.get("/healthz", headers={"host": "[::1]:8000"}).status_code == 200


@pytest.mark.parametrize("value", ["evil*.example", "dash.example.com:8000", "http://dash.example.com",
                                   "a/b", "*example.com"])
def test_a_malformed_allowed_host_stops_the_app_with_a_reason(monkeypatch: pytest.MonkeyPatch,
                                                              value: str) -> None:
    monkeypatch.setenv("ALLOWED_HOSTS", value)
    with pytest.raises(SystemExit, match="ALLOWED_HOSTS"):
        allowed_hosts("127.0.0.1")
