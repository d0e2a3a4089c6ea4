"""`python -m loadgen`: write order events to Kafka — synthetic traffic at a rate, or a file of events."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path
from typing import NoReturn

import orjson

from loadgen.model import Model
from loadgen.producer import Sender
from stream import config
from stream.kafka import ensure_topics


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, not a usage dump: the user knows where --help is.
        self.exit(2, f"error: {message} (try: python -m loadgen --help)\n")


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = _number(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m loadgen",
        description="Emit order events to the `orders` topic. Kafka settings come from KAFKA_BOOTSTRAP "
                    "and friends (see README).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="{run,send}")
    run = sub.add_parser("run", help="synthetic orders at a steady rate (the default command)",
                         formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    for p in (parser, run):
        p.add_argument("--rate", type=_positive_float, default=50.0, help="orders per second")
        p.add_argument("--duration", type=_number, default=0.0,
                       help="seconds to run; 0 runs until Ctrl-C")
        p.add_argument("--seed", type=int, default=1, help="random seed: same seed, same orders")
        p.add_argument("--merchants", type=int, default=2000, help="number of merchants")
    send = sub.add_parser("send", help="send the events in a file, one JSON event per line, as-is "
                                       "(malformed lines too: that is how to test the dead-letter path)")
    send.add_argument("file", type=Path, help="JSON Lines file; '-' reads standard input")
    return parser


def _report(sender: Sender, started: float, final: bool = False) -> None:
    elapsed = max(time.monotonic() - started, 1e-9)
    line = (f"sent {sender.sent}  acked {sender.acked}  failed {sender.failed}  "
            f"{sender.acked / elapsed:,.0f} orders/s  {elapsed:,.1f}s")
    if final:
        print(f"done: {line}", file=sys.stderr)
    elif sys.stderr.isatty():
        print(f"\r{line}   ", end="", file=sys.stderr, flush=True)


def _finish(sender: Sender, started: float) -> int:
    left = sender.flush()
    if sys.stderr.isatty():
        print(file=sys.stderr)
    _report(sender, started, final=True)
    if sender.failed or left:
        print(f"error: {sender.failed + left} events not acknowledged by Kafka "
              f"(last error: {sender.last_error})", file=sys.stderr)
        return 1
    return 0


def run(sender: Sender, rate: float, duration: float, seed: int, merchants: int) -> int:
    model = Model(seed=seed, merchants=merchants)
    stop = False

    def _stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    started = time.monotonic()
    last_report = started
    total = int(duration * rate) if duration else None  # --duration 10 --rate 50 sends exactly 500
    while not stop and (total is None or sender.sent < total):
        now = time.monotonic()
        due = int((now - started) * rate) + 1 - sender.sent
        if total is not None:
            due = min(due, total - sender.sent)
        for _ in range(max(0, due)):
            event = model.next_event(int(time.time() * 1000))
            sender.send(orjson.dumps(event), event["merchant_id"].encode(), event["occurred_at"])
        if now - last_report >= 0.5:
            _report(sender, started)
            last_report = now
        sender.poll(min(0.05, 1 / rate))
    return _finish(sender, started)


def send_file(sender: Sender, path: Path) -> int:
    started = time.monotonic()
    stream = sys.stdin.buffer if str(path) == "-" else path.open("rb")
    with stream:
        for line in stream:
            value = line.rstrip(b"\r\n")
            if not value:
                continue
            key, timestamp = None, None
            try:
                doc = orjson.loads(value)
                if isinstance(doc, dict):
                    if isinstance(doc.get("merchant_id"), str):
                        key = doc["merchant_id"].encode()
                    if type(doc.get("occurred_at")) is int and doc["occurred_at"] > 0:
                        timestamp = doc["occurred_at"]
            except orjson.JSONDecodeError:
                pass  # malformed on purpose: sent as-is for the worker to dead-letter
            sender.send(value, key, timestamp)
    return _finish(sender, started)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "send" and str(args.file) != "-" and not args.file.is_file():
        print(f"error: no such file: {args.file}", file=sys.stderr)
        return 2
    settings = config.load()
    try:
        ensure_topics(settings)
    except Exception as exc:
        print(f"error: cannot reach Kafka at {settings.bootstrap} to prepare topics: {exc}", file=sys.stderr)
        return 1
    sender = Sender(settings)
    if args.command == "send":
        return send_file(sender, args.file)
    if args.merchants < 1:
        print("error: --merchants must be at least 1", file=sys.stderr)
        return 2
    return run(sender, args.rate, args.duration, args.seed, args.merchants)


if __name__ == "__main__":
    sys.exit(main())
