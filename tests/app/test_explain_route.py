"""/api/explain?day=D&minute=HH:MM[&merchant=M]: the minute's figures, behind the token (or, for one
merchant's minute, its link); a malformed minute is a 400."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from app import links
from stream.core.eventtime import day_of
from tests.support.inprocess import app, checkpoints
from tests.support.orders import order_event

TOKEN = "wall-token"


def test_a_minute_is_explained_to_the_token_and_a_merchants_minute_to_its_link() -> None:
    now = int(time.time() * 1000)
    minute = now - now % 60_000
    first = order_event(merchant_id="m1", occurred_at=minute + 1, total_minor=300)
    records = checkpoints([first, first, order_event(merchant_id="m2", occurred_at=minute + 2)], now)
    day, hh_mm = day_of(now), time.strftime("%H:%M", time.gmtime(minute / 1000))
    link = urlsplit(links.url("http://x", TOKEN, "m1", now + 60_000)).query
    with app(records, token=TOKEN) as running:
        client = running.client
        explained = client.get(f"/api/explain?day={day}&minute={hh_mm}&token={TOKEN}").json()
        counts = (explained["orders"], explained["duplicates_dropped"], explained["late_corrections"])
        assert counts == (2, 1, 0)  # two orders, and the first one's second copy dropped
        mine = client.get(f"/api/explain?day={day}&minute={hh_mm}&{link}").json()
        assert (mine["merchant_id"], mine["orders"], mine["gross_cents"]) == ("m1", 1, 300)
        assert client.get(f"/api/explain?day={day}&minute={hh_mm}").status_code == 401
        unsigned = link.replace("merchant=m1&", "")
        assert client.get(f"/api/explain?day={day}&minute={hh_mm}&{unsigned}").status_code == 401
        for bad in ("24:00", "7:05", "12:60", "", "１２:００"):
            answer = client.get(f"/api/explain?day={day}&minute={bad}&token={TOKEN}")
            assert answer.status_code == 400, bad
