"""App settings from environment variables (defaults in README); Kafka settings are stream.config's."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from stream import config as stream_config

ROOT = Path(__file__).resolve().parent.parent
LOOPBACK_HOSTS = ("127.0.0.1", "localhost")
# A host name, an IPv4 address, a bracketed IPv6 one, "*.domain", or "*"; never a port or a scheme.
_HOST = re.compile(r"\*|(\*\.)?[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?|\[[0-9a-f:.]+\]")


def _float(name: str, default: str) -> float:
    raw = os.environ.get(name) or default
    try:
        value = float(raw)
    except ValueError:
        raise SystemExit(f"error: {name} must be a number, got {raw!r}") from None
    if value <= 0:
        raise SystemExit(f"error: {name} must be above 0, got {raw!r}")
    return value


def _count(name: str, default: int) -> int:
    raw = os.environ.get(name) or str(default)
    if not raw.isascii() or not raw.isdigit() or int(raw) < 1:
        raise SystemExit(f"error: {name} must be a whole number above 0, got {raw!r}")
    return int(raw)


def _origins() -> tuple[str, ...]:
    raw = os.environ.get("ALLOWED_ORIGINS") or ""
    return tuple(origin.strip().rstrip("/").lower() for origin in raw.split(",") if origin.strip())


def allowed_hosts(bound: str = "127.0.0.1") -> tuple[str, ...]:
    """The Host names requests may carry (any port): the bound host, loopback, and ALLOWED_HOSTS."""
    bound = bound.strip().lower()
    if ":" in bound and not bound.startswith("["):
        bound = f"[{bound}]"  # an IPv6 address in a Host header is bracketed
    extra = [name.strip().lower() for name in (os.environ.get("ALLOWED_HOSTS") or "").split(",")]
    for name in extra:
        if name and not _HOST.fullmatch(name):
            raise SystemExit(f"error: ALLOWED_HOSTS takes host names without a port or scheme (*.example.com "
                             f"for a domain, * for any), got {name!r}")
    return tuple(dict.fromkeys(name for name in (bound, *LOOPBACK_HOSTS, *extra) if name))


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
    # Any other Host header is a 400 (a DNS-rebinding page names its own host): see allowed_hosts().
    allowed_hosts: tuple[str, ...] = field(default_factory=allowed_hosts)
    # Replay session topics kept on the broker; preparing one more deletes the oldest ended ones.
    replay_sessions_kept: int = field(default_factory=lambda: _count("REPLAY_SESSIONS_KEPT", 20))
    # Replay sessions held in memory at once (~200 bytes an order each); one more waits (503).
    replay_tapes_loaded: int = field(default_factory=lambda: _count("REPLAY_TAPES_LOADED", 4))
