"""Verify on the page: the audit of a day and its report, each made by a child process (`python -m stream
audit|report`, as app/sessions.py prepares replays), so recounting never runs in the app's event loop.

- `POST /api/audits {"day"}` -> 202 `{"audit": id}`; at most one audit runs at a time (429 for another
  day; the same day gets the running one's id). 400 malformed or future day, 404 not in the log, 403
  foreign Origin, 401 without the token (as `POST /api/replays`).
- `GET /api/audits/<id>` -> `{"audit", "day", "state": "running"|"done"|"failed", "verdict", "line",
  "ms", "started_ms", "offsets", "cut", "error"}`; 404 for an unknown id.
- `GET /api/audits?day=D` -> `{"day", "in_log", "closed", "report", "latest"}`: whether the orders log
  holds the day (it can be audited), whether the app holds it as closed, the report's URL if so, and the
  newest audit of the day.
- `GET /api/reports/<day>.html` -> the day's report as a download, made once by a child and kept in a
  temporary directory for the app's life: 404 for a day not in the log, 409 while the day is open (a
  report of an open day would go stale), 429 while another day's report is being made.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from app.access import origin_ok, token_ok
from app.bodies import TooLarge, json_body, too_large
from app.sessions import Library
from stream.config import AppSettings
from stream.core import eventtime
from stream.core.salesview import SalesView
from stream.kafka.timeindex import NoOrders

log = logging.getLogger("salesdash.app")
ROOT = Path(__file__).resolve().parent.parent
KEPT = 20  # finished audits remembered
REPORT_WAIT_S = 600.0  # the longest a report request waits for its child
POLL_S = 0.2  # how often a waiting report request looks at its child
DIFFERENCES_SHOWN = 20  # differences in a status (the JSON file has them all)


class Refused(Exception):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Job:
    """One child process: an audit, or a report."""

    id: str
    day: str
    process: subprocess.Popen[bytes]
    output: Path  # the JSON report (audit) or the HTML file (report)
    errors: Path
    started_ms: int = field(default_factory=lambda: int(time.time() * 1000))
    result: dict[str, Any] | None = None  # the status once the child has finished

    def failure(self, code: int) -> str:
        lines = [line for line in self.errors.read_text(errors="replace").splitlines() if line.strip()]
        return lines[-1].removeprefix("error: ") if lines else f"the child exited with {code}"


def _spawn(args: list[str], errors: Path) -> subprocess.Popen[bytes]:
    with errors.open("wb") as sink:
        return subprocess.Popen([sys.executable, "-m", "stream", *args], cwd=ROOT,
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=sink)


async def _exited(process: subprocess.Popen[bytes]) -> int:
    """The child's exit code, polled: a thread blocked in wait() per waiting request would take the pool."""
    while (code := process.poll()) is None:
        await asyncio.sleep(POLL_S)
    return code


class Verifier:
    """The audits and reports this app started."""

    def __init__(self, settings: AppSettings, view: SalesView, library: Library) -> None:
        self.settings = settings
        self.view = view
        self.library = library
        self.audits: OrderedDict[str, Job] = OrderedDict()
        self.reports: dict[str, Job] = {}  # day -> the child making its report
        self.dir = Path(tempfile.mkdtemp(prefix="salesdash-verify-"))

    async def checked_day(self, text: object) -> str:
        """A day that may be audited: well formed, not in the future, in the log."""
        if not isinstance(text, str):
            raise Refused('send {"day": "YYYY-MM-DD"}', 400)
        try:
            day = eventtime.day(text, int(time.time() * 1000), self.settings.kafka.rules.allowed_lateness_ms)
        except ValueError as exc:
            raise Refused(f"day: {exc}", 400) from None
        for fresh in (False, True):  # a day backfilled since the list was cached: look again once
            if any(d.name == day.name for d in await self.library.days(fresh=fresh)):
                return day.name
        raise Refused(str(NoOrders(day.name, self.settings.kafka.orders_topic)), 404)

    def start_audit(self, day: str) -> str:
        for job in self.audits.values():
            if job.process.poll() is None:
                if job.day == day:
                    return job.id
                raise Refused(f"an audit of {job.day} is running; try again when it is done", 429)
        audit = f"{day}-{secrets.token_hex(4)}"
        out, errors = self.dir / f"{audit}.json", self.dir / f"{audit}.log"
        process = _spawn(["audit", "--day", day, "--json", str(out)], errors)
        self.audits[audit] = Job(audit, day, process, out, errors)
        log.info("auditing %s (audit %s, pid %s)", day, audit, process.pid)
        while len(self.audits) > KEPT:
            oldest = next(iter(self.audits.values()))
            if oldest.process.poll() is None:
                break
            self.audits.popitem(last=False)
        return audit

    async def status(self, audit: str) -> dict[str, Any] | None:
        job = self.audits.get(audit)
        if job is None:
            return None
        if job.result is not None:
            return job.result
        base = {"audit": job.id, "day": job.day, "started_ms": job.started_ms, "verdict": None,
                "line": None, "ms": None, "offsets": None, "cut": None, "error": None}
        code = job.process.poll()
        if code is None:
            return {**base, "state": "running"}
        if code in (0, 1) and job.output.exists():
            report = orjson.loads(await asyncio.to_thread(job.output.read_bytes))
            differences = report.get("differences") or []
            verdict = {"ok": report["ok"], "day_closed": report["day_closed"],
                       "differences": differences[:DIFFERENCES_SHOWN], "differences_count": len(differences),
                       "unique_customers": report.get("unique_customers")}
            job.result = {**base, "state": "done", "verdict": verdict, "line": report["line"],
                          "ms": report["ms"], "offsets": report["offsets"], "cut": report["cut"]}
        else:
            job.result = {**base, "state": "failed", "error": job.failure(code)}
        return job.result

    async def report(self, day: str) -> Path:
        """The day's report file, made if need be; Refused for an open day or a busy maker."""
        path = self.dir / f"{day}.html"
        if path.exists():
            return path
        if day not in self.view.closed_days:
            raise Refused(f"{day} is still open: late orders can still change it; a report is made once the "
                          "day is closed (python -m stream report makes one of an open day)", 409)
        job = self.reports.get(day)
        if job is None or job.process.poll() not in (None, 0, 1):
            busy = [j.day for j in self.reports.values() if j.process.poll() is None]
            if busy:
                raise Refused(f"the report of {busy[0]} is being made; try again when it is ready", 429)
            errors = self.dir / f"{day}.report.log"
            process = _spawn(["report", "--day", day, "--out", str(path)], errors)
            job = self.reports[day] = Job(day, day, process, path, errors)
        try:
            code = await asyncio.wait_for(_exited(job.process), REPORT_WAIT_S)
        except TimeoutError:
            raise Refused(f"the report of {day} is taking long; try again shortly", 503) from None
        if code not in (0, 1) or not path.exists():
            raise Refused(f"the report of {day} could not be made: {job.failure(code)}", 500)
        return path

    def shutdown(self) -> None:
        for job in [*self.audits.values(), *self.reports.values()]:
            if job.process.poll() is None:
                job.process.terminate()
        shutil.rmtree(self.dir, ignore_errors=True)  # the cached reports go with the app


