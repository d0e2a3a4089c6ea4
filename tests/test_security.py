"""Who may read the dashboard: the optional token on the page, the API, /metrics and the websocket; the
websocket Origin check; no inline script anywhere; loopback unless told otherwise."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import pytest
import websockets
from starlette.requests import Request

from app.__main__ import main as app_main
from app.access import origin_ok, token_ok
from app.security import CONTENT_SECURITY_POLICY
from tests.conftest import ROOT, App
from tests.web import next_message

TOKEN = "s3cret-wall-token"


def request(query: str = "", **headers: str) -> Request:
    return Request({"type": "http", "method": "GET", "path": "/", "query_string": query.encode(),
                    "headers": [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]})


@pytest.mark.parametrize(("query", "headers", "allowed"), [
    ("", {}, False),  # nothing offered
    (f"token={TOKEN}", {}, True),  # the page's and the websocket's way
    ("", {"authorization": f"Bearer {TOKEN}"}, True),  # the API's way
    ("", {"authorization": f"bearer {TOKEN}"}, True),  # the scheme is case-insensitive
    ("token=wrong", {}, False),
    ("", {"authorization": f"Basic {TOKEN}"}, False),  # only Bearer carries it
    (f"token={TOKEN}x", {}, False),  # a longer string is not the token
])
def test_the_token_is_required_when_set(query: str, headers: dict[str, str], allowed: bool) -> None:
    assert token_ok(request(query, **headers), TOKEN) is allowed
    assert token_ok(request(query, **headers), None) is True  # no token configured: open


@pytest.mark.parametrize(("origin", "allow_list", "allowed"), [
    (None, (), True),  # not a browser: no Origin to check
    ("http://dash.example:8000", (), True),  # the page the server itself served
    ("https://dash.example:8000", (), True),
    ("http://evil.example", (), False),  # another site's page
    ("http://dash.example:8001", (), False),  # same name, other port: another origin
    ("null", (), False),  # sandboxed frames and file:// pages
    ("https://wall.example", ("https://wall.example",), True),  # a proxy's public name, allow-listed
    ("http://dash.example:8000", ("https://wall.example",), False),  # an allow-list replaces the default
])
def test_a_websocket_origin_must_be_the_served_host_or_allow_listed(
    origin: str | None, allow_list: tuple[str, ...], allowed: bool
) -> None:
    headers = {"host": "dash.example:8000"} | ({"origin": origin} if origin else {})
    assert origin_ok(request(**headers), allow_list) is allowed


def test_no_inline_script_is_allowed_or_needed() -> None:
    script_src = re.search(r"script-src ([^;]+)", CONTENT_SECURITY_POLICY)
    assert script_src is not None and script_src.group(1).split() == ["'self'"]
    page = (ROOT / "static" / "index.html").read_text()
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page, re.S)
    assert scripts and all('src="/' in attrs and body.strip() == "" for attrs, body in scripts)
    assert not re.search(r"\son[a-z]+=", page)  # no inline event handlers either


def test_the_app_binds_loopback_unless_told_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}
    monkeypatch.setattr("uvicorn.run", lambda app, **kwargs: seen.update(kwargs))
    app_main(["--port", "8123"])
    assert seen["host"] == "127.0.0.1" and seen["port"] == 8123


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


@pytest.mark.kafka
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


@pytest.mark.kafka
def test_by_default_a_websocket_from_another_site_is_refused(stack: App) -> None:
    assert handshake(stack.ws_url, origin=stack.url) == "snapshot"  # the page this server served
    assert handshake(stack.ws_url, origin="http://evil.example") == 403
    assert handshake(stack.ws_url, origin="http://127.0.0.1:1") == 403
