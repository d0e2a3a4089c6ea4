"""The replay, export and import commands: run one, show its progress on stderr, print its result."""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime

import orjson

from app.view import SalesView
from stream import dayfeed
from stream import replay as replaying
from stream.archive import ArchiveError
from stream.config import Settings
from stream.daylog import Day, DayLogError, NoOrders
from stream.dayreader import DayReader
from stream.kafka import TopicError
from stream.replay import Plan, Progress, ReplayError
from stream.session import Session, SessionError
from stream.status import Status, say
from stream.transfer import export_day, import_file

# What a command reports as one `error:` line; anything else is a bug and shows its traceback.
FAILURES = (DayLogError, ReplayError, SessionError, ArchiveError, TopicError)
CUT_EVERY_S = 0.25  # while paced, viewers of a published session get news at least this often


def replay(settings: Settings, topic: str, args: argparse.Namespace) -> int:
    day: Day = args.day
    partitions, spans = dayfeed.locate(settings, topic, day)
    paced = args.speed is not None
    from_ms = None if args.from_ms is None else day.start_ms + args.from_ms
    plan = Plan(settings, topic, day, args.speed, from_ms, cut_minutes=args.publish or paced,
                cut_every_s=CUT_EVERY_S if paced else None)
    session = Session(settings, day, args.speed, topic, partitions, args.session,
                      [s.partition for s in spans]) if args.publish else None
    if session is not None:
        say(f"publishing replay session {session.id} to topic {session.topic} (open it on the page as "
            f"/?replay={session.id})")
    status, started = Status(), time.monotonic()
    speed = "max" if args.speed is None else f"x{args.speed:g}"
    try:
        view, tally = replaying.run(
            plan, spans, session.publish if session else None,
            lambda progress, view: status.show(_replaying(day, speed, progress, view)))
        if tally.day_records == 0:
            raise NoOrders(day.name, topic)
    except BaseException as exc:
        status.close()
        if session is not None:
            session.finish("failed", reason=str(exc) or type(exc).__name__)
        raise
    status.close()
    elapsed = time.monotonic() - started
    doc = replaying.report(view, day, tally, args.minutes)
    if session is not None:
        # closed: every partition's watermark passed the day's close, so the session holds the day for good.
        session.finish("finished", ends=tally.ends, totals=doc["totals"], records=tally.day_records,
                       closed=len(tally.closed) == partitions)
        doc["session"], doc["session_topic"] = session.id, session.topic
    print(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode(), flush=True)
    say(f"replayed {day.name} from {topic}: {tally.day_records:,} records of the day ({tally.read:,} read) "
        f"in {elapsed:.1f}s, {tally.read / max(elapsed, 1e-9):,.0f} records/s")
    return 0


def _replaying(day: Day, speed: str, progress: Progress, view: SalesView) -> str:
    orders = sum(led.days[day.name].totals.orders for led in view.ledgers.values() if day.name in led.days)
    clock = datetime.fromtimestamp(progress.clock_ms / 1000, UTC).strftime("%H:%M:%S") \
        if progress.clock_ms >= day.start_ms else "--:--:--"
    return f"replaying {day.name} {speed}  {clock}  read {progress.read:,}  orders {orders:,}"


def export(settings: Settings, topic: str, args: argparse.Namespace) -> int:
    day: Day = args.day
    status, started = Status(), time.monotonic()

    def show(reader: DayReader) -> None:
        status.show(f"exporting {day.name}: read {reader.read:,}  of the day {reader.day_records:,}")

    try:
        records, totals = export_day(settings, topic, day, args.out, show)
    finally:
        status.close()
    say(f"exported {records:,} records of {day.name} from {topic} to {args.out} in "
        f"{time.monotonic() - started:.1f}s (orders {totals['orders']:,}, net_cents {totals['net_cents']:,})")
    return 0


def import_(settings: Settings, topic: str, args: argparse.Namespace) -> int:
    status, started = Status(), time.monotonic()
    try:
        header = import_file(settings, args.file, topic,
                             lambda stage, n: status.show(f"importing {args.file}: {stage} {n:,} records"))
    finally:
        status.close()
    say(f"imported {header.records:,} records of {header.day} into {topic} in "
        f"{time.monotonic() - started:.1f}s")
    return 0
