"""Every salesdash setting, read from environment variables (defaults in README and docs/operations.md):
the one module that reads the environment, with one parser and one error line for a bad value.

Sections: `KafkaConnection` (how to reach the cluster, mapped here alone to librdkafka's, faust's and a
child process's settings), `Settings` (topics, the counting rules and the worker's cadence: every process
that touches Kafka), and `AppSettings` (the web app's, with `Settings` inside).
"""

from __future__ import annotations

import math
import os
import re
import ssl
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from stream.core.rules import Rules

ROOT = Path(__file__).resolve().parent.parent
LOOPBACK_HOSTS = ("127.0.0.1", "localhost")
# A host name, an IPv4 address, a bracketed IPv6 one, "*.domain", or "*"; never a port or a scheme.
_INTEGER = re.compile(r"-?[0-9]+")
_HOST = re.compile(r"\*|(\*\.)?[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?|\[[0-9a-f:.]+\]")


# -- the parser: unset or empty means the default ---------------------------------------------------------

def _raw(name: str) -> str | None:
    raw = os.environ.get(name)
    return None if raw is None or raw == "" else raw


def _bad(name: str, wanted: str, raw: str) -> SystemExit:
    return SystemExit(f"error: {name} must be {wanted}, got {raw!r}")


def text(name: str, default: str) -> str:
    raw = _raw(name)
    return default if raw is None else raw


def optional(name: str) -> str | None:
    """A setting whose absence means "off" (a token, a webhook URL)."""
    return _raw(name)


def integer(name: str, default: int, minimum: int = 0) -> int:
    raw = _raw(name)
    if raw is None:
        return default
    digits = raw.strip()
    if not _INTEGER.fullmatch(digits) or int(digits) < minimum:  # ASCII digits only: no "1_000", no "٣"
        raise _bad(name, f"an integer ≥ {minimum}", raw)
    return int(digits)


def number(name: str, default: float, minimum: float = 0.0, *, above: bool = False) -> float:
    """A decimal number ≥ `minimum` (> it with `above`); never NaN or infinite."""
    raw = _raw(name)
    if raw is None:
        return default
    wanted = f"a number {'above' if above else '≥'} {minimum:g}"
    try:
        value = float(raw)
    except ValueError:
        raise _bad(name, wanted, raw) from None
    if not math.isfinite(value) or not (value > minimum if above else value >= minimum):
        raise _bad(name, wanted, raw)
    return value


def web_address(name: str) -> str | None:
    """An optional http:// or https:// URL with a host (a webhook's): refused at start, not at first use."""
    raw = _raw(name)
    if raw is None:
        return None
    wanted = "an http:// or https:// URL"
    try:
        parts = urlsplit(raw)
        port = parts.port  # raises ValueError on a port out of range or not a number
    except ValueError:
        raise _bad(name, wanted, raw) from None
    # No white space or control characters: urllib would send them in the request line.
    if parts.scheme not in ("http", "https") or not parts.hostname or port == 0 or not raw.isprintable() \
            or " " in raw:
        raise _bad(name, wanted, raw)
    return raw


def static_dir() -> Path:
    """Where the page's files are (the app serves them; reports inline the world map from them)."""
    raw = _raw("STATIC_DIR")
    return Path(raw) if raw is not None else ROOT / "static"


# -- Kafka ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FaustLogin:
    broker: list[str]
    ssl_context: ssl.SSLContext | None
    sasl: tuple[str, str, str] | None = field(repr=False)  # username, password, mechanism


