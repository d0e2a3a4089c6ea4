"""Building order events for tests: a valid v1 event, with any field overridden."""

from __future__ import annotations

import itertools
from typing import Any

import orjson

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


def _valid() -> bytes:
    return orjson.dumps(order_event())


# Messages that give a field of the contract twice (as bytes: no JSON writer does it on purpose), and
# look-alikes that are valid orders: readers disagree on which copy of a key counts, so both the worker
# and the audit refuse them as `duplicate_key` (docs/events.md).
DUPLICATE_KEYS: list[bytes] = [
    _valid()[:-1] + b',"total_minor":100}',  # msgspec keeps the last, DuckDB's json_extract the first
    _valid()[:-1] + b',"\\u0074otal_minor":100}',  # the same key, escaped
    _valid()[:-1] + b',"total_minor":"x"}',  # the second copy is not even of the right type
    _valid()[:-1] + b',"lines":[]}',
    _valid().replace(b'"qty":1', b'"qty":1,"qty":2', 1),  # inside a line
    _valid().replace(b'"event_id"', b'"event_id":"x", "event_id"', 1),
]
NOT_DUPLICATE_KEYS: list[bytes] = [
    _valid()[:-1] + b',"note":1,"note":2}',  # fields not in the contract are ignored, repeated or not
    orjson.dumps(order_event(merchant_name="total_minor", lines=[
        {"sku": "qty", "title": "sku", "qty": 2, "price_minor": 1}])),  # values named like keys
    _valid()[:-1] + b',"extra":{"total_minor":1,"total_minor":2}}',  # inside an ignored field
]

DAY_MS = 86_400_000
FIRST_DAY = 978_307_200_000  # 2001-01-01T00:00:00Z
LONG_MERCHANT = "𝔐𝔞𝔯𝔨𝔱" * 51 + "𝔐"  # 256 characters of 4 UTF-8 bytes each: the longest legal id


def past_days(count: int) -> list[dict[str, Any]]:
    """One valid order a day at noon since 2001, ~2.7 KB each (ten lines), all of one merchant with the
    longest unicode id (so all in one partition): issue 19's backlog that made a 9.6 MB checkpoint."""
    return [order_event(
        event_id=f"past-{i}", order_id=f"past-order-{i}", occurred_at=FIRST_DAY + i * DAY_MS + DAY_MS // 2,
        merchant_id=LONG_MERCHANT, merchant_name=("Ünïcødé 商店 " * 26)[:256], customer_id=f"c{i}",
        currency="USD", total_minor=10 * (1_000 + i),
        lines=[{"sku": f"sku-{i}-{j}-ß", "title": f"Produkt {j} für den Tag {i} — 雑貨店の品物", "qty": 1,
                "price_minor": 1_000 + i} for j in range(10)])
        for i in range(count)]
