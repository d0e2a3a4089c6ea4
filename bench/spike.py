"""The BFCM midnight spike as live load: `python -m bench.spike --peak 20000 --before 30 --after 90`.

loadgen's bfcm profile starts Thanksgiving 22:00, two hours before the deals open; this runs the same
profile (and loadgen's own model, pacing and producer) from `--before` seconds before midnight, with the
baseline rate chosen so the spike's top is `--peak` orders/s. `--speed` runs the profile's clock faster."""

from __future__ import annotations

import argparse
import gc
import time

from loadgen.catalog import Catalog
from loadgen.live import run_live
from loadgen.model import Model
from loadgen.producer import Sender
from loadgen.profiles import BlackFriday, Profile
from loadgen.progress import Progress, say, summary
from loadgen.stop import Stop
from loadgen.traffic import Traffic
from stream import config


class FromMidnight(Profile):
    """`shape` seen from `lead` seconds before Black Friday midnight."""

    name = "bfcm-midnight"

    def __init__(self, shape: BlackFriday, lead: float) -> None:
        self.shape = shape
        self.offset = shape.black_friday - lead
        self._area0 = shape.area(self.offset)

    def multiplier(self, t: float) -> float:
        return self.shape.multiplier(self.offset + t)

    def area(self, t: float) -> float:
        return self.shape.area(self.offset + t) - self._area0

    def flash(self, t: float) -> tuple[int, float] | None:
        return self.shape.flash(self.offset + t)

    def peak(self, seconds: float) -> float:
        """The highest multiplier over the first `seconds` of this clock."""
        return max(self.multiplier(t / 4) for t in range(int(seconds * 4) + 1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.spike", description=__doc__)
    parser.add_argument("--peak", type=float, default=20_000, help="orders/s at the top of the spike")
    parser.add_argument("--before", type=float, default=30, help="profile seconds before midnight")
    parser.add_argument("--after", type=float, default=90, help="profile seconds after midnight")
    parser.add_argument("--speed", type=float, default=1.0, help="profile seconds per wall second")
    args = parser.parse_args(argv)
    shape = FromMidnight(BlackFriday(), args.before)
    span = args.before + args.after
    rate = args.peak / shape.peak(span)
    say(f"spike: {rate * shape.multiplier(0):,.0f} orders/s before midnight, {args.peak:,.0f}/s at the top")
    settings = config.load()
    stop = Stop().install()
    sender = Sender(settings)
    model = Model(Catalog(1, 2000), 1, str(time.time_ns()))  # ids unlike any other run's
    model.prepare()
    traffic = Traffic(model, sender)
    gc.freeze()
    progress = Progress(sender)
    run_live(traffic, sender, shape, rate, span / args.speed, args.speed, stop, progress.update)
    traffic.finish()
    while sender.flush(0.25):
        pass
    progress.close()
    say(summary(sender, traffic.made, progress.elapsed, {}))
    return 1 if sender.failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