def _refusal(request: Request, write: bool) -> Response | None:
    settings: AppSettings = request.state.settings
    if not token_ok(request, settings.token):
        return JSONResponse({"error": "an access token is required: ?token= or Authorization: Bearer"},
                            status_code=401, headers={"WWW-Authenticate": "Bearer"})
    if write and not origin_ok(request, settings.allowed_origins):  # another site may not start work here
        return JSONResponse({"error": "Origin not allowed"}, status_code=403)
    return None


async def start_audit(request: Request) -> Response:
    if (refused := _refusal(request, write=True)) is not None:
        return refused
    try:
        body = await json_body(request)
    except TooLarge:
        return too_large()
    verifier: Verifier = request.state.verifier
    try:
        day = await verifier.checked_day(body.get("day") if isinstance(body, dict) else None)
        audit = verifier.start_audit(day)
    except Refused as exc:
        return JSONResponse({"error": str(exc)}, status_code=exc.status)
    return JSONResponse({"audit": audit, "day": day}, status_code=202)


async def audit_status(request: Request) -> Response:
    if (refused := _refusal(request, write=False)) is not None:
        return refused
    status = await request.state.verifier.status(request.path_params["audit"])
    if status is None:
        return JSONResponse({"error": "no such audit"}, status_code=404)
    return JSONResponse(status, headers={"Cache-Control": "no-store"})


async def day_audits(request: Request) -> Response:
    if (refused := _refusal(request, write=False)) is not None:
        return refused
    verifier: Verifier = request.state.verifier
    day = request.query_params.get("day") or ""
    try:
        eventtime.parse_day(day)
    except ValueError as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    closed = day in verifier.view.closed_days
    latest = next((j for j in reversed(verifier.audits.values()) if j.day == day), None)
    in_log = any(d.name == day for d in await verifier.library.days())
    body = {"day": day, "in_log": in_log, "closed": closed,
            "report": f"/api/reports/{day}.html" if closed else None,
            "latest": None if latest is None else await verifier.status(latest.id)}
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


async def day_report(request: Request) -> Response:
    if (refused := _refusal(request, write=False)) is not None:
        return refused
    name: str = request.path_params["name"]
    if not name.endswith(".html"):
        return JSONResponse({"error": "a report is /api/reports/YYYY-MM-DD.html"}, status_code=404)
    verifier: Verifier = request.state.verifier
    try:
        day = await verifier.checked_day(name.removesuffix(".html"))
        path = await verifier.report(day)
    except Refused as exc:
        return JSONResponse({"error": str(exc)}, status_code=exc.status)
    # A download: opened from disk it runs under its own CSP, not the app's (which forbids inline script).
    return FileResponse(path, media_type="text/html; charset=utf-8",
                        filename=f"salesdash-report-{day}.html", headers={"Cache-Control": "no-store"})


ROUTES = [
    Route("/api/audits", start_audit, methods=["POST"]),
    Route("/api/audits", day_audits, methods=["GET"]),
    Route("/api/audits/{audit}", audit_status),
    Route("/api/reports/{name}", day_report),
]
