"""`python -m stream`: run the faust worker (one process of the consumer group).

`python -m stream replay|export|import ...`: a past day from the log — replayed through the live core,
written to a file, or written back from one (README: "Replay, export and import").

`python -m stream audit|report ...`: a day on the dashboard held against an independent recount of its
raw records, as a verdict line and JSON, or as a self-contained HTML report (README: "Audit").
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NoReturn

COMMANDS = ("replay", "export", "import")
AUDIT_COMMANDS = ("audit", "report")


def main() -> None:
    args = sys.argv[1:]
    if args[:1] and args[0] in COMMANDS:
        from stream.replay import cli

        sys.exit(cli.main(args))
    if args[:1] and args[0] in AUDIT_COMMANDS:
        from stream.audit import cli as audit_cli

        sys.exit(audit_cli.main(args))
    worker(args)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (try: python -m stream --help)\n")


# Python's level names, as faust's worker spells them (it refuses "warning" and "critical").
FAUST_LEVELS = {"debug": "debug", "info": "info", "warning": "warn", "error": "error", "critical": "crit"}


def worker(argv: list[str]) -> None:
    parser = _Parser(
        prog="python -m stream", formatter_class=argparse.RawDescriptionHelpFormatter,
        usage="python -m stream [--loglevel LEVEL]\n"
              "       python -m stream {replay,export,import} ...   (each has --help)\n"
              "       python -m stream {audit,report} --day D ...   (each has --help)",
        description="Runs one salesdash worker. Start more processes to share the partitions of `orders`.\n"
                    "replay: a past day's figures from the log; export/import: a day to and from a file.\n"
                    "audit: the dashboard's day against an independent recount of its raw records (exit 0\n"
                    "verified, 1 differs); report: the day as a self-contained HTML file, verdict included.\n"
                    "Configuration comes from environment variables (see README): KAFKA_BOOTSTRAP, ...")
    parser.add_argument("--loglevel", default="info", choices=list(FAUST_LEVELS))
    # A test hook, never for production: a new owner holds its first publish of each partition until this
    # file exists (at most 120 s), so a test can have a fenced predecessor try to write first.
    parser.add_argument("--hold-first-publish", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    from stream import config
    from stream.kafka.admin import ensure_topics

    settings = config.load()
    try:
        ensure_topics(settings)
    except Exception as exc:  # KafkaException, TopicError: the reason is in the message
        sys.exit(f"error: cannot prepare Kafka topics: {exc}")
    from stream.worker.membership import worker_app

    sys.argv = ["stream", "worker", "--loglevel", FAUST_LEVELS[args.loglevel], "--without-web"]
    worker_app(settings, args.hold_first_publish).main()


if __name__ == "__main__":
    main()
