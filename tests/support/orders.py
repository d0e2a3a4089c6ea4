"""Building order events for tests: a valid v1 event, with any field overridden."""

from __future__ import annotations

import itertools
from typing import Any

_ids = itertools.count(1)
NOON = 1_795_780_800_000  # 2026-11-27T12:00:00Z, Black Friday


def order_event(**fields: Any) -> dict[str, Any]:
    n = next(_ids)
    event: dict[str, Any] = {
        "event_id": f"evt-{n}",
        "type": "order_placed",
        "order_id": f"ord-{n}",
        "occurred_at": NOON,
        "merchant_id": "m00001",
        "merchant_name": "Ölberg Outfitters",
        "country": "US",
        "channel": "online",
        "currency": "USD",
        "total_minor": 2500,
        "customer_id": "c000001",
        "lines": [{"sku": "m00001-p001", "title": "Mug 1", "qty": 1, "price_minor": 2500}],
    }
    event.update(fields)
    return event
