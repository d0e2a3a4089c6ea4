"""Every route's behaviour in-process, without a broker: status codes, headers and refusals, and the figures
the app serves for checkpoints made by the real core."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest
from starlette.testclient import WebSocketDenialResponse

from app import routes
from app.security import CONTENT_SECURITY_POLICY
from app.sessions import ReplayRefused
from stream.core.eventtime import day_of
from tests.support.inprocess import app, checkpoints
from tests.support.orders import order_event
from tests.support.web import metrics


def orders(*cents: int) -> list[bytes]:
    """Checkpoints of orders made just now (the app's data age counts from them)."""
    now = int(time.time() * 1000)
    return checkpoints([order_event(event_id=f"r{i}", occurred_at=now - 1000 * i, total_minor=c,
                                    lines=[{"sku": "s", "title": "t", "qty": 1, "price_minor": c}])
                        for i, c in enumerate(cents)], now)


def test_the_snapshot_is_the_days_figures_in_exact_integers() -> None:
    with app(orders(1999, 1, 250_000)) as running:
        response = running.client.get("/api/snapshot")
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["day"] == day_of(int(time.time() * 1000))
    assert body["totals"] | {"aov_cents": 0} == {"orders": 3, "gross_cents": 252_000, "refunds_cents": 0,
                                                  "net_cents": 252_000, "unique_customers": 1, "aov_cents": 0}
    assert body["totals"]["aov_cents"] == 84_000  # 252,000 / 3
    assert sum(m["orders"] for m in body["minutes"]) == 3


@pytest.mark.parametrize("day", ["2026-13-01", "yesterday", "2026-1-01", "2026-11-27T00:00", "' OR 1=1",
                                 "2024-W01-1", "2024-001", "２０２６-11-27"])
def test_a_malformed_day_is_a_400_with_a_reason(day: str) -> None:
    with app() as running:
        response = running.client.get("/api/snapshot", params={"day": day})
    assert response.status_code == 400
    assert "YYYY-MM-DD" in response.json()["error"]


def test_a_fresh_app_that_has_not_read_the_log_answers_503_not_a_partial_day(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(routes, "CATCH_UP_WAIT_S", 0.2)
    with app(orders(100), loaded=False) as running:
        snapshot = running.client.get("/api/snapshot")
        health = running.client.get("/healthz")
    assert snapshot.status_code == 503 and snapshot.headers["retry-after"] == "2"
    assert health.status_code == 503 and health.json()["caught_up"] is False


def test_health_is_503_and_says_so_while_kafka_is_unreachable() -> None:
    with app(orders(100), up=False) as running:
        health = running.client.get("/healthz")
        samples = metrics(running.client.get("/metrics").text)
    assert health.status_code == 503 and health.json()["kafka"] is False
    assert samples["salesdash_kafka_up"] == 0


def test_health_and_metrics_when_all_is_well() -> None:
    with app(orders(100, 200)) as running:
        health = running.client.get("/healthz")
        response = running.client.get("/metrics")
    assert health.status_code == 200
    assert health.json()["kafka"] is True and health.json()["caught_up"] is True
    assert 0 <= health.json()["data_age_ms"] < 60_000
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = metrics(response.text)
    assert samples["salesdash_kafka_up"] == 1 and samples["salesdash_caught_up"] == 1
    assert samples["salesdash_viewers"] == 0


def test_health_is_503_and_names_a_partition_of_orders_nobody_counts_then_200_once_one_does() -> None:
    with app(orders(100)) as running:
        coverage = running.feed.coverage
        # Partition 8 was added and holds 30 records; no checkpoint has ever named it, for 10 s now.
        marks = {0: (0, 1), 8: (0, 30), 9: (0, 0)}
        coverage.observe(time.monotonic() - 10, marks, {0: 1})
        for suspect in coverage.suspects(time.monotonic()):
            coverage.confirm(suspect)  # what the feed does once it finds a record in the range
        health = running.client.get("/healthz")
        samples = metrics(running.client.get("/metrics").text)
        coverage.observe(time.monotonic(), marks, {0: 1, 8: 30})  # its new owner's first checkpoint
        healed = running.client.get("/healthz")
    assert health.status_code == 503
    assert health.json()["kafka"] is True and health.json()["caught_up"] is True
    assert health.json()["uncounted_partitions"] == [8]
    assert health.json()["orders_lag"] == {"0": 0, "8": 30, "9": 0}
    assert samples["salesdash_orders_uncounted_partitions"] == 1
    assert samples['salesdash_orders_lag{partition="8"}'] == 30
    assert samples['salesdash_orders_lag{partition="9"}'] == 0
    assert healed.status_code == 200 and healed.json()["uncounted_partitions"] == []


def test_health_waits_the_session_timeout_before_calling_a_partition_uncounted() -> None:
    with app(orders(100)) as running:
        coverage = running.feed.coverage
        coverage.observe(time.monotonic() - 2, {0: (0, 5)}, {})  # a rebalance in progress
        for suspect in coverage.suspects(time.monotonic()):
            coverage.confirm(suspect)
        health = running.client.get("/healthz")
    assert health.status_code == 200
    assert health.json()["orders_lag"] == {"0": 5} and health.json()["uncounted_partitions"] == []


def test_every_http_response_carries_the_security_headers() -> None:
    with app() as running:
        for path in ("/", "/api/snapshot", "/healthz", "/static/dashboard.js", "/nope"):
            headers = running.client.get(path).headers
            assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY, path
            assert headers["x-content-type-options"] == "nosniff"
            assert headers["referrer-policy"] == "no-referrer"


def test_a_locked_dashboard_wants_its_token_on_every_route_but_the_probe() -> None:
    token = "wall-token"
    with app(orders(100), token=token) as running:
        client = running.client
        assert client.get("/").status_code == 401
        assert client.get(f"/?token={token}").status_code == 200
        assert client.get("/api/snapshot").status_code == 401
        assert client.get("/api/snapshot").headers["www-authenticate"] == "Bearer"
        assert client.get("/api/snapshot", headers={"authorization": f"Bearer {token}"}).status_code == 200
        assert client.get("/api/days").status_code == 401
        assert client.get("/metrics").status_code == 401
        assert client.post("/api/replays", json={"day": "2025-11-28"}).status_code == 401
        assert client.get("/healthz").status_code == 200  # probes carry no secrets and reveal no sales
        with pytest.raises(WebSocketDenialResponse) as refused, client.websocket_connect("/ws"):
            pass
        assert refused.value.status_code == 401
        with client.websocket_connect(f"/ws?token={token}") as ws:
            assert orjson.loads(ws.receive_text())["type"] == "snapshot"


def test_a_viewer_gets_a_snapshot_then_a_delta_and_can_ask_for_a_resync() -> None:
    with app(orders(500)) as running, running.client.websocket_connect("/ws") as ws:
        first = orjson.loads(ws.receive_text())
        assert first["type"] == "snapshot" and first["totals"]["orders"] == 1
        ws.send_text('{"type": "resync"}')
        again = orjson.loads(ws.receive_text())
        assert again["type"] == "snapshot" and again["totals"] == first["totals"]


@pytest.mark.parametrize(("query", "origin", "status"), [
    ("", "http://evil.example", 403),  # a page on another site
    ("?day=2024-W01-1", None, 400),  # an ISO week date is not a day
    ("?day=tomorrow", None, 400),
    ("?replay=../../etc", None, 400),  # a session id names a topic
    ("?replay=2025-11-28-0000beef&speed=0", None, 400),
    ("?replay=2025-11-28-0000beef&speed=fast", None, 400),
    ("?replay=2025-11-28-0000beef&at=-5", None, 400),
    ("?replay=2025-11-28-0000beef&at=1e9", None, 400),
])
def test_a_websocket_handshake_is_refused_with_a_status_before_any_frame(
        query: str, origin: str | None, status: int) -> None:
    headers = {"origin": origin} if origin else {}
    with app() as running, pytest.raises(WebSocketDenialResponse) as refused, \
            running.client.websocket_connect("/ws" + query, headers=headers):
        pass
    assert refused.value.status_code == status


def test_the_days_in_the_log_are_listed_newest_first() -> None:
    with app(days=["2025-11-28", "2025-11-29", "2024-11-29"]) as running:
        body = running.client.get("/api/days").json()
    assert [d["day"] for d in body["days"]] == ["2025-11-29", "2025-11-28", "2024-11-29"]


@pytest.mark.parametrize(("body", "headers", "status"), [
    ({"day": "2025-11-28"}, {"origin": "http://evil.example"}, 403),
    ("not json", {}, 400),
    ({"day": 20251128}, {}, 400),
    ([], {}, 400),
])
def test_a_replay_request_is_refused_before_any_work(body: Any, headers: dict[str, str], status: int) -> None:
    with app() as running:
        content = body if isinstance(body, str) else orjson.dumps(body)
        response = running.client.post("/api/replays", content=content, headers=headers)
        assert running.library.prepared == []
    assert response.status_code == status and "error" in response.json()


def test_a_replay_request_is_accepted_or_refused_as_the_library_says() -> None:
    with app() as running:
        accepted = running.client.post("/api/replays", json={"day": "2025-11-28"})
        assert running.library.prepared == ["2025-11-28"]
    assert accepted.status_code == 202 and accepted.json()["session"] == "2025-11-28-0000beef"
    with app(refusal=ReplayRefused("no orders for 2025-11-20 in topic orders", 404)) as running:
        refused = running.client.post("/api/replays", json={"day": "2025-11-20"})
    assert refused.status_code == 404
    assert refused.json()["error"] == "no orders for 2025-11-20 in topic orders"
