"""Alert timing on the real stack (app.alert_watch over the app's own view): a merchant that stops mid-load
raises exactly one `silent` alert, in /api/alerts and /metrics, no sooner than its last whole minute has
passed and within a window plus one evaluation of its last order, and clears once it sells again; a burst
of junk records raises the `dead_letters` alert, a smaller one does not.

Shortened thresholds by env: a one-minute window, a few orders expected. The compare day is last year's
same weekday (a loadgen backfill of three merchants); today's level comes from a first batch of orders
stamped over the last few minutes, at about twice the compare day's orders by now, so the stopped
merchant's expected orders (its compare minute, doubled) are well above ALERT_MIN_EXPECTED.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.alert_watch import EVERY_S
from tests.conftest import App, Processes, start_stack, wait_until
from tests.e2e.test_compare_page import away_from_midnight, closers
from tests.support.web import metrics, orders_now, produce

pytestmark = pytest.mark.kafka
MINUTE_S = 60
SLACK_S = 4  # the load's tick (0.25 s), a checkpoint (0.1 s), the app's fold, this test's polls, under load
MERCHANTS = ["m00000", "m00001", "m00002"]  # the loadgen catalog of --merchants 3; m00000 is the busiest
STOPS = MERCHANTS[0]
THRESHOLDS = {"ALERT_WINDOW_MINUTES": "1", "ALERT_MIN_EXPECTED": "3", "ALERT_BELOW_FRACTION": "0.2",
              "ALERT_DEAD_LETTERS_JUMP": "50", "ALERT_DATA_AGE_S": "600"}


def raised(app: App) -> set[tuple[str, str, str]]:
    return {(a["kind"], a["scope"], a["subject"]) for a in app.get("/api/alerts").json()["alerts"]}


def compared_with(app: App) -> str | None:
    return (app.get("/api/snapshot?compare=default").json()["compare"] or {}).get("day")


def in_metrics(app: App, kind: str, scope: str, subject: str) -> bool:
    name = f'salesdash_alerts{{kind="{kind}",scope="{scope}",subject="{subject}"}}'
    return metrics(app.get("/metrics").text).get(name) == 1


class Shoppers:
    """Live orders for each merchant every tick, stamped now; STOPS's only before `stop_at`."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.stop_at = float("inf")  # epoch s
        self.last_ms = 0  # STOPS's newest order
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._done.is_set():
            events = [orders_now(1, merchant_id=m)[0] for m in MERCHANTS[1:]]
            mine = orders_now(1, merchant_id=STOPS) if time.time() < self.stop_at else []
            produce(self.env, events + mine)
            if mine:
                self.last_ms = mine[0]["occurred_at"]
            self._done.wait(0.25)

    def __enter__(self) -> Shoppers:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join(10)


