"""ALERT_WEBHOOK_URL (app.webhook) against a real HTTP endpoint on 127.0.0.1: each change delivered once,
retried after a 500; a hung endpoint holds up neither the alerts nor, beyond its attempts, the other
deliveries; a full queue drops and counts; a bad URL stops the app at start with one error line."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from app import alerts
from app.alert_watch import AlertWatch
from app.alerts import Alert
from app.compare import Comparisons
from app.webhook import Webhook, changes
from stream import config
from stream.core.salesview import SalesView
from tests.conftest import ROOT, wait_until
from tests.support.inprocess import app, checkpoints
from tests.support.orders import NOON, order_event
from tests.support.web import metrics

SILENT = Alert("silent", "merchant", "m1", "no orders in 5 min where 50 were expected")
DEAD = Alert("dead_letters", "all", "all", "60 dead letters in 5 min")


class _Endpoint(ThreadingHTTPServer):
    """Answers 500 to the first attempt of each body and 200 to the next; a POST to /hang, or of an alert
    whose subject starts with "hang", gets no answer until the test ends; one to /garbage, no HTTP."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.attempts: dict[bytes, int] = {}
        self.accepted: list[dict[str, Any]] = []
        self.headers_seen: list[tuple[str, str, str | None]] = []  # method, path, Content-Type
        self.lock = threading.Lock()
        self.released = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"


