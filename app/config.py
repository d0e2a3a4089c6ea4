"""App settings from environment variables (defaults in README); Kafka settings are stream.config's."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from stream import config as stream_config

ROOT = Path(__file__).resolve().parent.parent


def _float(name: str, default: str) -> float:
    raw = os.environ.get(name) or default
    try:
        value = float(raw)
    except ValueError:
        raise SystemExit(f"error: {name} must be a number, got {raw!r}") from None
    if value <= 0:
        raise SystemExit(f"error: {name} must be above 0, got {raw!r}")
    return value


def _origins() -> tuple[str, ...]:
    raw = os.environ.get("ALLOWED_ORIGINS") or ""
    return tuple(origin.strip().rstrip("/").lower() for origin in raw.split(",") if origin.strip())


@dataclass(frozen=True)
class AppSettings:
    kafka: stream_config.Settings = field(default_factory=stream_config.load)
    static_dir: Path = field(default_factory=lambda: Path(os.environ.get("STATIC_DIR") or ROOT / "static"))
    push_hz: float = field(default_factory=lambda: _float("PUSH_HZ", "4"))
    stall_timeout_s: float = field(default_factory=lambda: _float("VIEWER_STALL_TIMEOUT_S", "10"))
    # Empty: a websocket's Origin must name the host the request was sent to (its Host header).
    allowed_origins: tuple[str, ...] = field(default_factory=_origins)
    # Set: the page, the API, /metrics and the websocket all want it (?token= or Authorization: Bearer).
    token: str | None = field(default_factory=lambda: os.environ.get("SALESDASH_TOKEN") or None)
