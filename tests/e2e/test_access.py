"""A locked dashboard, run as a user runs it: the token on the page, the API, /metrics and the websocket,
the websocket Origin check, the Host allow-list, and no token in the app's output, through real processes
on the real broker."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest
import websockets

from tests.conftest import App, Processes, settled, wait_until
from tests.support.web import next_message, orders_now, produce

pytestmark = pytest.mark.kafka
TOKEN = "s3cret-wall-token"
REDACTED = "[redacted]"  # what the app's output shows instead of a ?token= value


def handshake(url: str, origin: str | None = None) -> str | int:
    """The first message's type, or the HTTP status the handshake was refused with."""

    async def attempt() -> str | int:
        try:
            async with websockets.connect(url, origin=origin) as ws:  # type: ignore[arg-type]
                return str((await next_message(ws))["type"])
        except websockets.InvalidStatus as exc:
            return int(exc.response.status_code)

    return asyncio.run(attempt())


@pytest.fixture
def locked(env: dict[str, str]) -> str:
    env["SALESDASH_TOKEN"] = TOKEN
    env["ALLOWED_ORIGINS"] = "https://wall.example"
    return TOKEN


def test_a_locked_dashboard_wants_the_token_everywhere_and_only_allow_listed_origins(
    locked: str, stack: App
) -> None:
    def status(path: str, **headers: str) -> int:
        return httpx.get(stack.url + path, headers=headers, timeout=10).status_code

    assert status("/") == 401 and status(f"/?token={locked}") == 200
    assert status("/api/snapshot") == 401 and status("/api/snapshot?token=nope") == 401
    assert status("/api/snapshot", authorization=f"Bearer {locked}") == 200
    assert status("/metrics") == 401 and status("/metrics", authorization=f"Bearer {locked}") == 200
    assert status("/healthz") == 200  # probes carry no secrets and reveal no sales
    assert status("/static/dashboard.js") == 200  # code, not data

    ws = stack.ws_url
    assert handshake(ws) == 401
    assert handshake(ws + "?token=nope") == 401
    assert handshake(ws + f"?token={locked}") == "snapshot"
    assert handshake(ws + f"?token={locked}", origin="https://wall.example") == "snapshot"
    assert handshake(ws + f"?token={locked}", origin="http://evil.example") == 403
    # With an allow-list, even the app's own address must be on it.
    assert handshake(ws + f"?token={locked}", origin=stack.url) == 403


def test_by_default_a_websocket_from_another_site_is_refused(stack: App) -> None:
    assert handshake(stack.ws_url, origin=stack.url) == "snapshot"  # the page this server served
    assert handshake(stack.ws_url, origin="http://evil.example") == 403
    assert handshake(stack.ws_url, origin="http://127.0.0.1:1") == 403


def raw_handshake(port: int, host: str, path: str = "/ws") -> str:
    """The status line a websocket handshake naming `host` gets (websockets always sends the real one)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        return sock.recv(4096).split(b"\r\n", 1)[0].decode()


def test_a_request_naming_another_host_gets_400_and_no_data(stack: App, env: dict[str, str]) -> None:
    produce(env, orders_now(3))
    wait_until(lambda: settled(stack), 30, message="3 orders counted")
    port = int(stack.url.rsplit(":", 1)[1])

    def get(path: str, host: str) -> httpx.Response:
        return httpx.get(stack.url + path, headers={"host": host}, timeout=10)

    for path in ("/", "/api/snapshot", "/api/days", "/healthz", "/metrics", "/static/dashboard.js"):
        refused = get(path, "evil.example")
        assert (refused.status_code, refused.text) == (400, "Invalid host header"), path
    refused = httpx.post(stack.url + "/api/replays", json={"day": "2025-11-28"},
                         headers={"host": "evil.example:80"}, timeout=10)
    assert refused.status_code == 400
    assert raw_handshake(port, "evil.example") == "HTTP/1.1 400 Bad Request"
    assert raw_handshake(port, f"evil.example:{port}", "/ws?day=2025-11-28") == "HTTP/1.1 400 Bad Request"

    welcome = get("/api/snapshot", f"127.0.0.1:{port}")
    assert welcome.status_code == 200 and welcome.json()["totals"]["orders"] == 3
    assert get("/api/snapshot", f"localhost:{port}").json()["totals"]["orders"] == 3
    assert raw_handshake(port, f"127.0.0.1:{port}") == "HTTP/1.1 101 Switching Protocols"


def test_the_token_never_appears_in_the_apps_output(locked: str, stack: App, processes: Processes) -> None:
    def get(path: str) -> int:
        return httpx.get(stack.url + path, timeout=10).status_code

    assert get(f"/?token={locked}") == 200
    assert get(f"/api/snapshot?day=2025-11-28&token={locked}") == 200
    assert get(f"/api/snapshot?%74oken={locked}") == 200  # Starlette decodes the name: so does the filter
    assert handshake(stack.ws_url + f"?token={locked}") == "snapshot"
    assert handshake(stack.ws_url + f"?token={locked}", origin="http://evil.example") == 403
    assert handshake(stack.ws_url + f"?token={locked}x") == 401
    redacted = f"token={REDACTED}"
    last = f'"WebSocket /ws?{redacted}" 401'  # the wrong token, which starts with the right one
    output = wait_until(lambda: last in (text := processes.log("app")) and text, 10,
                        message="the request lines in the app's output")
    assert locked not in output
    assert f'"GET /?{redacted} HTTP/1.1" 200' in output
    assert f'"GET /api/snapshot?day=2025-11-28&{redacted} HTTP/1.1" 200' in output
    assert f'"GET /api/snapshot?%74oken={REDACTED} HTTP/1.1" 200' in output
    assert f'"WebSocket /ws?{redacted}" [accepted]' in output
    assert f'"WebSocket /ws?{redacted}" 403' in output and f'"WebSocket /ws?{redacted}" 401' in output
