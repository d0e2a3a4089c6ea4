"""`python -m loadgen`: write order events to Kafka — live traffic shaped like a Black Friday, a whole
past day, or a file of events — with optional faults and a ground-truth file of what Kafka acknowledged."""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path
from typing import NoReturn

from loadgen.backfill import check_day, run_backfill
from loadgen.catalog import Catalog
from loadgen.faults import Faults
from loadgen.live import run_live
from loadgen.model import Model
from loadgen.producer import Abandoned, Sender
from loadgen.profiles import PROFILES, Profile, day_plan, profile
from loadgen.progress import Progress, say, summary
from loadgen.resume import Skipping, Verified
from loadgen.send import send_file
from loadgen.stop import Stop
from loadgen.traffic import Sink, Traffic
from loadgen.truth import Truth
from stream import config
from stream.kafka.admin import ensure_topics
from stream.kafka.prefix import Held, NotAPrefix, held_records


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


def _positive(text: str) -> float:
    value = _number(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return value


def _fraction(text: str) -> float:
    value = _number(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"must be a fraction between 0 and 1, got {text}")
    return value


def _count(low: int, high: int) -> argparse._ActionType:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low:,} and {high:,}, got {text}")
        return value
    return parse


def _traffic_options(p: argparse.ArgumentParser, default_profile: str) -> None:
    p.add_argument("--profile", choices=PROFILES, default=default_profile,
                   help="rate shape: steady; ramp (zero to --rate in 10 min, climbing on); bfcm (the Black "
                        "Friday weekend: diurnal curve, x8 spike at midnight, flash sales, Cyber Monday "
                        "tail)")
    p.add_argument("--seed", type=int, default=1, help="random seed: same seed, same traffic")
    p.add_argument("--merchants", type=_count(1, 100_000), default=2000, help="number of merchants")
    p.add_argument("--dup-rate", type=_fraction, default=0.0,
                   help="share of events re-sent later as exact duplicates")
    p.add_argument("--late-rate", type=_fraction, default=0.0,
                   help="share of events whose occurred_at lags the stream by 1 s up to --late-max")
    p.add_argument("--late-max", type=_positive, default=60.0, help="most seconds a late event lags")
    p.add_argument("--bad-rate", type=_fraction, default=0.0,
                   help="share of events followed by a malformed message (14 kinds, see README)")
    p.add_argument("--truth", type=Path, metavar="FILE", default=argparse.SUPPRESS,
                   help="after the run, write what Kafka acknowledged (valid events counted once) per day "
                        "and minute, shaped like /api/snapshot (default: none)")


def _live_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rate", type=_positive, default=50.0, help="baseline events per second")
    p.add_argument("--duration", type=_number, default=0.0,
                   help="seconds to run; 0 runs until Ctrl-C. With a fixed duration exactly the events due "
                        "by then are sent (steady: rate x duration)")
    p.add_argument("--speed", type=_positive, default=1.0,
                   help="run the profile's clock this many times faster (60: an hour of bfcm per minute)")
    _traffic_options(p, "steady")


