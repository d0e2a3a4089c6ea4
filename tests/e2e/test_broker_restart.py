"""Failover 4: the single broker stops and comes back with the whole stack running (worker, app, load and a
page). While it is gone /healthz says 503 with kafka false, /metrics salesdash_kafka_up 0 and the page's
badge "kafka down", each within 15 s; within 15 s of its return all three say so again; and then the
app's figures equal the load generator's ground truth to the cent."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Page

from broker import Broker, free_port
from tests.conftest import ARTIFACTS, App, Processes, settled, wait_until
from tests.support.truth import by_minute, money
from tests.support.web import metrics

pytestmark = [pytest.mark.kafka, pytest.mark.browser]
NOTICED_WITHIN_S = 15.0


def health(app: App) -> tuple[int, bool, float]:
    """/healthz's status and its `kafka`, and /metrics' salesdash_kafka_up."""
    response = app.get("/healthz")
    up = metrics(app.get("/metrics").text)["salesdash_kafka_up"]
    return response.status_code, response.json()["kafka"], up


def seen_within(tab: Page, app: App, want: tuple[int, bool, float], badge: str, since: float) -> float:
    """Seconds from `since` until the app and the page both say `want`; fails past NOTICED_WITHIN_S."""
    left = NOTICED_WITHIN_S - (time.monotonic() - since)
    wait_until(lambda: health(app) == want, left, message=f"health {want}")
    tab.wait_for_selector(f"#conn[data-state={badge}]", timeout=max(0.1, NOTICED_WITHIN_S -
                                                                     (time.monotonic() - since)) * 1000)
    return time.monotonic() - since


def test_a_broker_restart_is_reported_while_it_lasts_and_every_order_is_counted_after_it(
    tmp_path: Path, page: tuple[Page, list[str]]
) -> None:
    tab, errors = page
    began = time.monotonic()
    broker = Broker(tmp_path / "k", port=free_port(), heap="512m")  # its own: the session's stays up
    broker.start()
    run = uuid.uuid4().hex[:8]
    env = {**os.environ, "KAFKA_BOOTSTRAP": broker.bootstrap, "ORDERS_TOPIC": f"orders-{run}",
           "AGGREGATES_TOPIC": f"orders-{run}.aggregates", "DLQ_TOPIC": f"orders-{run}.dlq",
           "ORDERS_PARTITIONS": "4", "STREAM_GROUP": f"salesdash-stream-{run}",
           "STREAM_SESSION_TIMEOUT_S": "6", "STREAM_CHECKPOINT_MS": "100", "STREAM_SKETCH_EVERY_MS": "200",
           "FAUST_DATADIR": str(tmp_path / "faust"), "PYTHONUNBUFFERED": "1"}
    processes = Processes(env, tmp_path)
    try:
        port = free_port()
        worker = processes.start("stream", "-m", "stream")
        processes.start("app", "-m", "app", "--port", str(port))
        app = App(port)
        wait_until(lambda: app.get("/healthz").status_code == 200, 60, message="app /healthz")
        wait_until(lambda: "counting partitions" in processes.log("stream"), 60, message="worker counting")
        tab.goto(app.url)
        tab.wait_for_selector("#conn[data-state=live]", timeout=15_000)
        print(f"stack up after {time.monotonic() - began:.1f} s")

        truth_path = tmp_path / "truth.json"
        load = processes.start("loadgen", "-m", "loadgen", "run", "--rate", "200", "--duration", "12",
                               "--seed", "11", "--truth", str(truth_path))
        # Orders flowing, counted and shown on the page: the broker goes away mid-run.
        tab.wait_for_function("() => Number(document.querySelector('#orders').dataset.value) > 0",
                              timeout=30_000)
        assert health(app) == (200, True, 1)

        stopped = time.monotonic()
        broker.stop()
        took = seen_within(tab, app, (503, False, 0), "kafka-down", stopped)
        assert tab.text_content("#conn") == "kafka down"
        ARTIFACTS.mkdir(exist_ok=True)
        tab.screenshot(path=str(ARTIFACTS / "kafka-down.png"))
        print(f"outage reported {took:.1f} s after the broker was stopped")
        assert worker.poll() is None and load.poll() is None  # both wait for the broker to come back

        broker.start()  # same port, same data
        back = time.monotonic()
        print(f"broker back after {back - stopped:.1f} s")
        took = seen_within(tab, app, (200, True, 1), "live", back)
        assert tab.text_content("#conn") == "live"
        print(f"recovery reported {took:.1f} s after the broker was back")

        assert load.wait(120) == 0, processes.log("loadgen")
        print(f"load done after {time.monotonic() - began:.1f} s")
        truth = json.loads(truth_path.read_text())
        assert truth["counts"]["acknowledged"] == truth["counts"]["sent"] == 2_400
        for day, want in truth["days"].items():
            body = wait_until(lambda d=day, w=want: (b := settled(app, d)) and  # type: ignore[misc]
                              b["totals"]["orders"] >= w["totals"]["orders"] and b, 60,
                              message=f"{day} fully counted: {want['totals']}")
            assert money(body["totals"]) == want["totals"]
            assert by_minute(body) == by_minute(want)
        assert worker.poll() is None, "the worker exited"
        assert errors == [], errors
    except BaseException:
        with contextlib.suppress(Exception):
            sys.stderr.write(f"\n/api/snapshot totals: {app.get('/api/snapshot').json()['totals']}\n")
        for name, _ in processes.running:
            sys.stderr.write(f"\n----- {name} log -----\n{processes.log(name)[-4000:]}\n")
        raise
    finally:
        processes.stop_all()
        broker.stop()
