"""Alerts on the live socket (app.fanout.Hub.alerts_changed): every snapshot carries the alerts its viewer
may see, a change is pushed once per audience, and a merchant's socket never gets another merchant's."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from app import alerts, links
from app.fanout import Hub, Viewer
from app.merchant_feed import MerchantViewer
from stream.core.salesview import SalesView
from tests.support.inprocess import app, checkpoints
from tests.support.orders import order_event

DAY = "2026-11-27"
TOKEN = "push-token"
MIN = 60_000
YEAR_MS = 364 * 86_400_000  # last year's same weekday: the default compare day
MERCHANTS = ("m1", "m2", "<img src=x>")

_alerts = st.builds(alerts.Alert, kind=st.sampled_from(["silent", "below", "dead_letters", "data_age"]),
                    scope=st.sampled_from(["merchant", "channel", "all"]),
                    subject=st.sampled_from([*MERCHANTS, "online", "all"]),
                    detail=st.sampled_from(["a", "b"]))
_raised = st.lists(_alerts, max_size=8, unique=True).map(sorted)


def _mine(kind: str, scope: str, subject: str, merchant: str) -> bool:
    """The access rule, as README states it: a merchant's own alerts and the data-age one."""
    return kind == "data_age" or (scope, subject) == ("merchant", merchant)


def _idle(hub: Hub, viewer: Viewer) -> Viewer:
    hub.viewers.add(viewer)
    viewer.next_message(hub.snapshot_message)  # its first snapshot went out: nothing pending
    return viewer


@given(_raised, _raised)
def test_a_change_reaches_each_audience_once_encoded_and_each_merchant_only_its_own(
        before: list[alerts.Alert], after: list[alerts.Alert]) -> None:
    hub = Hub(SalesView())
    hub.alerts_changed([], before)
    everyone = [_idle(hub, Viewer(DAY)) for _ in range(2)]
    shops = {m: [_idle(hub, MerchantViewer(DAY, m, hub)) for _ in range(2)] for m in MERCHANTS}
    hub.alerts_changed(before, after)

    pushed = [v.next_message(hub.snapshot_message) for v in everyone]
    if before == after:
        assert pushed == [None, None]
    else:
        assert pushed[0] is pushed[1]  # one encoding for the audience
        body = orjson.loads(pushed[0] or "")
        assert body["type"] == "alerts" and len(body["alerts"]) == len(after)
        assert [(a["kind"], a["scope"], a["subject"], a["detail"]) for a in body["alerts"]] == \
               [(a.kind, a.scope, a.subject, a.detail) for a in after]
    for merchant, viewers in shops.items():
        got = [v.next_message(hub.snapshot_message) for v in viewers]
        own_before, own_after = ([a for a in raised if _mine(a.kind, a.scope, a.subject, merchant)]
                                 for raised in (before, after))
        if own_before == own_after:
            assert got == [None, None], merchant  # another merchant's alert moved: no message here
            continue
        assert got[0] is got[1]
        body = orjson.loads(got[0] or "")
        assert body["type"] == "alerts" and len(body["alerts"]) == len(own_after)
        assert all(_mine(a["kind"], a["scope"], a["subject"], merchant) for a in body["alerts"]), body


def test_a_snapshot_carries_the_alerts_now_even_one_encoded_before_they_changed() -> None:
    hub = Hub(SalesView())
    silent = alerts.Alert("silent", "merchant", "m1", "no orders in 5 min where 30 were expected")
    other = alerts.Alert("silent", "merchant", "m2", "no orders in 5 min where 40 were expected")
    assert orjson.loads(hub.snapshot_message(DAY))["alerts"] == []
    assert orjson.loads(hub.merchant_message(DAY, "m1"))["alerts"] == []
    hub.alerts_changed([], [silent, other])  # within the same push tick as the snapshots above
    shown = orjson.loads(hub.snapshot_message(DAY))
    assert [(a["kind"], a["subject"]) for a in shown["alerts"]] == [("silent", "m1"), ("silent", "m2")]
    assert [a["subject"] for a in orjson.loads(hub.merchant_message(DAY, "m1"))["alerts"]] == ["m1"]
    assert orjson.loads(hub.merchant_message(DAY, "m2"))["alerts"][0]["detail"] == other.detail


def _records(now: int) -> list[bytes]:
    """m1 and m2 sold 10 orders a minute last year around now; today m1 stopped 10 min ago, m2 did not.
    The checkpoint is of now: the data-age alert comes only once ALERT_DATA_AGE_S has passed."""
    def sold(merchant: str, start: int, first: int, last: int) -> list[dict[str, object]]:
        return [order_event(merchant_id=merchant, occurred_at=start + k * MIN + i * 1000)
                for k in range(first, last) for i in range(10)]
    events = [*sold("m1", now - YEAR_MS, -30, 10), *sold("m2", now - YEAR_MS, -30, 10),
              *sold("m1", now, -30, -10), *sold("m2", now, -30, 0)]
    return checkpoints(events, now)


def _link(merchant: str, now: int) -> str:
    return urlsplit(links.url("http://127.0.0.1:8000", TOKEN, merchant, now + 3_600_000)).query


def _kinds(message: dict[str, Any]) -> set[tuple[str, str]]:
    return {(a["kind"], a["subject"]) for a in message["alerts"]}


@pytest.mark.timeout(30)  # a socket that never hears of the data age fails here
def test_merchant_sockets_get_their_own_alerts_in_the_snapshot_and_pushed_when_the_data_ages(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALERT_DATA_AGE_S", "2")  # raised at the watch's second look, 5 s in
    now = int(time.time() * 1000)
    silent, old = ("silent", "m1"), ("data_age", "all")
    with app(_records(now), token=TOKEN) as running:
        client = running.client
        sockets = {"all": f"token={TOKEN}", "m1": _link("m1", now), "m2": _link("m2", now)}
        seen: dict[str, list[dict[str, Any]]] = {name: [] for name in sockets}
        with client.websocket_connect(f"/ws?{sockets['all']}") as everyone, \
                client.websocket_connect(f"/ws?{sockets['m1']}") as m1, \
                client.websocket_connect(f"/ws?{sockets['m2']}") as m2:
            for name, ws in (("all", everyone), ("m1", m1), ("m2", m2)):
                # Until the data-age alert shows: the socket's first snapshot, maybe an alerts message with
                # m1's silence (if the watch's first look came after it), then the data age's.
                while not seen[name] or old not in _kinds(seen[name][-1]):
                    message = orjson.loads(ws.receive_text())
                    if "alerts" in message:
                        seen[name].append(message)
    first = {name: messages[0] for name, messages in seen.items()}
    assert {name: m["type"] for name, m in first.items()} == {"all": "snapshot", "m1": "snapshot",
                                                              "m2": "snapshot"}
    pushed = {name: [m for m in messages if m["type"] == "alerts"] for name, messages in seen.items()}
    assert all(pushed.values()), pushed  # the data age came on the socket, not in a snapshot
    assert _kinds(pushed["all"][-1]) == {silent, old}
    assert _kinds(pushed["m1"][-1]) == {silent, old}
    assert _kinds(pushed["m2"][-1]) == {old}
    for message in seen["m2"]:
        assert silent not in _kinds(message)  # m1's silence is never on m2's socket
