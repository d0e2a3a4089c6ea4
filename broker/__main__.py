"""`python -m broker`: fetch the jars, or run a broker or a 3-node cluster in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import time
from pathlib import Path
from typing import NoReturn

from broker.cluster import Cluster
from broker.kafka import ROOT, Broker, BrokerError, fetch_jars, kafka_version


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (try: python -m broker --help)\n")


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="python -m broker", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                     description=f"A single-node Apache Kafka {kafka_version()} (KRaft) broker on 127.0.0.1.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{fetch,run,cluster}")
    sub.add_parser("fetch", help="download the broker jars with Maven (cached in ~/.m2)")
    run = sub.add_parser("run", help="start the broker, wait until it answers, stop it on Ctrl-C",
                         formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    run.add_argument("--port", type=int, default=9092, help="client port on 127.0.0.1")
    run.add_argument("--data", type=Path, default=ROOT / "var" / "kafka", help="data directory (kept)")
    cluster = sub.add_parser("cluster", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                             help="start 3 nodes with a SASL_SSL listener, print the environment to use, "
                                  "stop them on Ctrl-C")
    cluster.add_argument("--data", type=Path, default=ROOT / "var" / "cluster",
                         help="data directory (kept: logs, TLS material, the SCRAM password, the ports)")
    args = parser.parse_args(argv)
    if args.command == "cluster":
        return _cluster(args.data)
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


def _cluster(data: Path) -> int:
    try:
        cluster = Cluster(data)
        started = time.monotonic()
        cluster.start()
    except (BrokerError, OSError, ValueError, KeyError) as exc:  # the last two: a damaged cluster.json
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"Kafka {kafka_version()}: 3 nodes ready in {time.monotonic() - started:.1f}s (data in {data}); "
          "Ctrl-C stops them. For salesdash processes:", flush=True)
    for name, value in cluster.env().items():
        print(f"export {name}={shlex.quote(value)}")
    sys.stdout.flush()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    reported: set[int] = set()
    try:
        # One lost node is a failover to watch, not the end: two of three keep the quorum and the data.
        while sum(node.alive for node in cluster.nodes) >= 2:
            for node in cluster.nodes:
                if not node.alive and node.id not in reported:
                    reported.add(node.id)
                    print(f"warning: node {node.id} exited; the other two keep serving; see {node.log_path}",
                          file=sys.stderr, flush=True)
            time.sleep(0.5)
        dead = ", ".join(str(node.id) for node in cluster.nodes if not node.alive)
        print(f"error: nodes {dead} exited, no quorum left; see {cluster.data_dir}/n*/broker.log",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        cluster.stop()


if __name__ == "__main__":
    sys.exit(main())
