"""A locked dashboard, run as a user runs it: the token on the page, the API, /metrics and the websocket,
and the websocket Origin check, through real processes on the real broker."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import websockets

from tests.conftest import App
from tests.support.web import next_message

pytestmark = pytest.mark.kafka
TOKEN = "s3cret-wall-token"


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
