"""Private merchant links: a link signed with the dashboard's token opens that merchant's view and its
figures, and nothing else; an expired or altered link is a 401, another merchant's view a 403."""

from __future__ import annotations

import subprocess
import sys
import time
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.testclient import WebSocketDenialResponse

from app import links
from stream.core.eventtime import day_of
from tests.support.inprocess import ROOT, app, checkpoints
from tests.support.orders import order_event

TOKEN = "wall-token"


def _now_ms() -> int:
    return int(time.time() * 1000)


def _records() -> list[bytes]:
    now = _now_ms()
    events = [order_event(merchant_id="m1", merchant_name="Eins", occurred_at=now - 1000, total_minor=1234),
              order_event(merchant_id="m1", merchant_name="Eins", occurred_at=now - 900, total_minor=766),
              order_event(merchant_id="m2", merchant_name="Zwei", occurred_at=now - 800, total_minor=99_999)]
    return checkpoints(events, now)


def _query(merchant: str, expires_ms: int, token: str = TOKEN) -> str:
    return urlsplit(links.url("http://127.0.0.1:8000", token, merchant, expires_ms)).query


def test_a_link_opens_its_merchants_view_with_its_figures_and_nothing_else() -> None:
    query = _query("m1", _now_ms() + 3_600_000)
    with app(_records(), token=TOKEN) as running:
        client = running.client
        assert client.get(f"/m/m1?{query}").status_code == 200
        day = client.get(f"/api/snapshot?{query}&day={day_of(_now_ms())}").json()
        assert (day["merchant_id"], day["name"]) == ("m1", "Eins")
        totals = day["totals"]
        assert (totals["orders"], totals["net_cents"], totals["aov_cents"]) == (2, 2000, 1000)
        assert sum(m["orders"] for m in day["minutes"]) == 2
        # Another merchant, the global page and every other route: refused.
        assert client.get(f"/m/m2?{query}").status_code == 403
        other = query.replace("merchant=m1", "merchant=m2")
        assert client.get(f"/api/snapshot?{other}").status_code == 401  # the signature is m1's
        unsigned = query.replace("merchant=m1&", "")  # the global figures: the link names no merchant
        assert client.get(f"/api/snapshot?{unsigned}").status_code == 401
        for path in ("/", "/api/days", "/metrics", "/api/audits?day=2026-01-01",
                     "/api/reports/2026-01-01"):
            assert client.get(f"{path}{'&' if '?' in path else '?'}{query}").status_code == 401, path
        assert client.post(f"/api/replays?{query}", json={"day": "2025-11-28"}).status_code == 401
        assert client.post(f"/api/audits?{query}", json={"day": "2025-11-28"}).status_code == 401
        for refused_query in (unsigned, other):  # the global feed; another merchant's
            with pytest.raises(WebSocketDenialResponse) as refused, \
                    client.websocket_connect(f"/ws?{refused_query}"):
                pass
            assert refused.value.status_code == 401
        with client.websocket_connect(f"/ws?{query}") as ws:
            message = orjson.loads(ws.receive_text())
            assert (message["type"], message["merchant_id"]) == ("snapshot", "m1")
            assert message["totals"]["net_cents"] == 2000
        # The dashboard's own token still sees any merchant.
        assert client.get(f"/api/snapshot?merchant=m2&token={TOKEN}").json()["totals"]["orders"] == 1


def test_an_expired_link_is_refused() -> None:
    query = _query("m1", _now_ms() - 1)
    with app(_records(), token=TOKEN) as running:
        assert running.client.get(f"/m/m1?{query}").status_code == 401
        assert running.client.get(f"/api/snapshot?{query}").json() == {"error": "this link has expired"}


@given(st.sampled_from(["merchant", "exp", "sig"]), st.text(min_size=1, max_size=20))
@settings(max_examples=60, deadline=None)
def test_an_altered_link_is_refused(field: str, value: str) -> None:
    query = parse_qs(_query("m1", _now_ms() + 3_600_000))
    merchant, expires, sig = query["merchant"][0], query["exp"][0], query["sig"][0]
    altered = {"merchant": merchant, "exp": expires, "sig": sig, field: value}
    if altered[field] == {"merchant": merchant, "exp": expires, "sig": sig}[field]:
        return
    request = _Request(altered)
    granted, _ = links.grant(request, TOKEN, _now_ms())  # type: ignore[arg-type]
    assert granted is links.Grant.ALTERED


def test_a_link_signed_with_another_token_is_refused() -> None:
    query = parse_qs(_query("m1", _now_ms() + 3_600_000, token="another"))
    request = _Request({k: v[0] for k, v in query.items()})
    granted, _ = links.grant(request, TOKEN, _now_ms())  # type: ignore[arg-type]
    assert granted is links.Grant.ALTERED


class _Request:
    def __init__(self, params: dict[str, str]) -> None:
        self.query_params = params


def test_the_cli_prints_a_link_that_the_app_takes_and_misuse_is_one_error_line() -> None:
    env = {"SALESDASH_TOKEN": TOKEN, "PATH": "/usr/bin:/bin"}
    made = subprocess.run([sys.executable, "-m", "app", "link", "--merchant", "m1", "--hours", "2"],
                          cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    url = made.stdout.strip()
    assert urlsplit(url).path == "/m/m1"
    expires = int(parse_qs(urlsplit(url).query)["exp"][0])
    assert abs(expires - (_now_ms() + 7_200_000)) < 60_000
    with app(_records(), token=TOKEN) as running:
        assert running.client.get(f"/m/m1?{urlsplit(url).query}").status_code == 200
    for argv, env_used in ((["--merchant", "m1"], {"PATH": "/usr/bin:/bin"}), (["--hours", "1"], env),
                           (["--merchant", "m1", "--hours", "0"], env)):
        failed = subprocess.run([sys.executable, "-m", "app", "link", *argv], cwd=ROOT, env=env_used,
                                capture_output=True, text=True)
        assert failed.returncode != 0
        assert failed.stderr.count("\n") == 1 and failed.stderr.startswith("error:"), failed.stderr
