"""`make bench` (`python -m bench [--quick] [--only STAGE]`): start a broker, run every stage, write
bench/results/latest.md and latest.json, and print the table."""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import NoReturn

from bench import disk
from bench.report import Figure, Note, machine, markdown, write
from broker import Broker, free_port

# Each stage module has `run(bootstrap: str, quick: bool) -> list[Figure]`; added as the issues land.
STAGES = ["broker", "produce", "process", "merchants", "fanout", "replay", "freshness", "memory", "history",
          "failover"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (try: python -m bench --help)\n")


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="python -m bench", description=__doc__,
                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes: under 2 minutes, for CI")
    parser.add_argument("--only", choices=STAGES, action="append", help="run just this stage (repeatable)")
    args = parser.parse_args(argv)
    # Terminated (CI timeout, kill): unwind, so every stage stops its processes and the broker stops too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    stages = [s for s in STAGES if not args.only or s in args.only]
    available = [s for s in stages if (Path(__file__).parent / f"{s}.py").exists()]
    figures: list[Figure] = []
    notes: list[Note] = []
    facts = machine()  # before the run: the load average says how busy the machine was going in
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="salesdash-bench-") as data:
        broker = Broker(Path(data), port=free_port(), heap="1g")
        broker.start()
        os.environ[disk.ENV] = str(broker.data_dir / "logs")  # its log.dirs: the history stage weighs topics
        try:
            for stage in available:
                print(f"== {stage} ==", flush=True)
                module = importlib.import_module(f"bench.{stage}")
                stage_started = time.perf_counter()
                for item in module.run(broker.bootstrap, args.quick):
                    (notes if isinstance(item, Note) else figures).append(item)
                print(f"   {stage}: {time.perf_counter() - stage_started:.0f}s", flush=True)
        finally:
            broker.stop()
    command = "make bench" + (" QUICK=1" if args.quick else "")
    facts["bench wall time"] = f"{time.perf_counter() - started:.0f} s (broker start included)"
    print(markdown(figures, facts, command, notes))
    print(f"written to {write(figures, facts, command, notes)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
