"""Who may read the dashboard: the optional token on the page, the API, /metrics and the websocket; the
websocket Origin check; no inline script anywhere; loopback unless told otherwise."""

from __future__ import annotations

import re
from typing import Any

import pytest
from starlette.requests import Request

from app.__main__ import main as app_main
from app.access import origin_ok, token_ok
from app.security import CONTENT_SECURITY_POLICY
from tests.conftest import ROOT

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
    def run(server: Any, sockets: Any = None) -> None:
        seen.update(host=server.config.host, port=server.config.port)
        server.started = True

    monkeypatch.setattr("uvicorn.Server.run", run)
    app_main(["--port", "8123"])
    assert seen["host"] == "127.0.0.1" and seen["port"] == 8123
