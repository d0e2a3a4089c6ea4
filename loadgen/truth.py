"""Ground truth: what Kafka acknowledged, counted as the dashboard counts it — each valid event once, in
the minute and UTC day of its own occurred_at, in US cents — in the shape of /api/snapshot.

Events are tallied when sent and taken out again if their delivery fails (the producer reports only
failures), so after the final flush the tally is exactly what the broker acknowledged.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from stream.core.eventtime import day_of, minute_start
from stream.core.order import InvalidOrder, Order, parse_order
from stream.core.rules import Rules

_SKEW = Rules().max_future_ms  # as the worker judges: what it would count


class Truth:
    def __init__(self) -> None:
        self._minutes: dict[int, list[int]] = {}  # minute start -> [orders, gross_cents, refunds_cents]
        self._copies: dict[str, int] = {}  # copies in the log, for events sent twice or failed
        self._late: set[str] = set()
        self.events = 0  # distinct valid events
        self.valid_messages = 0  # their copies, duplicates included
        self.late = 0
        self.rejected: Counter[str] = Counter()

    def add(self, occurred_at: int, cents: int, refund: bool) -> None:
        """A new valid event was sent."""
        self.events += 1
        self.valid_messages += 1
        self._count(occurred_at, cents, refund, 1)

    def add_late(self, value: bytes) -> None:
        """The event just added was late on purpose."""
        self.late += 1
        self._late.add(orjson.loads(value)["event_id"])

    def add_copy(self, value: bytes) -> None:
        """An exact copy of an earlier valid event was sent."""
        self.valid_messages += 1
        event_id = orjson.loads(value)["event_id"]
        copies = self._copies.get(event_id, 1)
        self._copies[event_id] = copies + 1
        if copies == 0:  # every earlier copy failed: this one brings the event back
            self._change(parse_order(value, int(time.time() * 1000), _SKEW), +1)

    def add_rejected(self, reason: str) -> None:
        self.rejected[reason] += 1

    def failed(self, value: bytes | None) -> None:
        """Kafka refused this message for good: it is not in the log."""
        try:
            order = parse_order(value, int(time.time() * 1000), _SKEW)
        except InvalidOrder as exc:
            self.rejected[exc.reason] -= 1
            return
        self.valid_messages -= 1
        copies = self._copies.get(order.event_id, 1) - 1
        self._copies[order.event_id] = copies
        if copies == 0:
            self._change(order, -1)

    def _change(self, order: Order, sign: int) -> None:
        self.events += sign
        if order.event_id in self._late:
            self.late += sign
        self._count(order.occurred_at, order.usd_cents, order.is_refund, sign)

    def _count(self, occurred_at: int, cents: int, refund: bool, sign: int) -> None:
        start = minute_start(occurred_at)
        minute = self._minutes.get(start)
        if minute is None:
            minute = self._minutes[start] = [0, 0, 0]
        if refund:
            minute[2] += sign * cents
        else:
            minute[0] += sign
            minute[1] += sign * cents

    def days(self) -> dict[str, dict[str, Any]]:
        days: dict[str, dict[str, Any]] = {}
        for start in sorted(self._minutes):
            orders, gross, refunds = self._minutes[start]
            if not (orders or gross or refunds):
                continue  # everything in it failed
            name = day_of(start)
            day = days.setdefault(name, {"day": name, "totals": {"orders": 0, "gross_cents": 0,
                                                                  "refunds_cents": 0, "net_cents": 0},
                                         "minutes": []})
            totals = day["totals"]
            totals["orders"] += orders
            totals["gross_cents"] += gross
            totals["refunds_cents"] += refunds
            totals["net_cents"] += gross - refunds
            day["minutes"].append({"start_ms": start, "orders": orders, "gross_cents": gross,
                                   "refunds_cents": refunds})
        return days

    def document(self, counts: dict[str, int]) -> dict[str, Any]:
        days = self.days()
        return {
            "version": 1,
            "counts": {
                **counts,
                "events": self.events,
                "orders": sum(day["totals"]["orders"] for day in days.values()),
                "duplicates": self.valid_messages - self.events,
                "late": self.late,
                "malformed": sum(self.rejected.values()),
                "rejected": {reason: n for reason, n in sorted(self.rejected.items()) if n},
            },
            "days": days,
        }

    def write(self, path: Path, counts: dict[str, int]) -> None:
        partial = path.with_name(path.name + ".partial")
        partial.write_bytes(orjson.dumps(self.document(counts), option=orjson.OPT_INDENT_2))
        os.replace(partial, path)  # readers never see half a file
