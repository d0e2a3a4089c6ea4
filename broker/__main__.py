"""`python -m broker`: fetch Kafka's jars, or run a local broker in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import NoReturn

from broker.kafka import ROOT, Broker, BrokerError, fetch_jars, kafka_version


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (try: python -m broker --help)\n")


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="python -m broker", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                     description=f"A single-node Apache Kafka {kafka_version()} (KRaft) broker on 127.0.0.1.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{fetch,run}")
    sub.add_parser("fetch", help="download the broker jars with Maven (cached in ~/.m2)")
    run = sub.add_parser("run", help="start the broker, wait until it answers, stop it on Ctrl-C",
                         formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    run.add_argument("--port", type=int, default=9092, help="client port on 127.0.0.1")
    run.add_argument("--data", type=Path, default=ROOT / "var" / "kafka", help="data directory (kept)")
    args = parser.parse_args(argv)
    try:
        if args.command == "fetch":
            print(f"Kafka jars in {fetch_jars()}")
            return 0
        broker = Broker(args.data, port=args.port)
        broker.start()
    except (BrokerError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"Kafka {kafka_version()} ready at {broker.bootstrap} (data in {args.data}); Ctrl-C stops it",
          flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        assert broker.process is not None
        broker.process.wait()
        print(f"error: Kafka exited with {broker.process.returncode}; see {broker.log_path}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        broker.stop()


if __name__ == "__main__":
    sys.exit(main())