class _Handler(BaseHTTPRequestHandler):
    server: _Endpoint

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with self.server.lock:
            self.server.headers_seen.append(("POST", self.path, self.headers["Content-Type"]))
            tries = self.server.attempts[body] = self.server.attempts.get(body, 0) + 1
        if self.path == "/hang" or orjson.loads(body)["alert"]["subject"].startswith("hang"):
            self.server.released.wait(30)
            return
        if self.path == "/garbage":
            self.wfile.write(b"NOT HTTP AT ALL\r\n\r\n")
            return
        if tries > 1:
            with self.server.lock:
                self.server.accepted.append(orjson.loads(body))
        self.send_response(500 if tries == 1 else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the test reads what the endpoint recorded


@pytest.fixture
def endpoint() -> Iterator[_Endpoint]:
    server = _Endpoint()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.released.set()
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def hooks() -> Iterator[list[Webhook]]:
    """Webhooks a test starts, stopped even when it fails, so no thread outlives it."""
    started: list[Webhook] = []
    yield started
    for hook in started:
        hook.stop()


def _started(hooks: list[Webhook], hook: Webhook) -> Webhook:
    hook.start()
    hooks.append(hook)
    return hook


def _fields(alert: Alert) -> dict[str, str]:
    return {"kind": alert.kind, "scope": alert.scope, "subject": alert.subject, "detail": alert.detail}


def test_each_raise_and_clear_is_delivered_once_after_a_500_with_its_body(endpoint: _Endpoint,
                                                                        hooks: list[Webhook]) -> None:
    hook = _started(hooks, Webhook(endpoint.url, backoff_s=0.01, timeout_s=5))
    first = int(time.time() * 1000)
    hook.notify([], [DEAD, SILENT])
    # The same three alerts with newer details: no change, nothing sent.
    hook.notify([DEAD, SILENT], [Alert("dead_letters", "all", "all", "70 dead letters in 5 min"), SILENT])
    hook.notify([SILENT], [])
    last = int(time.time() * 1000)
    wait_until(lambda: hook.sent == 3, 20, 0.02, "three deliveries")
    hook.stop()  # nothing in flight any more: what the endpoint has is all it gets
    bodies = sorted(endpoint.accepted, key=lambda body: (body["event"], body["alert"]["kind"]))
    assert [(body["event"], body["alert"]) for body in bodies] == [
        ("cleared", _fields(SILENT)), ("raised", _fields(DEAD)), ("raised", _fields(SILENT))]
    assert all(first <= body["at_ms"] <= last for body in bodies)
    assert sorted(endpoint.attempts.values()) == [2, 2, 2]  # each refused once, accepted once, no more
    assert set(endpoint.headers_seen) == {("POST", "/hook", "application/json")}
    assert (hook.sent, hook.failed, hook.dropped) == (3, 0, 0)


def test_a_hung_endpoint_delays_others_only_by_its_attempts_and_a_full_queue_drops(
        endpoint: _Endpoint, hooks: list[Webhook]) -> None:
    hook = _started(hooks, Webhook(endpoint.url, queue_size=2, attempts=2, timeout_s=0.5, backoff_s=0.05))
    hang = Alert("silent", "merchant", "hang-1", "no orders")
    hook.notify([], [hang])
    wait_until(lambda: len(endpoint.headers_seen) == 1, 10, 0.01, "the hung attempt")  # off the queue
    started = time.monotonic()
    others = [Alert("silent", "merchant", f"m{n}", "no orders") for n in (1, 2, 3)]
    hook.notify([hang], [hang, *others])  # two fit in the queue behind the hung one; the third is dropped
    assert time.monotonic() - started < 0.25  # queued, not sent: the caller never waits on the endpoint
    assert hook.dropped == 1
    wait_until(lambda: hook.sent == 2, 20, 0.01, "the two queued deliveries")
    # The hung change's two attempts (0.5 s each, 0.05 s apart), then two 500-then-200 deliveries.
    assert time.monotonic() - started < 2 * 0.5 + 0.05 + 3.0  # slack: two cores shared with other tests
    assert hook.failed == 1
    assert sorted(body["alert"]["subject"] for body in endpoint.accepted) == ["m1", "m2"]


def test_an_endpoint_answering_garbage_fails_each_change_and_the_thread_goes_on(endpoint: _Endpoint,
                                                                               hooks: list[Webhook]) -> None:
    url = endpoint.url.replace("/hook", "/garbage")
    hook = _started(hooks, Webhook(url, attempts=2, timeout_s=5, backoff_s=0.01))
    hook.notify([], [SILENT, DEAD])
    wait_until(lambda: hook.failed == 2, 20, 0.02, "both changes given up")
    assert sorted(endpoint.attempts.values()) == [2, 2] and hook.sent == 0


def test_alert_watch_keeps_evaluating_and_telling_listeners_while_the_webhook_hangs(
        endpoint: _Endpoint, hooks: list[Webhook]) -> None:
    view = SalesView()
    for record in checkpoints([order_event()], NOON):
        view.apply(record)
    old_data = alerts.Thresholds(window_minutes=5, min_expected=20, below_fraction=0.2, dead_letters_jump=0,
                                 data_age_s=0)
    hook = _started(hooks, Webhook(endpoint.url.replace("/hook", "/hang"), attempts=1, timeout_s=30))
    told: list[tuple[list[Alert], list[Alert]]] = []

    def broken(before: list[Alert], after: list[Alert]) -> None:
        raise RuntimeError("a listener's bug")

    watch = AlertWatch(view, Comparisons(view), old_data, [broken, hook.notify,
                                                           lambda b, a: told.append((b, a))])

    async def run() -> None:
        task = asyncio.create_task(watch.run(every_s=0.01))
        try:
            while not told or ("POST", "/hang", "application/json") not in endpoint.headers_seen:
                await asyncio.sleep(0.01)  # raised, and its delivery now hung
            watch.thresholds = alerts.Thresholds(window_minutes=5, min_expected=20, below_fraction=0.2,
                                                 dead_letters_jump=0, data_age_s=1e12)
            while told[-1][1] != []:
                await asyncio.sleep(0.01)
        finally:
            task.cancel()

    # The webhook's endpoint never answers (30 s an attempt): the watch must not notice.
    asyncio.run(asyncio.wait_for(run(), 10))
    assert [a.kind for a in told[0][1]] == ["data_age"] and told[0][0] == []
    assert told[-1][0] and told[-1][1] == []


@given(st.lists(st.sampled_from([SILENT, DEAD, Alert("silent", "merchant", "m1", "other detail"),
                                 Alert("data_age", "all", "all", "data is 40 s old")]), unique=True),
       st.lists(st.sampled_from([SILENT, DEAD, Alert("below", "merchant", "m1", "3 orders")]), unique=True))
def test_changes_take_the_alerts_from_before_to_after_once_each(before: list[Alert],
                                                                after: list[Alert]) -> None:
    def key(alert: dict[str, str]) -> tuple[str, str, str]:
        return alert["kind"], alert["scope"], alert["subject"]

    found = changes(before, after, 7)
    cleared = [key(body["alert"]) for body in found if body["event"] == "cleared"]  # type: ignore[arg-type]
    raised = [key(body["alert"]) for body in found if body["event"] == "raised"]  # type: ignore[arg-type]
    was = {(a.kind, a.scope, a.subject) for a in before}
    now = {(a.kind, a.scope, a.subject) for a in after}
    assert sorted(cleared) == sorted(was - now) and sorted(raised) == sorted(now - was)
    assert all(body["at_ms"] == 7 for body in found)


def test_the_app_posts_its_alerts_and_counts_them_in_metrics(endpoint: _Endpoint,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALERT_WEBHOOK_URL", endpoint.url)
    # A checkpoint from Black Friday: data far older than ALERT_DATA_AGE_S, raised at the first look.
    with app(checkpoints([order_event()], NOON)) as running:
        wait_until(lambda: metrics(running.client.get("/metrics").text)[
            "salesdash_alert_webhook_sent_total"] == 1, 20, 0.05, "the data-age alert delivered")
        samples = metrics(running.client.get("/metrics").text)
    assert [(body["event"], body["alert"]["kind"]) for body in endpoint.accepted] == [("raised", "data_age")]
    assert samples["salesdash_alert_webhook_failed_total"] == 0
    assert samples["salesdash_alert_webhook_dropped_total"] == 0


@pytest.mark.parametrize("raw", ["ftp://hooks.example/x", "hooks.example/x", "http://", "http:///path",
                                 "http://h:99999/", "http://h:port/", "http://h/a b", "http://[::1/x"])
def test_a_bad_webhook_url_is_one_error_line(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("ALERT_WEBHOOK_URL", raw)
    with pytest.raises(SystemExit) as stopped:
        config.AppSettings(kafka=config.load())
    assert str(stopped.value) == f"error: ALERT_WEBHOOK_URL must be an http:// or https:// URL, got {raw!r}"


def test_the_app_refuses_a_bad_webhook_url_before_serving() -> None:
    with socket.socket() as taken:  # were the URL let through, the app would fail to listen instead
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        done = subprocess.run([sys.executable, "-m", "app", "--port", str(taken.getsockname()[1])], cwd=ROOT,
                              capture_output=True, text=True, timeout=60,
                              env={"PATH": "/usr/bin:/bin", "ALERT_WEBHOOK_URL": "gopher://x"})
    assert done.returncode == 1
    assert done.stderr == "error: ALERT_WEBHOOK_URL must be an http:// or https:// URL, got 'gopher://x'\n"