@dataclass(frozen=True)
class KafkaConnection:
    bootstrap: str
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = ""
    sasl_username: str = ""
    sasl_password: str = field(default="", repr=False)  # never in a log line or a traceback
    ssl_ca_location: str = ""

    @classmethod
    def load(cls) -> KafkaConnection:
        return cls(bootstrap=text("KAFKA_BOOTSTRAP", "127.0.0.1:9092"),
                   security_protocol=text("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT"),
                   sasl_mechanism=text("KAFKA_SASL_MECHANISM", ""),
                   sasl_username=text("KAFKA_SASL_USERNAME", ""),
                   sasl_password=text("KAFKA_SASL_PASSWORD", ""),
                   ssl_ca_location=text("KAFKA_SSL_CA_LOCATION", ""))

    def librdkafka(self) -> dict[str, Any]:
        """confluent-kafka's (librdkafka's) settings for this cluster."""
        conf: dict[str, Any] = {"bootstrap.servers": self.bootstrap,
                                "security.protocol": self.security_protocol}
        if self.sasl_mechanism:
            conf.update({"sasl.mechanism": self.sasl_mechanism, "sasl.username": self.sasl_username,
                         "sasl.password": self.sasl_password})
        if self.ssl_ca_location:
            conf["ssl.ca.location"] = self.ssl_ca_location
        return conf

    def faust(self) -> FaustLogin:
        """What faust.App needs for this cluster (stream.worker.membership, the one module that imports
        faust, wraps `sasl` or `ssl_context` in faust's credential classes)."""
        protocol = self.security_protocol.upper()
        tls = protocol in ("SSL", "SASL_SSL")
        context = ssl.create_default_context(cafile=self.ssl_ca_location or None) if tls else None
        sasl = None
        if protocol.startswith("SASL"):
            sasl = (self.sasl_username, self.sasl_password, self.sasl_mechanism or "PLAIN")
        return FaustLogin([f"kafka://{host.strip()}" for host in self.bootstrap.split(",")], context, sasl)

    def environment(self) -> dict[str, str]:
        """The environment variables that make a salesdash process reach this cluster."""
        env = {"KAFKA_BOOTSTRAP": self.bootstrap, "KAFKA_SECURITY_PROTOCOL": self.security_protocol}
        if self.sasl_mechanism:
            env.update({"KAFKA_SASL_MECHANISM": self.sasl_mechanism,
                        "KAFKA_SASL_USERNAME": self.sasl_username, "KAFKA_SASL_PASSWORD": self.sasl_password})
        if self.ssl_ca_location:
            env["KAFKA_SSL_CA_LOCATION"] = self.ssl_ca_location
        return env


# -- topics, rules, the worker ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Settings:
    kafka: KafkaConnection
    replication_factor: int
    orders_topic: str
    orders_partitions: int
    aggregates_topic: str
    snapshots_topic: str
    state_topic: str
    dlq_topic: str
    owners_topic: str
    homes_topic: str  # never grown: its partition count is the number of partitions merchants are homed on
    stream_group: str
    rules: Rules
    batch_max: int
    batch_within_ms: int
    session_timeout_s: int
    checkpoint_records: int  # a partition's checkpoint is due once this many records wait ...
    checkpoint_ms: int  # ... or once the oldest of them has waited this long
    snapshot_records: int  # a partition is snapshotted once this many records passed since the last ...
    snapshot_every_s: int  # ... or this long, whichever comes first
    idle_s: int  # a caught-up partition that counted no order this long follows the others' watermark
    aggregates_retention_ms: int  # how long checkpoints are kept (snapshots make older ones unneeded)
    dlq_retention_ms: int
    transaction_timeout_s: int  # the broker aborts (and fences) a partition's transaction open this long
    faust_datadir: Path  # faust's local files (it makes only the last folder of the path)

    @property
    def bootstrap(self) -> str:
        return self.kafka.bootstrap

    def reaching(self, bootstrap: str) -> Settings:
        """The same settings against another plaintext cluster (tests and benchmarks)."""
        return replace(self, kafka=KafkaConnection(bootstrap))


