"""The replay, export and import commands: parse the command line, run one, show its progress on stderr,
print its result; misuse and expected failures are one `error:` line and a non-zero exit."""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from datetime import time as time_of_day
from pathlib import Path
from typing import NoReturn

import orjson

from stream import config
from stream.config import Settings
from stream.core import eventtime
from stream.core.clock import parse_speed
from stream.core.dayreplay import DayReplay
from stream.core.eventtime import Day
from stream.core.salesview import SalesView
from stream.kafka.admin import TopicError
from stream.kafka.reader import ReadError
from stream.kafka.timeindex import DayLogError, NoOrders
from stream.replay import reading
from stream.replay import run as replaying
from stream.replay.archive import ArchiveError
from stream.replay.run import Plan, Progress, ReplayError
from stream.replay.session import Session, SessionError, valid_id
from stream.replay.status import Status, run_command, say
from stream.replay.transfer import export_day, import_file

# What a command reports as one `error:` line; anything else is a bug and shows its traceback.
FAILURES = (DayLogError, ReplayError, SessionError, ArchiveError, TopicError, ReadError)
CUT_EVERY_S = 0.25  # while paced, viewers of a published session get news at least this often


def replay(settings: Settings, topic: str, args: argparse.Namespace) -> int:
    day: Day = args.day
    partitions, spans = reading.locate(settings, topic, day)
    paced = args.speed is not None
    from_ms = None if args.from_ms is None else day.start_ms + args.from_ms
    plan = Plan(settings, topic, day, args.speed, from_ms, cut_minutes=args.publish or paced,
                cut_every_s=CUT_EVERY_S if paced else None,
                partitions=reading.homes(settings, topic, partitions))
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
    status, started = Status(lines=True), time.monotonic()

    def show(replay: DayReplay) -> None:
        if replay.day_records:  # a day with no records says only its one error line
            status.show(f"exporting {day.name}: read {replay.read:,}  of the day {replay.day_records:,}")

    try:
        records, totals = export_day(settings, topic, day, args.out, show, args.restart, say)
    finally:
        status.close()
    say(f"exported {records:,} records of {day.name} from {topic} to {args.out} in "
        f"{time.monotonic() - started:.1f}s (orders {totals['orders']:,}, net_cents {totals['net_cents']:,})")
    return 0


def import_(settings: Settings, topic: str, args: argparse.Namespace) -> int:
    status, started = Status(lines=True), time.monotonic()
    def show(stage: str, n: int) -> None:
        status.show(f"importing {args.file}: {stage} {n:,} records")

    try:
        header, held = import_file(settings, args.file, topic, show)
    finally:
        status.close()
    resumed = f" ({held:,} of them already there from an earlier run)" if held else ""
    say(f"imported {header.records:,} records of {header.day} into {topic}{resumed} in "
        f"{time.monotonic() - started:.1f}s")
    return 0


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, not a usage dump: the user knows where --help is.
        self.exit(2, f"error: {message} (try: {self.prog} --help)\n")


def _speed(text: str) -> float | None:
    try:
        return parse_speed(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _clock(text: str) -> int:
    try:
        at = time_of_day.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a time of day (HH:MM or HH:MM:SS): {text!r}") from None
    return ((at.hour * 60 + at.minute) * 60 + at.second) * 1000


def _parser() -> argparse.ArgumentParser:
    formatter = argparse.ArgumentDefaultsHelpFormatter
    parser = _Parser(prog="python -m stream", formatter_class=formatter,
                     description="A past UTC day from the log. Kafka settings and topics come from "
                                 "KAFKA_BOOTSTRAP, ORDERS_TOPIC and friends (see README).")
    sub = parser.add_subparsers(dest="command", required=True)
    replay = sub.add_parser("replay", formatter_class=formatter,
                            help="a day's figures, computed again from its records by the live counting code",
                            description="Replay a UTC day from the log through the live counting code "
                                        "and print its figures as JSON (stdout); progress goes to stderr. "
                                        "The live view, its consumer group and its offsets are untouched.")
    replay.add_argument("--day", required=True, help="the UTC day, YYYY-MM-DD")
    replay.add_argument("--speed", type=_speed, default=None, metavar="X",
                        help="event time runs X times faster than real time (1, 10, 60, 600, ...), or max "
                             "(default: max, as fast as possible)")
    replay.add_argument("--from", dest="from_ms", type=_clock, metavar="HH:MM",
                        help="with --speed: start the paced replay at this time of day (earlier records "
                             "run at full speed)")
    replay.add_argument("--minutes", action="store_true", help="add the per-minute figures")
    replay.add_argument("--publish", action="store_true",
                        help="also publish the replay as a session an app can open: its checkpoints "
                             "on topic <AGGREGATES_TOPIC>.replay.<session>, listed in "
                             "<AGGREGATES_TOPIC>.replays")
    replay.add_argument("--session", metavar="ID", help="with --publish: the session's id (letters, digits, "
                        "- and _; default: the day and a random suffix)")
    replay.add_argument("--topic", help="read this topic instead of ORDERS_TOPIC")
    export = sub.add_parser("export", formatter_class=formatter,
                            help="write a day's raw records to a compressed file",
                            description="Write the records of a UTC day (valid or not, as the log holds "
                                        "them) to a gzip'd day archive, FILE.partial first, FILE when done. "
                                        "Stopped (Ctrl-C, SIGTERM, kill -9), it keeps what it has read in "
                                        "FILE.progress; started again with the same arguments it continues "
                                        "from there and writes the same bytes as a run never stopped.")
    export.add_argument("--day", required=True, help="the UTC day, YYYY-MM-DD")
    export.add_argument("--out", type=Path, required=True, metavar="FILE", help="where to write the day")
    export.add_argument("--restart", action="store_true",
                        help="ignore FILE.progress left by a stopped export and start from the beginning")
    export.add_argument("--topic", help="read this topic instead of ORDERS_TOPIC")
    load = sub.add_parser("import", formatter_class=formatter,
                          help="write a day archive back to Kafka, all or nothing",
                          description="Check a day archive from end to end, then write its records to the "
                                      "topic with their original keys, timestamps and partitions, in "
                                      "transactions of 20,000 records. Stopped (Ctrl-C, SIGTERM, kill -9) "
                                      "and started again with the same file and topic, it continues after "
                                      "what the topic holds of the file: no record is written twice. "
                                      "Refused if the topic holds other records from that day or later.")
    load.add_argument("file", type=Path, metavar="FILE", help="a file written by `export`")
    load.add_argument("--topic", help="write to this topic instead of ORDERS_TOPIC (created if missing)")
    return parser


def main(argv: list[str]) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    settings = config.load()
    if args.command in ("replay", "export"):
        try:
            args.day = eventtime.day(args.day, int(time.time() * 1000), settings.rules.allowed_lateness_ms)
        except ValueError as exc:
            parser.error(f"--day: {exc}")
    if args.command == "replay" and args.from_ms is not None and args.speed is None:
        parser.error("--from needs --speed")
    if args.command == "replay" and args.session is not None:
        if not args.publish:
            parser.error("--session needs --publish")
        if not valid_id(args.session):
            parser.error(f"--session: not a session id (letters, digits, - and _): {args.session!r}")
    if args.command == "export" and not args.out.parent.is_dir():
        parser.error(f"--out: no such directory: {args.out.parent}")
    if args.command == "import" and not args.file.is_file():
        parser.error(f"no such file: {args.file}")
    run = {"replay": replay, "export": export, "import": import_}[args.command]
    return run_command(run, settings, args, FAILURES, 1)


