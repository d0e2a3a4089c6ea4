"""`python -m stream audit` and `python -m stream report`: a day's figures on the dashboard held against an
independent recount of the raw records, as one line and a JSON file, or as a self-contained HTML report.

Exit status: 0 verified, 1 the dashboard differs from the recount (the report is written either way), 2
misuse, 3 the audit could not run (no orders for the day, no topic, Kafka unreachable); every failure is
one `error:` line on stderr.
"""

from __future__ import annotations

import argparse
import subprocess
import time
from pathlib import Path
from typing import Any, NoReturn

import orjson

from stream import config
from stream.audit.run import Audit, Progress, audit
from stream.config import Settings
from stream.core import eventtime
from stream.jobs.dayaudit import AuditJournal
from stream.jobs.journal import beside
from stream.kafka.reader import ReadError
from stream.kafka.timeindex import DayLogError
from stream.replay.status import Status, run_command, say
from stream.report.html import render, write

ROOT = Path(__file__).resolve().parents[2]
VERIFIED, DIFFERS, MISUSE, FAILED = 0, 1, 2, 3
FAILURES = (DayLogError, ReadError)  # expected: one `error:` line; anything else is a bug (traceback)

ABOUT = ("What the dashboard shows for the day — its view built from the aggregates topic exactly as the "
         "app builds it — is compared to the cent with a separate recount of the day's raw records in SQL "
         "(DuckDB): totals, every minute, countries, channels, the top tens. The records recounted are, per "
         "partition, those from the first one stamped in the day up to the offsets the view has folded, "
         "or until the day is closed there: so a day still open (today) is compared as of the view's "
         "offsets, every minute included. Exit status: 0 verified, 1 differs, 2 misuse, 3 the audit could "
         "not run. Kafka settings and topics come from KAFKA_BOOTSTRAP, ORDERS_TOPIC, AGGREGATES_TOPIC and "
         "friends (see README). Stopped (Ctrl-C, SIGTERM, kill -9), it keeps what it has read in its "
         "progress file (below); started again with the same arguments it continues from there, at the "
         "same cut, and writes what a run never stopped writes, but for the times of the run "
         "(started_ms stays the first run's).")


EXAMPLES = ("example: python -m stream audit --day 2025-11-28 --json audit.json; "
            "python -m stream report --day 2025-11-28 --out bf-2025.html")


def run_audit(settings: Settings, topic: str, args: argparse.Namespace) -> int:
    progress = args.progress or (beside(args.json) if args.json is not None else None)
    done, journal = _audit(settings, topic, args.day, progress, args.restart)
    _write_json(args.json, done.to_json())
    _finished(journal)
    print(done.verdict.line, flush=True)
    return VERIFIED if done.verdict.ok else DIFFERS


def run_report(settings: Settings, topic: str, args: argparse.Namespace) -> int:
    done, journal = _audit(settings, topic, args.day, beside(args.out), args.restart)
    _write_json(args.json, done.to_json())
    verdict = {"ok": done.verdict.ok, "line": done.verdict.line, "offsets": done.offsets}
    meta = {"commit": commit(), "generated_ms": int(time.time() * 1000), "topic": topic,
            "offsets": done.offsets, "day_open": not done.verdict.day_closed}
    write(args.out, render(done.shown, seconds=done.recount.busiest_seconds, verdict=verdict, meta=meta))
    _finished(journal)
    print(done.verdict.line, flush=True)
    say(f"wrote the report of {args.day.name} to {args.out}")
    return VERIFIED if done.verdict.ok else DIFFERS


def _audit(settings: Settings, topic: str, day: eventtime.Day, kept: Path | None, restart: bool
           ) -> tuple[Audit, AuditJournal | None]:
    """The audit, its progress kept in `kept` (resumed from there unless `restart`) if given."""
    status = Status(lines=True)  # off a terminal too: a job's log shows how far it got

    def show(progress: Progress) -> None:
        what = "folding the aggregates: {:,} checkpoints" if progress.stage == "view" else \
            "reading the day's records: {:,}"
        status.show(f"auditing {day.name}: " + what.format(progress.count))

    journal = AuditJournal(kept, settings, topic, day, restart) if kept is not None else None
    try:
        done = audit(settings, topic, day, show, journal, say)
    finally:
        status.close()
        if journal is not None:
            journal.close()
    say(f"audited {day.name} of {topic}: {done.recount.records:,} records of the day recounted "
        f"({sum(b - a + 1 for a, b in done.recount.offsets.values()):,} offsets read) in "
        f"{(done.finished_ms - done.started_ms) / 1000:.1f}s")
    return done, journal


def _finished(journal: AuditJournal | None) -> None:
    """The output is written: a run started again audits afresh."""
    if journal is not None:
        journal.remove()


def _write_json(path: Path | None, doc: dict[str, Any]) -> None:
    if path is None:
        return
    partial = path.with_name(path.name + ".partial")  # a reader sees no file or the whole one
    try:
        partial.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS))
        partial.replace(path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def commit() -> str:
    """The commit of this checkout, or "unknown" (an installed package, no git)."""
    try:
        found = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                               timeout=5, check=True)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    head = found.stdout.strip()
    return head if len(head) == 40 else "unknown"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, not a usage dump: the user knows where --help is.
        self.exit(MISUSE, f"error: {message} (try: {self.prog} --help)\n")


def _parser(command: str) -> argparse.ArgumentParser:
    if command == "audit":
        parser = _Parser(prog="python -m stream audit", epilog=EXAMPLES, description=(
            "Audit one UTC day: print the one-line verdict (stdout: 'verified: ...' or 'differs: ...' "
            "with every minute, total and row that differs, both values and the likely reason) and "
            "optionally write the whole report as JSON. Progress goes to stderr. " + ABOUT))
    else:
        parser = _Parser(prog="python -m stream report", epilog=EXAMPLES, description=(
            "Write one UTC day's report as a single self-contained HTML file (opens offline): the "
            "dashboard's figures, the busiest seconds and the audit's verdict. A day still open is "
            "reported as it stands, marked 'day still open'. " + ABOUT))
        parser.add_argument("--out", type=Path, required=True, metavar="FILE.html",
                            help="where to write the report (FILE.html.partial first, then renamed); "
                                 "its progress is kept in FILE.html.progress")
    parser.add_argument("--day", required=True, help="the UTC day, YYYY-MM-DD")
    parser.add_argument("--json", type=Path, metavar="FILE",
                        help="also write the verdict, the recount and the offsets covered as JSON")
    parser.add_argument("--topic", help="recount the raw records of this topic instead of ORDERS_TOPIC")
    if command == "audit":
        parser.add_argument("--progress", type=Path, metavar="FILE",
                            help="keep the audit's progress in FILE (default: FILE.progress beside --json's "
                                 "FILE; an audit with neither writes no file at all, so it keeps none and "
                                 "starts over when stopped)")
    parser.add_argument("--restart", action="store_true",
                        help="ignore the progress a stopped run left and start from the beginning")
    return parser


def main(argv: list[str]) -> int:
    command, rest = argv[0], argv[1:]
    parser = _parser(command)
    args = parser.parse_args(rest)
    settings = config.load()
    try:
        args.day = eventtime.day(args.day, int(time.time() * 1000), settings.rules.allowed_lateness_ms)
    except ValueError as exc:
        parser.error(f"--day: {exc}")
    for name in ("json", "out", "progress"):
        path = getattr(args, name, None)
        if path is not None and not path.parent.is_dir():
            parser.error(f"--{name}: no such directory: {path.parent}")
    run = run_audit if command == "audit" else run_report
    return run_command(run, settings, args, FAILURES, FAILED)
