"""The HTTP side on the real stack: /api/snapshot in the breakdowns shape, /healthz, /metrics."""

from __future__ import annotations

import pytest

from broker import free_port
from tests.conftest import App, Processes, settled, wait_until
from tests.support.web import metrics, orders_now, produce

pytestmark = pytest.mark.kafka


def test_the_snapshot_has_every_breakdown_in_exact_integers(stack: App, env: dict[str, str]) -> None:
    produce(env, orders_now(40))
    body = wait_until(lambda: settled(stack), 30, message="40 orders counted")
    totals = body["totals"]
    assert set(totals) >= {"orders", "gross_cents", "refunds_cents", "net_cents", "aov_cents",
                           "unique_customers"}
    assert all(type(v) is int for v in totals.values())
    assert totals["orders"] == 40 and totals["net_cents"] == totals["gross_cents"] - totals["refunds_cents"]
    assert totals["unique_customers"] == 13  # orders_now cycles through 13 shoppers
    for key, name in [("countries", "country"), ("channels", "channel")]:
        rows = body[key]
        assert sum(r["orders"] for r in rows) == 40
        assert sum(r["net_cents"] for r in rows) == totals["net_cents"]
        assert [r["net_cents"] for r in rows] == sorted((r["net_cents"] for r in rows), reverse=True)
        assert all(isinstance(r[name], str) for r in rows)
    assert {r["country"] for r in body["countries"]} == {"US", "DE", "JP", "BR"}
    assert sum(m["net_cents"] for m in body["top_merchants"]) == totals["net_cents"]  # 5 merchants: all in
    assert {m["name"] for m in body["top_merchants"]} == {f"Shop {i}" for i in range(5)}
    assert sum(m["orders"] for m in body["minutes"]) == 40 and sum(s["orders"] for s in body["seconds"]) == 40
    assert all(isinstance(m["final"], bool) for m in body["minutes"])
    assert body["late_events"] == 0 and body["dead_letters"] == {}


def test_a_malformed_day_is_a_400_with_a_reason(stack: App) -> None:
    response = stack.get("/api/snapshot?day=2026-13-45")
    assert response.status_code == 400 and response.json()["error"]


def test_health_and_metrics_tell_kafka_lag_viewers_and_data_age(stack: App, env: dict[str, str]) -> None:
    health = stack.get("/healthz").json()
    assert health["kafka"] is True and health["caught_up"] is True and health["data_age_ms"] is None
    produce(env, orders_now(10))
    # The lag is what the worker has written and the app not read yet: it returns to 0 once the worker's
    # checkpoints of these orders are all written.
    health = wait_until(lambda: (h := stack.get("/healthz").json())["data_age_ms"] is not None and
                        h["consumer_lag"] == 0 and h, 30, message="the checkpoints read, lag 0")
    assert 0 <= health["data_age_ms"] < 30_000
    response = stack.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = wait_until(lambda: (m := metrics(stack.get("/metrics").text))["salesdash_consumer_lag"] == 0
                         and m, 30, message="/metrics lag 0")
    assert samples["salesdash_kafka_up"] == 1 and samples["salesdash_caught_up"] == 1
    assert samples["salesdash_viewers"] == 0 and samples["salesdash_consumer_lag"] == 0
    assert 0 <= samples["salesdash_data_age_seconds"] < 30
    assert {"salesdash_messages_pushed_total", "salesdash_viewers_stalled_total"} <= set(samples)


def test_health_is_503_while_kafka_cannot_be_reached(processes: Processes) -> None:
    port = free_port()
    processes.env["KAFKA_BOOTSTRAP"] = f"127.0.0.1:{free_port()}"  # nothing listens there
    processes.start("app", "-m", "app", "--port", str(port))
    app = App(port)
    response = wait_until(lambda: app.get("/healthz"), 30, message="the app to answer")
    assert response.status_code == 503 and response.json()["kafka"] is False
    assert metrics(app.get("/metrics").text)["salesdash_kafka_up"] == 0
