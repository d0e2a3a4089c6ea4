"""`python -m stream`: run the faust worker (one process of the consumer group).

`python -m stream replay|export|import ...`: a past day from the log — replayed through the live core,
written to a file, or written back from one (README: "Replay, export and import").
"""

from __future__ import annotations

import argparse
import sys
from datetime import time as time_of_day
from pathlib import Path
from typing import NoReturn

COMMANDS = ("replay", "export", "import")


def main() -> None:
    args = sys.argv[1:]
    if args[:1] and args[0] in COMMANDS:
        sys.exit(_command(args))
    if args[:1] in (["-h"], ["--help"]):
        print("usage: python -m stream [--loglevel LEVEL]\n"
              "       python -m stream {replay,export,import} ...   (each has --help)\n\n"
              "Runs one salesdash worker. Start more processes to share the partitions of `orders`.\n"
              "replay: a past day's figures from the log; export/import: a day to and from a file.\n"
              "Configuration comes from environment variables (see README): KAFKA_BOOTSTRAP, ...")
        return
    level = "info"
    if args[:1] == ["--loglevel"] and len(args) == 2:
        level = args[1]
    elif args:
        sys.exit(f"error: unknown arguments {' '.join(args)!r} (try --help)")
    from stream import config
    from stream.kafka import ensure_topics

    try:
        ensure_topics(config.load())
    except Exception as exc:  # KafkaException, TopicError: the reason is in the message
        sys.exit(f"error: cannot prepare Kafka topics: {exc}")
    from stream.worker import app

    sys.argv = ["stream", "worker", "--loglevel", level, "--without-web"]
    app.main()


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, not a usage dump: the user knows where --help is.
        self.exit(2, f"error: {message} (try: {self.prog} --help)\n")


def _speed(text: str) -> float | None:
    from stream.pace import parse_speed

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
                                        "them) to a gzip'd day archive, FILE.partial first, FILE when done.")
    export.add_argument("--day", required=True, help="the UTC day, YYYY-MM-DD")
    export.add_argument("--out", type=Path, required=True, metavar="FILE", help="where to write the day")
    export.add_argument("--topic", help="read this topic instead of ORDERS_TOPIC")
    load = sub.add_parser("import", formatter_class=formatter,
                          help="write a day archive back to Kafka, all or nothing",
                          description="Check a day archive from end to end, then write its records to the "
                                      "topic with their original keys, timestamps and partitions, in one "
                                      "transaction. Refused if the topic already has records from that day "
                                      "or later.")
    load.add_argument("file", type=Path, metavar="FILE", help="a file written by `export`")
    load.add_argument("--topic", help="write to this topic instead of ORDERS_TOPIC (created if missing)")
    return parser


def _command(argv: list[str]) -> int:
    import time

    from confluent_kafka import KafkaException

    from stream import config, daylog
    from stream.status import say

    parser = _parser()
    args = parser.parse_args(argv)
    settings = config.load()
    if args.command in ("replay", "export"):
        try:
            args.day = daylog.day(args.day, int(time.time() * 1000), settings.rules.allowed_lateness_ms)
        except ValueError as exc:
            parser.error(f"--day: {exc}")
    if args.command == "replay" and args.from_ms is not None and args.speed is None:
        parser.error("--from needs --speed")
    if args.command == "replay" and args.session is not None:
        from stream.session import valid_id

        if not args.publish:
            parser.error("--session needs --publish")
        if not valid_id(args.session):
            parser.error(f"--session: not a session id (letters, digits, - and _): {args.session!r}")
    if args.command == "export" and not args.out.parent.is_dir():
        parser.error(f"--out: no such directory: {args.out.parent}")
    if args.command == "import" and not args.file.is_file():
        parser.error(f"no such file: {args.file}")
    from stream import commands

    run = {"replay": commands.replay, "export": commands.export, "import": commands.import_}[args.command]
    try:
        return run(settings, args.topic or settings.orders_topic, args)
    except KeyboardInterrupt:
        say("error: interrupted")
        return 130
    except KafkaException as exc:
        say(f"error: Kafka at {settings.bootstrap}: {_line(exc.args[0].str())}")
        return 1
    except commands.FAILURES as exc:
        say(f"error: {_line(str(exc))}")
        return 1


def _line(text: str) -> str:
    return " ".join(text.split())


if __name__ == "__main__":
    main()
