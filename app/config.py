"""App settings from environment variables (defaults in README); Kafka settings are stream.config's."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from stream import config as stream_config

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class AppSettings:
    kafka: stream_config.Settings = field(default_factory=stream_config.load)
    static_dir: Path = field(default_factory=lambda: Path(os.environ.get("STATIC_DIR", ROOT / "static")))
    push_hz: float = field(default_factory=lambda: float(os.environ.get("PUSH_HZ", "4")))
    stall_timeout_s: float = field(default_factory=lambda: float(os.environ.get("VIEWER_STALL_TIMEOUT_S", "10")))
