"""/api/alerts for a merchant's view: its link is let in, and it sees its own alerts and the data-age one,
never another merchant's, a channel's, a country's or the dead letters."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from hypothesis import given
from hypothesis import strategies as st
from starlette.testclient import TestClient

from app import alerts, links
from tests.support.inprocess import app, checkpoints
from tests.support.orders import order_event

TOKEN = "banner-token"
MIN = 60_000
YEAR_MS = 364 * 86_400_000  # last year's same weekday: the default compare day

_alerts = st.builds(alerts.Alert, kind=st.sampled_from(["silent", "below", "dead_letters", "data_age"]),
                    scope=st.sampled_from(["merchant", "channel", "country", "all"]),
                    subject=st.sampled_from(["m1", "m2", "online", "DE", "all", "<img src=x>"]),
                    detail=st.text(max_size=20))


@given(st.lists(_alerts, max_size=12), st.sampled_from(["m1", "m2", "<img src=x>", "all", "DE"]))
def test_a_merchant_sees_its_own_alerts_and_data_age_and_nothing_else(raised: list[alerts.Alert],
                                                                      merchant: str) -> None:
    seen = alerts.for_merchant(raised, merchant)
    for alert in seen:  # nothing about anyone else
        assert alert.kind == "data_age" or (alert.scope, alert.subject) == ("merchant", merchant), alert
    for alert in raised:  # and nothing of its own left out
        if alert.kind == "data_age" or (alert.scope, alert.subject) == ("merchant", merchant):
            assert alert in seen, alert
    assert seen == [a for a in raised if a in seen]  # in the order raised


def _records(now: int) -> list[bytes]:
    """m1 and m2 sold 10 orders a minute last year around now; today m1 stopped 10 min ago, m2 did not.
    The checkpoint is a minute old: the data-age alert (30 s) is up too."""
    def sold(merchant: str, start: int, first: int, last: int) -> list[dict[str, object]]:
        return [order_event(merchant_id=merchant, occurred_at=start + k * MIN + i * 1000)
                for k in range(first, last) for i in range(10)]
    events = [*sold("m1", now - YEAR_MS, -30, 10), *sold("m2", now - YEAR_MS, -30, 10),
              *sold("m1", now, -30, -10), *sold("m2", now, -30, 0)]
    return checkpoints(events, now - MIN)


def _link(merchant: str, now: int) -> str:
    return urlsplit(links.url("http://127.0.0.1:8000", TOKEN, merchant, now + 3_600_000)).query


def _raised(client: TestClient, query: str) -> list[tuple[str, str, str]]:
    answer = client.get(f"/api/alerts?{query}")
    assert answer.status_code == 200, answer.text
    return [(a["kind"], a["scope"], a["subject"]) for a in answer.json()["alerts"]]


def test_a_merchant_link_gets_its_own_alerts_and_the_token_gets_all() -> None:
    now = int(time.time() * 1000)
    silent, old = ("silent", "merchant", "m1"), ("data_age", "all", "all")
    with app(_records(now), token=TOKEN) as running:
        client = running.client
        deadline = time.monotonic() + 10
        while len(_raised(client, f"token={TOKEN}")) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)  # the watch evaluates once the feed has folded the records
        assert sorted(_raised(client, f"token={TOKEN}")) == sorted([silent, old])
        assert sorted(_raised(client, _link("m1", now))) == sorted([silent, old])
        assert _raised(client, _link("m2", now)) == [old]  # m1's silence is not m2's business
        assert _raised(client, f"merchant=m2&token={TOKEN}") == [old]  # m2's view, opened with the token
        other = _link("m2", now).replace("merchant=m2", "merchant=m1")  # m2's signature, m1's alerts
        assert client.get(f"/api/alerts?{other}").status_code == 401
        assert client.get(f"/api/alerts?{_link('m2', now).replace('merchant=m2&', '')}").status_code == 401
