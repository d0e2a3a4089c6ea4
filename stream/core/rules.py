"""Event-time policy: how late, how far ahead and how often an event may come (README: "Event time")."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rules:
    dedupe_horizon_ms: int = 900_000  # an event_id is remembered this far behind the watermark
    grace_ms: int = 5_000  # a minute is final once the watermark is this far past its end
    allowed_lateness_ms: int = 3_600_000  # a day takes events until the watermark is this far past it
    seconds_horizon_ms: int = 900_000  # per-second figures are kept this far behind the watermark
    max_future_ms: int = 300_000  # an event further ahead of the worker's clock is a clock gone wrong
    sketch_every_ms: int = 5_000  # the shopper sketch (~2.8 KB) is republished at most this often
