"""Memory stage: worker and app RSS sampled every half second over a long run of sustained live load, with
one websocket viewer connected; start, peak, end and whether it still climbs once warm.

The worker keeps dedupe ids and the app and worker keep per-second figures for a horizon (15 min by
default): memory rightly grows until the horizon is full. The run shortens both horizons to 60 s so the
steady state is reached within minutes and any growth after that is a leak, not a window filling."""

from __future__ import annotations

from bench import watch
from bench.report import Figure
from bench.stack import RssSampler, Stack, high_watermarks
from bench.stats import trend

HORIZON_S = 60


def run(bootstrap: str, quick: bool) -> list[Figure]:
    rate, seconds = (5_000, 8) if quick else (10_000, 300)
    stack = Stack(bootstrap, "memory")
    stack.env |= {"DEDUPE_HORIZON_S": str(HORIZON_S), "SECONDS_HORIZON_S": str(HORIZON_S)}
    with stack:
        sampler = RssSampler({"worker": stack.pid("stream"), "app": stack.pid("app")})
        sampler.start()
        viewer = watch.start(stack.url, "/dev/null")
        try:
            print(f"{rate:,} orders/s for {seconds} s, RSS sampled ...", flush=True)
            stack.run("-m", "loadgen", "run", "--rate", str(rate), "--duration", str(seconds),
                      timeout=seconds + 300)
            stack.wait_drained(high_watermarks(bootstrap, stack.settings.orders_topic), 120)
        finally:
            viewer.terminate()
            viewer.wait(10)
            sampler.stop()
    figures = []
    what = f"{rate:,} orders/s for {seconds} s" + (" (quick: too short to judge the trend)" if quick else "")
    for name, samples in sampler.samples.items():
        t = trend(samples)
        capped = name == "worker"  # the process stage's goal for the worker
        print(f"  {name} RSS: start {t.start:.0f} MiB, peak {t.peak:.0f}, end {t.end:.0f}; second half "
              f"{t.slope_per_min:+.1f} MiB/min: {t.word}", flush=True)
        figures += [
            Figure("memory", f"{name} RSS at start, {what}", t.start, "MiB"),
            Figure("memory", f"{name} RSS peak, {what}", t.peak, "MiB",
                   goal="≤ 300 MiB" if capped else "", met=t.peak <= 300 if capped else None),
            Figure("memory", f"{name} RSS at end, {what}", t.end, "MiB"),
            Figure("memory", f"{name} RSS slope over the second half ({t.word}), {what}", t.slope_per_min,
                   "MiB/min", goal="flat once warm", met=None if quick else not t.growing),
        ]
    return figures
