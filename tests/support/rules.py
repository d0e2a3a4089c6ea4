"""README's event contract restated as plain Python, independently of stream/: whether an event counts, and
what it adds up to. The property tests hold the core against it."""

from __future__ import annotations

from typing import Any

from tests.support.truth import USD_PER_UNIT, usd_cents

FIELDS = ("event_id", "type", "order_id", "occurred_at", "merchant_id", "merchant_name", "country", "channel",
          "currency", "total_minor", "customer_id", "lines")
TEXT = ("event_id", "order_id", "merchant_id", "merchant_name", "customer_id")
CHANNELS = ("online", "pos", "mobile", "social")
DOLLAR_MILLION = 100_000_000  # cents


def _text(value: Any) -> bool:
    return isinstance(value, str) and 1 <= len(value) <= 256


def _integer(value: Any, low: int, high: int) -> bool:
    return type(value) is int and low <= value <= high


def counts(event: Any, now_ms: int, max_future_ms: int = 300_000) -> bool:
    """Whether the README's rules accept `event` (a decoded JSON value) at the worker's clock `now_ms`."""
    if not isinstance(event, dict) or any(name not in event for name in FIELDS):
        return False
    if not all(_text(event[name]) for name in TEXT):
        return False
    if not all(isinstance(event[name], str) for name in ("type", "channel", "currency")):
        return False
    if event["type"] not in ("order_placed", "order_refunded") or event["channel"] not in CHANNELS:
        return False
    country = event["country"]
    if not (isinstance(country, str) and len(country) == 2 and all("A" <= c <= "Z" for c in country)):
        return False
    if not _integer(event["occurred_at"], 946_684_800_000, now_ms + max_future_ms):
        return False
    if len(event["currency"]) > 8 or event["currency"] not in USD_PER_UNIT:
        return False
    if not _integer(event["total_minor"], 1, 10**15):
        return False
    if usd_cents(event["total_minor"], event["currency"]) > DOLLAR_MILLION:
        return False
    lines = event["lines"]
    if not isinstance(lines, list) or len(lines) > 500:
        return False
    total = 0
    for line in lines:
        if not isinstance(line, dict) or any(n not in line for n in ("sku", "title", "qty", "price_minor")):
            return False
        if not (_text(line["sku"]) and _text(line["title"]) and _integer(line["qty"], 1, 100_000)
                and _integer(line["price_minor"], 0, 10**12)):
            return False
        value = usd_cents(line["qty"] * line["price_minor"], event["currency"])
        if value > DOLLAR_MILLION:
            return False
        total += value
    return total <= DOLLAR_MILLION


def money(events: list[dict[str, Any]]) -> dict[str, int]:
    """orders, gross_cents, refunds_cents, net_cents of events that count, each event_id once."""
    seen: set[str] = set()
    orders = gross = refunds = 0
    for event in events:
        if event["event_id"] in seen:
            continue
        seen.add(event["event_id"])
        cents = usd_cents(event["total_minor"], event["currency"])
        if event["type"] == "order_refunded":
            refunds += cents
        else:
            orders += 1
            gross += cents
    return {"orders": orders, "gross_cents": gross, "refunds_cents": refunds, "net_cents": gross - refunds}
