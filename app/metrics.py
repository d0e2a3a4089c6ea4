"""/metrics in the Prometheus text exposition format (version 0.0.4), written out by hand: a handful of
gauges and counters do not need a client library."""

from __future__ import annotations

import time

from app.alerts import Alert
from app.fanout import Hub
from app.feed import Feed
from app.webhook import Webhook
from stream.core.eventtime import day_of

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _metric(name: str, kind: str, help_text: str, value: float | None) -> str:
    shown = "NaN" if value is None else f"{value:g}" if isinstance(value, float) else str(value)
    return f"# HELP {name} {help_text}\n# TYPE {name} {kind}\n{name} {shown}\n"


def _per_partition(name: str, help_text: str, values: dict[int, int]) -> str:
    lines = "".join(f'{name}{{partition="{p}"}} {value}\n' for p, value in values.items())
    return f"# HELP {name} {help_text}\n# TYPE {name} gauge\n{lines}"


def _today() -> str:
    return day_of(int(time.time() * 1000))


def _alerts(raised: list[Alert]) -> str:
    lines = "".join(f'salesdash_alerts{{kind="{a.kind}",scope="{a.scope}",subject="{_label(a.subject)}"}} 1\n'
                    for a in raised)
    return f"# HELP salesdash_alerts Alerts raised now (1 each).\n# TYPE salesdash_alerts gauge\n{lines}"


def _label(value: str) -> str:
    # A merchant id is anyone's text: escaped as the exposition format wants.
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _webhook(webhook: Webhook | None) -> str:
    sent, failed, dropped = (webhook.sent, webhook.failed, webhook.dropped) if webhook else (0, 0, 0)
    return "".join([
        _metric("salesdash_alert_webhook_sent_total", "counter", "Alert changes the webhook accepted.", sent),
        _metric("salesdash_alert_webhook_failed_total", "counter",
                "Alert changes given up on after the webhook's last attempt failed.", failed),
        _metric("salesdash_alert_webhook_dropped_total", "counter",
                "Alert changes not sent because the webhook's queue was full.", dropped),
    ])


def render(hub: Hub, feed: Feed, raised: list[Alert] | None = None, webhook: Webhook | None = None) -> str:
    as_of_ms = hub.view.as_of_ms
    age = (time.time() * 1000 - as_of_ms) / 1000 if as_of_ms else None
    return "".join([
        _metric("salesdash_viewers", "gauge", "Websocket viewers connected now.", len(hub.viewers)),
        _metric("salesdash_viewers_connected_total", "counter", "Websocket viewers accepted.", hub.connected),
        _metric("salesdash_viewers_stalled_total", "counter",
                "Viewers disconnected because they stopped taking messages.", hub.stalled),
        _metric("salesdash_messages_pushed_total", "counter", "Websocket messages sent to viewers.",
                hub.pushed),
        _metric("salesdash_consumer_lag", "gauge",
                "Aggregates records on the broker that the app has not read yet.", feed.lag),
        _metric("salesdash_data_age_seconds", "gauge",
                "Seconds since the newest checkpoint the app has was written (NaN: none yet).", age),
        _metric("salesdash_kafka_up", "gauge", "1 if the aggregates consumer reached Kafka lately.",
                int(feed.reachable())),
        _metric("salesdash_caught_up", "gauge", "1 once the aggregates log as of start-up is folded in.",
                int(feed.caught_up.is_set())),
        _metric("salesdash_unreadable_checkpoints_total", "counter",
                "Records of the aggregates and snapshot topics that could not be read and were skipped.",
                feed.unreadable),
        _per_partition("salesdash_orders_lag",
                       "Offsets of each partition of orders past its newest checkpoint: not counted yet.",
                       feed.coverage.lags()),
        _metric("salesdash_orders_uncounted_partitions", "gauge",
                "Partitions of orders whose records waited longer than the session timeout for a worker.",
                len(feed.coverage.uncounted(time.monotonic()))),
        _metric("salesdash_rerouted_today", "gauge",
                "Today's valid orders found outside their merchant's partition, copied to it, counted there.",
                hub.view.snapshot(_today())["rerouted"]),
        _alerts(raised or []),
        _webhook(webhook),
    ])
