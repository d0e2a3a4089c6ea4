"""Shared fixtures: one real Kafka broker per test session, fresh topics and groups per test, and the
salesdash processes run as a user would run them."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import settings
from playwright.sync_api import ConsoleMessage, Dialog, Page, sync_playwright

from broker import Broker, free_port
from tests.support import schedule

# Property tests: `make check` runs a fixed seed and a bounded count, `make test` more examples on a new seed.
settings.register_profile("check", derandomize=True, database=None, deadline=None, max_examples=30)
settings.register_profile("full", database=None, deadline=None, max_examples=60)
settings.load_profile("check")  # pytest --hypothesis-profile=full loads the other one after this

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def picture(name: str) -> Path:
    """Where a browser test saves its screenshot: docs/ (the pictures the docs show) when
    SALESDASH_UPDATE_DOCS is set, test-artifacts/ otherwise, so a test run leaves the tree clean."""
    folder = ROOT / "docs" if os.environ.get("SALESDASH_UPDATE_DOCS") else ARTIFACTS
    folder.mkdir(exist_ok=True)
    return folder / name


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    broker = Broker(tmp_path_factory.mktemp("kafka"), port=free_port(), heap="512m")
    broker.start()
    yield broker
    broker.kill()  # its data dies with the session: a clean shutdown can wait 30 s for nothing


@pytest.fixture
def env(kafka: Broker, tmp_path: Path) -> dict[str, str]:
    """Environment for one test's processes: its own topics and consumer group on the session broker."""
    run = uuid.uuid4().hex[:8]
    return {
        **os.environ,
        "KAFKA_BOOTSTRAP": kafka.bootstrap,
        "ORDERS_TOPIC": f"orders-{run}",
        "AGGREGATES_TOPIC": f"orders-{run}.aggregates",
        "DLQ_TOPIC": f"orders-{run}.dlq",
        "ORDERS_PARTITIONS": "4",
        "STREAM_GROUP": f"salesdash-stream-{run}",
        "STREAM_SESSION_TIMEOUT_S": "6",
        # Publishing pace for tests: a checkpoint and a fresh shopper sketch within a fifth of a second.
        "STREAM_CHECKPOINT_MS": "100",
        "STREAM_SKETCH_EVERY_MS": "200",
        "FAUST_DATADIR": str(tmp_path / "faust"),
        "PYTHONUNBUFFERED": "1",
    }


class Processes:
    """Starts `python -m <package>` processes; stops every one of them at the end of the test."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.running: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("ab")
        process = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=self.env, stdout=log,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        self.running.append((name, process))
        return process

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, *args], cwd=ROOT, env=self.env, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop_all(self) -> None:
        for _, process in reversed(self.running):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for _, process in self.running:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@pytest.fixture
def processes(env: dict[str, str], tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Processes]:
    procs = Processes(env, tmp_path)
    yield procs
    procs.stop_all()
    reports = (getattr(request.node, f"rep_{when}", None) for when in ("setup", "call"))
    if any(report is not None and report.failed for report in reports):
        for name, _ in procs.running:
            sys.stderr.write(f"\n----- {name} log -----\n{procs.log(name)[-4000:]}\n")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items[:] = schedule.longest_first(items, schedule.measured())


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


class App:
    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}/ws"

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.url + path, timeout=10)


def wait_until(condition, timeout: float, interval: float = 0.25, message: str = "condition"):  # type: ignore[no-untyped-def]
    """Poll `condition` until it returns something truthy; that value is returned."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = condition()
            if last:
                return last
        except (httpx.HTTPError, OSError) as exc:
            last = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}; last: {last!r}")


def settled(app: App, day: str | None = None) -> dict | None:  # type: ignore[type-arg]
    """The day's snapshot once it has stopped changing for a second and is not empty; else None."""
    path = "/api/snapshot" + (f"?day={day}" if day else "")
    first = app.get(path).json()
    time.sleep(1.0)
    second = app.get(path).json()
    return second if first["totals"] == second["totals"] and second["totals"]["orders"] else None


def utc_day(ms: float | None = None) -> str:
    """The UTC day of `ms` (epoch ms; default now)."""
    return time.strftime("%Y-%m-%d", time.gmtime((time.time() * 1000 if ms is None else ms) / 1000))


def dead_letters_on(app: App, days: set[str]) -> dict[str, int]:
    """Dead letters by reason over `days`: a record is tallied on the day of its Kafka timestamp, which is
    its arrival for a record with no usable time (not JSON, an event from 1970 or next week)."""
    total: dict[str, int] = {}
    for day in days:
        for reason, count in app.get(f"/api/snapshot?day={day}").json()["dead_letters"].items():
            total[reason] = total.get(reason, 0) + count
    return total


@pytest.fixture
def stack(processes: Processes) -> App:
    """Worker and app running against this test's topics (no load: the test sends what it needs)."""
    return start_stack(processes)


def start_stack(processes: Processes) -> App:
    """Start the worker and the app as a user would; returns the app once it answers."""
    port = free_port()
    worker = processes.start("stream", "-m", "stream")
    processes.start("app", "-m", "app", "--port", str(port))
    app = App(port)
    wait_until(lambda: app.get("/healthz").status_code == 200, 60, message="app /healthz")
    assert worker.poll() is None, f"the worker exited: {processes.log('stream')[-2000:]}"
    return app


@pytest.fixture
def page() -> Iterator[tuple[Page, list[str]]]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is not installed: run `make chromium` (make test does it)")
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--disable-quic"])
        context = browser.new_context(viewport={"width": 1920, "height": 1080})
        tab = context.new_page()

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                errors.append(message.text)

        def on_dialog(dialog: Dialog) -> None:
            errors.append(f"a dialog opened: {dialog.message}")
            dialog.dismiss()

        tab.on("console", on_console)
        tab.on("pageerror", lambda exc: errors.append(str(exc)))
        tab.on("dialog", on_dialog)
        yield tab, errors
        browser.close()
