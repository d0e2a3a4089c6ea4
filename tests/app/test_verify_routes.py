"""The Verify routes in-process, without a broker: refusals before any work, one audit at a time, a
child's verdict or failure read back, and a report made once for a closed day only. The children are
stand-ins (tiny Python scripts): what `python -m stream audit|report` does is tests/e2e's."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from app import verify
from tests.support.inprocess import app, checkpoints
from tests.support.orders import order_event

DAY, LATER = "2025-11-28", "2025-11-30"
REPORT = {"ok": True, "line": "verified: 1 minutes, 1 orders, $25.00, equal to the cent (offsets 0:0-1)",
          "day": DAY, "day_closed": True, "differences": [], "unique_customers": {"exact": 1},
          "offsets": {"0": [0, 1]}, "cut": {"0": 2}, "ms": 1_764_400_000_000}


class Children:
    """Stands in for the children: records each command and runs `script` (its argv holds the command)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, script: str = "") -> None:
        self.commands: list[list[str]] = []
        self.script = script
        monkeypatch.setattr(verify, "_spawn", self.spawn)

    def spawn(self, args: list[str], errors: Path) -> subprocess.Popen[bytes]:
        self.commands.append(args)
        with errors.open("wb") as sink:
            return subprocess.Popen([sys.executable, "-c", self.script, *args], stdout=subprocess.DEVNULL,
                                    stderr=sink)


WRITE_JSON = ("import sys, pathlib; a = sys.argv[1:]; "
              f"pathlib.Path(a[a.index('--json') + 1]).write_bytes({orjson.dumps(REPORT)!r})")
WRITE_HTML = ("import sys, pathlib; a = sys.argv[1:]; "
              "pathlib.Path(a[a.index('--out') + 1]).write_text('<!doctype html><p>report</p>')")
SLEEP = "import time; time.sleep(60)"
FAIL = "import sys; print('error: no topic orders-x on the broker', file=sys.stderr); sys.exit(3)"


def closed_day() -> list[bytes]:
    """DAY's one order, closed by an order two days later (one partition, counted by the real core)."""
    now = int(time.time() * 1000)
    midnight = 1_764_288_000_000  # 2025-11-28T00:00:00Z
    return checkpoints([order_event(occurred_at=midnight + 43_200_000),
                        order_event(occurred_at=midnight + 2 * 86_400_000 + 43_200_000)], now)


def wait_for(client: Any, audit: str, state: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        body: dict[str, Any] = client.get(f"/api/audits/{audit}").json()
        if body["state"] == state:
            return body
        time.sleep(0.05)
    raise AssertionError(f"audit {audit} never became {state}")


@pytest.mark.parametrize(("body", "headers", "status"), [
    ({"day": DAY}, {"origin": "http://evil.example"}, 403),  # another site's page may not start work here
    ("not json", {}, 400),
    ({"day": 20251128}, {}, 400),
    ({"day": "28.11.2025"}, {}, 400),
    ({"day": "2999-01-01"}, {}, 400),
    ({"day": "2025-11-20"}, {}, 404),  # not in the log
    ([], {}, 400),
])
def test_an_audit_request_is_refused_before_any_work(
        monkeypatch: pytest.MonkeyPatch, body: Any, headers: dict[str, str], status: int) -> None:
    children = Children(monkeypatch, WRITE_JSON)
    with app(days=[DAY]) as running:
        content = body if isinstance(body, str) else orjson.dumps(body)
        response = running.client.post("/api/audits", content=content, headers=headers)
    assert response.status_code == status and "error" in response.json()
    assert children.commands == []


def test_the_verify_routes_want_the_token(monkeypatch: pytest.MonkeyPatch) -> None:
    Children(monkeypatch, WRITE_JSON)
    with app(days=[DAY], token="t") as running:
        client = running.client
        assert client.post("/api/audits", json={"day": DAY}).status_code == 401
        assert client.get(f"/api/audits?day={DAY}").status_code == 401
        assert client.get("/api/audits/x").status_code == 401
        assert client.get(f"/api/reports/{DAY}.html").status_code == 401
        assert client.post("/api/audits?token=t", json={"day": DAY}).status_code == 202


def test_an_audit_runs_in_a_child_and_its_verdict_is_read_back(monkeypatch: pytest.MonkeyPatch) -> None:
    children = Children(monkeypatch, WRITE_JSON)
    with app(days=[DAY]) as running:
        client = running.client
        started = client.post("/api/audits", json={"day": DAY})
        assert started.status_code == 202
        audit = started.json()["audit"]
        done = wait_for(client, audit, "done")
        latest = client.get(f"/api/audits?day={DAY}").json()["latest"]
        unknown = client.get("/api/audits/no-such-audit")
    assert children.commands == [["audit", "--day", DAY, "--json", children.commands[0][-1]]]
    assert done["verdict"]["ok"] is True and done["line"] == REPORT["line"]
    assert (done["ms"], done["offsets"], done["cut"]) == (REPORT["ms"], REPORT["offsets"], REPORT["cut"])
    assert latest == done and unknown.status_code == 404


def test_one_audit_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    children = Children(monkeypatch, SLEEP)
    with app(days=[DAY, LATER]) as running:
        client = running.client
        first = client.post("/api/audits", json={"day": DAY}).json()["audit"]
        again = client.post("/api/audits", json={"day": DAY})
        other = client.post("/api/audits", json={"day": LATER})
        assert client.get(f"/api/audits/{first}").json()["state"] == "running"
    assert again.status_code == 202 and again.json()["audit"] == first  # the same day: the running one
    assert other.status_code == 429 and other.json()["error"].startswith(f"an audit of {DAY} is running")
    assert len(children.commands) == 1


def test_a_child_that_fails_is_a_failed_audit_with_its_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    Children(monkeypatch, FAIL)
    with app(days=[DAY]) as running:
        audit = running.client.post("/api/audits", json={"day": DAY}).json()["audit"]
        failed = wait_for(running.client, audit, "failed")
    assert failed["error"] == "no topic orders-x on the broker" and failed["verdict"] is None


def test_a_report_is_made_once_for_a_closed_day_and_refused_otherwise(
        monkeypatch: pytest.MonkeyPatch) -> None:
    children = Children(monkeypatch, WRITE_HTML)
    with app(closed_day(), days=[DAY, LATER]) as running:
        client = running.client
        status = client.get(f"/api/audits?day={DAY}").json()
        first = client.get(f"/api/reports/{DAY}.html")
        second = client.get(f"/api/reports/{DAY}.html")
        still_open = client.get(f"/api/reports/{LATER}.html")
        assert client.get(f"/api/reports/{DAY}").status_code == 404
        assert client.get("/api/reports/2025-13-01.html").status_code == 400
        assert client.get("/api/reports/2025-11-20.html").status_code == 404
    assert status["closed"] is True and status["in_log"] is True
    assert status["report"] == f"/api/reports/{DAY}.html"
    assert first.status_code == 200 and first.text == "<!doctype html><p>report</p>"
    assert first.headers["content-disposition"] == f'attachment; filename="salesdash-report-{DAY}.html"'
    assert second.content == first.content and len(children.commands) == 1  # made once, then from disk
    assert children.commands[0][:3] == ["report", "--day", DAY]
    assert still_open.status_code == 409 and "still open" in still_open.json()["error"]