def _parser() -> argparse.ArgumentParser:
    formatter = argparse.ArgumentDefaultsHelpFormatter
    parser = _Parser(prog="python -m loadgen", formatter_class=formatter,
                     description="Emit order events to the `orders` topic (without a command: `run`). Kafka "
                                 "settings come from KAFKA_BOOTSTRAP and friends (see README).")
    sub = parser.add_subparsers(dest="command", metavar="{run,backfill,send}")
    run = sub.add_parser("run", formatter_class=formatter, help="live events at a rate, shaped by a profile "
                                                                "(the default command)")
    for p in (parser, run):
        _live_options(p)
    backfill = sub.add_parser("backfill", formatter_class=formatter,
                              help="a whole past UTC day with its true event times, as fast as Kafka "
                                   "takes it",
                              description="Write a whole past UTC day with its true event times, as fast "
                                          "as Kafka takes it. Stopped (Ctrl-C, SIGTERM, kill -9) and started "
                                          "again with the same arguments, it continues where it stopped: "
                                          "it passes over what the topic already holds of this run (checked "
                                          "first) and writes the rest, so the topic ends as after an "
                                          "uninterrupted run, no message twice.")
    backfill.add_argument("--day", required=True, default=argparse.SUPPRESS,
                          help="the UTC day, YYYY-MM-DD; must be over (required)")
    backfill.add_argument("--orders", type=_count(1, 10**10), required=True, default=argparse.SUPPRESS,
                          help="events to spread over the day (required)")
    _traffic_options(backfill, "bfcm")
    send = sub.add_parser("send", formatter_class=formatter,
                          help="send the events in a file, one JSON event per line, as-is (malformed lines "
                               "too: that is how to test the dead-letter path)")
    send.add_argument("file", type=Path, help="JSON Lines file; '-' reads standard input")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    command = args.command or "run"
    day_start = 0
    if command == "send" and str(args.file) != "-" and not args.file.is_file():
        say(f"error: no such file: {args.file}")
        return 2
    if command == "backfill":
        try:
            day_start = check_day(args.day, int(time.time() * 1000))
        except ValueError as exc:
            say(f"error: --day: {exc}")
            return 2
    truth_path: Path | None = getattr(args, "truth", None)
    if truth_path is not None and not truth_path.parent.is_dir():
        say(f"error: --truth: no such directory: {truth_path.parent}")
        return 2
    settings = config.load()
    try:
        ensure_topics(settings)
    except Exception as exc:
        say(f"error: cannot reach Kafka at {settings.bootstrap} to prepare topics: {exc}")
        return 1
    stop = Stop().install()
    truth = Truth() if truth_path is not None else None
    sender = Sender(settings, on_failed=truth.failed if truth else None, stop_waiting=lambda: stop.requested)
    traffic = None
    if command != "send":
        shape = profile(args.profile, args.seed, args.merchants)
        catalog = Catalog(args.seed, args.merchants)
        plan = day_plan(shape, args.orders) if command == "backfill" else []
    partitions, held = 0, dict[int, Held]()
    if command == "backfill":
        try:
            partitions, held = _resume(settings, args, catalog, shape, day_start, plan, stop)
        except NotAPrefix as exc:
            say(f"error: topic {settings.orders_topic} already has records stamped {args.day} or later that "
                f"this backfill cannot continue ({exc}): backfill into a new topic (ORDERS_TOPIC=...) or "
                "backfill days oldest first, before live load")
            return 1
        if stop.requested:
            say("error: stopped before anything was sent")
            return 1
    if command != "send":
        traffic = _traffic(args, command, catalog, Skipping(sender, partitions, held), truth)
    gc.freeze()  # the catalog lives for the whole run: keep the collector from re-scanning it
    # The clock starts here: setting up (catalog, baskets, the day's plan) is not sending.
    progress = Progress(sender, lines=command == "backfill")
    made = 0
    try:
        if traffic is None:
            made = send_file(sender, args.file, stop)
        elif command == "backfill":
            run_backfill(traffic, shape, day_start, plan, stop, progress.update)
        else:
            run_live(traffic, sender, shape, args.rate, args.duration, args.speed, stop, progress.update)
        # A stopped backfill keeps its log a prefix of the whole run's: the duplicates still waiting stay
        # unsent, to be sent in their place when the backfill is started again.
        if traffic is not None and not (command == "backfill" and stop.requested):
            traffic.finish()
        if traffic is not None:
            made = traffic.made
    except Abandoned as exc:
        if truth is not None:
            for value in exc.unsent:
                truth.failed(value)  # tallied when made, never sent
    return _finish(sender, traffic, made, progress, stop, truth, truth_path)


def _traffic(args: argparse.Namespace, command: str, catalog: Catalog, sink: Sink, truth: Truth | None
             ) -> Traffic:
    run_tag = args.day if command == "backfill" else str(time.time_ns())  # live runs never share ids
    model = Model(catalog, args.seed, run_tag)
    faults = Faults(args.seed, args.dup_rate, args.late_rate, args.late_max, args.bad_rate)
    model.prepare()
    return Traffic(model, sink, faults, truth)


def _resume(settings: config.Settings, args: argparse.Namespace, catalog: Catalog, shape: Profile,
            day_start: int, plan: list[int], stop: Stop) -> tuple[int, dict[int, Held]]:
    """What an earlier run of this backfill left in the log (partition count, records held), checked by
    making the run's messages once without sending them (NotThisRun if they are not this run's)."""
    partitions, held = held_records(settings, settings.orders_topic, day_start)
    if not held:
        return partitions, held
    say(f"resuming: {sum(h.count for h in held.values()):,} records of {args.day} already in "
        f"{settings.orders_topic}; checking they are this backfill's")
    check = Skipping(None, partitions, held)
    dry = _traffic(args, "backfill", catalog, check, Truth() if getattr(args, "truth", None) else None)
    try:
        run_backfill(dry, shape, day_start, plan, stop, lambda made: None)
        if not stop.requested:
            dry.finish()
            check.check_complete()
    except Verified:
        pass
    return partitions, held


def _finish(sender: Sender, traffic: Traffic | None, made: int, progress: Progress, stop: Stop,
            truth: Truth | None, truth_path: Path | None) -> int:
    waiting_said, since, give_up_at = False, time.monotonic(), stop.presses + 1
    while sender.flush(0.25) and stop.presses < give_up_at:
        progress.update(made, force=True)
        if not waiting_said and time.monotonic() - since > 5:
            say(f"waiting for Kafka to acknowledge {sender.in_flight} messages (Ctrl-C to give up)")
            waiting_said = True
    if sender.in_flight:
        sender.abandon()
    elapsed = progress.elapsed
    progress.close()
    faults = {"duplicates": traffic.duplicates, "late": traffic.late, "malformed": traffic.malformed} \
        if traffic is not None else {}
    if traffic is not None and isinstance(traffic.sender, Skipping):
        faults["already_in_log"] = traffic.sender.skipped  # a resumed backfill's messages passed over
    if truth is not None and truth_path is not None:
        truth.write(truth_path, {"sent": sender.sent, "acknowledged": sender.acked, "failed": sender.failed})
    say(summary(sender, made, elapsed, faults))
    if sender.failed:
        say(f"error: {sender.failed} messages not acknowledged by Kafka (last error: {sender.last_error})")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