def compare_day(processes: Processes, tmp_path: Path) -> tuple[str, dict[int, int]]:
    """Last year's same weekday, backfilled for MERCHANTS: the day and its orders by minute of day."""
    old = (datetime.now(UTC).date() - timedelta(days=364)).isoformat()
    backfill = processes.run("-m", "loadgen", "backfill", "--day", old, "--orders", "30000", "--profile",
                             "steady", "--merchants", str(len(MERCHANTS)), "--seed", "3",
                             "--truth", str(tmp_path / "old.json"))
    assert backfill.returncode == 0, backfill.stderr
    start = int(datetime.fromisoformat(old).replace(tzinfo=UTC).timestamp() * 1000)
    minutes = json.loads((tmp_path / "old.json").read_text())["days"][old]["minutes"]
    return old, {(m["start_ms"] - start) // 60_000: m["orders"] for m in minutes}


def todays_level(env: dict[str, str], old_minutes: dict[int, int]) -> None:
    """Today's first orders, oldest first over the last three minutes: twice the compare day's orders by
    a few minutes from now, so today's level against it is about 2."""
    now = datetime.now(UTC)
    by = now.hour * 60 + now.minute + 5
    count = 2 * sum(n for minute, n in old_minutes.items() if minute < by)
    share = count // len(MERCHANTS) + 1
    batch = [e for m in MERCHANTS for e in orders_now(share, spread_ms=180_000 // share + 1, merchant_id=m)]
    produce(env, sorted(batch, key=lambda e: e["occurred_at"]))


@pytest.fixture
def alerting(processes: Processes) -> Iterator[App]:
    processes.env.update(THRESHOLDS)
    yield start_stack(processes)


@pytest.mark.timeout(300 + 530)  # up to 530 s waiting for midnight to pass, then the run itself
def test_a_merchant_that_stops_raises_one_silent_alert_within_the_window_and_clears_when_it_resumes(
    alerting: App, processes: Processes, tmp_path: Path
) -> None:
    app = alerting
    # The whole run (about four minutes) and today's first orders (three minutes back) within today.
    away_from_midnight(margin_s=330, since_s=200)
    old, old_minutes = compare_day(processes, tmp_path)
    todays_level(processes.env, old_minutes)
    seen: set[tuple[str, str, str]] = set()

    def merchant_alerts() -> set[tuple[str, str, str]]:
        now = {a for a in raised(app) if a[1] == "merchant"}
        seen.update(now)
        return now

    with Shoppers(processes.env) as shop:
        closers(processes.env)  # every partition past last year's day: it closes and becomes the default
        wait_until(lambda: compared_with(app) == old, 60, message="last year closed, the default")
        assert merchant_alerts() == set()
        # STOPS's last order falls just before a whole minute, its last minute with orders.
        boundary = (int(time.time()) // MINUTE_S + 1) * MINUTE_S
        if boundary - time.time() < 3:
            boundary += MINUTE_S
        shop.stop_at = boundary - 0.5
        wait_until(lambda: not merchant_alerts() and time.time() >= boundary + 0.5, MINUTE_S + 5,
                   message="the minute over, no alert before it")
        last_s = shop.last_ms / 1000
        assert boundary - 2 <= last_s < boundary

        want = {("silent", "merchant", STOPS)}
        wait_until(lambda: merchant_alerts() == want, MINUTE_S + EVERY_S + SLACK_S + 5,
                   interval=0.1, message=f"{STOPS} silent")
        alerted = time.time()
        assert boundary + MINUTE_S <= alerted <= last_s + MINUTE_S + EVERY_S + SLACK_S, (alerted - last_s)
        assert in_metrics(app, "silent", "merchant", STOPS)

        shop.stop_at = float("inf")
        resumed = time.time()
        wait_until(lambda: merchant_alerts() == set(), MINUTE_S + EVERY_S + SLACK_S + 5, interval=0.1,
                   message=f"{STOPS} back")
        cleared = time.time()
        assert cleared - resumed <= MINUTE_S + EVERY_S + SLACK_S
        assert not in_metrics(app, "silent", "merchant", STOPS)
    assert seen == want  # one alert, for that merchant only, the whole time


JUNK = [b'{"event_id": "cut-off', b'["an", "array"]', b"not json at all", b'{"total_minor": "12.50"}']


def junk(path: Path, count: int) -> Path:
    path.write_bytes(b"".join(JUNK[i % len(JUNK)] + b"\n" for i in range(count)))
    return path


def test_a_burst_of_junk_raises_the_dead_letters_alert_and_fewer_than_the_jump_do_not(
    alerting: App, processes: Processes, tmp_path: Path
) -> None:
    app = alerting
    away_from_midnight(margin_s=90)  # junk is counted on the day it arrives: all of it today
    today = datetime.now(UTC).date().isoformat()

    def dead_letters() -> int:
        return sum(app.get(f"/api/snapshot?day={today}").json()["dead_letters"].values())

    produce(processes.env, orders_now(20))  # a working shop first: valid orders are no dead letters
    sent = processes.run("-m", "loadgen", "send", str(junk(tmp_path / "few.jsonl", 40)))
    assert sent.returncode == 0, sent.stderr
    wait_until(lambda: dead_letters() == 40, 30, message="40 dead letters counted")
    quiet_until = time.monotonic() + EVERY_S + 1  # one evaluation at least, with the 40 counted
    while time.monotonic() < quiet_until:
        assert "dead_letters" not in {kind for kind, _, _ in raised(app)}
        time.sleep(0.25)

    sent = processes.run("-m", "loadgen", "send", str(junk(tmp_path / "more.jsonl", 20)))
    assert sent.returncode == 0, sent.stderr
    wait_until(lambda: dead_letters() == 60, 30, message="60 dead letters counted")
    counted = time.monotonic()
    wait_until(lambda: ("dead_letters", "all", "all") in raised(app), EVERY_S + SLACK_S, interval=0.1,
               message="the dead-letter alert")
    assert time.monotonic() - counted <= EVERY_S + SLACK_S
    assert in_metrics(app, "dead_letters", "all", "all")
    assert {a for a in raised(app) if a[0] != "dead_letters"} == set()