def load() -> Settings:
    orders_topic = text("ORDERS_TOPIC", "orders")
    aggregates = text("AGGREGATES_TOPIC", "orders.aggregates")
    return Settings(
        kafka=KafkaConnection.load(),
        replication_factor=integer("KAFKA_REPLICATION_FACTOR", 1, minimum=1),
        orders_topic=orders_topic,
        orders_partitions=integer("ORDERS_PARTITIONS", 8, minimum=1),
        aggregates_topic=aggregates,
        snapshots_topic=text("SNAPSHOTS_TOPIC", f"{aggregates}.snapshots"),
        state_topic=text("STATE_TOPIC", f"{aggregates}.state"),
        dlq_topic=text("DLQ_TOPIC", "orders.dlq"),
        owners_topic=text("OWNERS_TOPIC", f"{orders_topic}.owners"),
        homes_topic=text("HOMES_TOPIC", f"{orders_topic}.homes"),
        stream_group=text("STREAM_GROUP", "salesdash-stream"),
        rules=Rules(
            dedupe_horizon_ms=integer("DEDUPE_HORIZON_S", 900, minimum=1) * 1000,
            grace_ms=integer("STREAM_GRACE_S", 5) * 1000,
            allowed_lateness_ms=integer("STREAM_ALLOWED_LATENESS_S", 3600) * 1000,
            seconds_horizon_ms=integer("SECONDS_HORIZON_S", 900, minimum=1) * 1000,
            max_future_ms=integer("STREAM_MAX_FUTURE_S", 300) * 1000,
            sketch_every_ms=integer("STREAM_SKETCH_EVERY_MS", 5000),
        ),
        batch_max=integer("STREAM_BATCH_MAX", 5000, minimum=1),
        batch_within_ms=integer("STREAM_BATCH_WITHIN_MS", 50),
        session_timeout_s=integer("STREAM_SESSION_TIMEOUT_S", 10, minimum=1),
        checkpoint_records=integer("STREAM_CHECKPOINT_RECORDS", 100, minimum=1),
        checkpoint_ms=integer("STREAM_CHECKPOINT_MS", 250, minimum=1),
        snapshot_records=integer("STREAM_SNAPSHOT_RECORDS", 10_000, minimum=1),
        snapshot_every_s=integer("STREAM_SNAPSHOT_EVERY_S", 300, minimum=1),
        idle_s=integer("STREAM_IDLE_S", 30, minimum=1),
        aggregates_retention_ms=integer("AGGREGATES_RETENTION_S", 3 * 86_400, minimum=1) * 1000,
        dlq_retention_ms=integer("DLQ_RETENTION_S", 7 * 86_400, minimum=1) * 1000,
        transaction_timeout_s=integer("STREAM_TRANSACTION_TIMEOUT_S", 60, minimum=1),
        faust_datadir=Path(text("FAUST_DATADIR", str(ROOT / "var" / "faust"))),
    )


# -- the web app ------------------------------------------------------------------------------------------

def _origins() -> tuple[str, ...]:
    raw = text("ALLOWED_ORIGINS", "")
    return tuple(origin.strip().rstrip("/").lower() for origin in raw.split(",") if origin.strip())


def allowed_hosts(bound: str = "127.0.0.1") -> tuple[str, ...]:
    """The Host names requests may carry (any port): the bound host, loopback, and ALLOWED_HOSTS."""
    bound = bound.strip().lower()
    if ":" in bound and not bound.startswith("["):
        bound = f"[{bound}]"  # an IPv6 address in a Host header is bracketed
    extra = [name.strip().lower() for name in text("ALLOWED_HOSTS", "").split(",")]
    for name in extra:
        if name and not _HOST.fullmatch(name):
            raise SystemExit(f"error: ALLOWED_HOSTS takes host names without a port or scheme (*.example.com "
                             f"for a domain, * for any), got {name!r}")
    return tuple(dict.fromkeys(name for name in (bound, *LOOPBACK_HOSTS, *extra) if name))


@dataclass(frozen=True)
class AppSettings:
    kafka: Settings = field(default_factory=load)
    static_dir: Path = field(default_factory=static_dir)
    push_hz: float = field(default_factory=lambda: number("PUSH_HZ", 4, above=True))
    stall_timeout_s: float = field(default_factory=lambda: number("VIEWER_STALL_TIMEOUT_S", 10, above=True))
    # Empty: a websocket's Origin must name the host the request was sent to (its Host header).
    allowed_origins: tuple[str, ...] = field(default_factory=_origins)
    # Set: the page, the API, /metrics and the websocket all want it (?token= or Authorization: Bearer).
    token: str | None = field(default_factory=lambda: optional("SALESDASH_TOKEN"))
    # Any other Host header is a 400 (a DNS-rebinding page names its own host): see allowed_hosts().
    allowed_hosts: tuple[str, ...] = field(default_factory=allowed_hosts)
    # Replay session topics kept on the broker; preparing one more deletes the oldest ended ones.
    replay_sessions_kept: int = field(default_factory=lambda: integer("REPLAY_SESSIONS_KEPT", 20, minimum=1))
    # Replay sessions held in memory at once (~200 bytes an order each); one more waits (503).
    replay_tapes_loaded: int = field(default_factory=lambda: integer("REPLAY_TAPES_LOADED", 4, minimum=1))
    # Set: each alert raised or cleared is POSTed there as JSON (app.webhook), retried, never blocking.
    alert_webhook_url: str | None = field(default_factory=lambda: web_address("ALERT_WEBHOOK_URL"))
