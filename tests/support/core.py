"""Reading the core's state in tests: figures summed over a partition's days, as plain lists."""

from __future__ import annotations

from typing import Any

import orjson

from stream.core.checkpoint import PartitionLedger
from stream.core.partition import PartitionState
from stream.core.rules import Rules
from stream.core.snapshot import PartitionSnapshot, SnapshotFold


def fresh(partition: int = 0, rules: Rules | None = None) -> PartitionState:
    return PartitionState(partition, rules or Rules())


def encoded(*events: Any) -> list[bytes | None]:
    return [orjson.dumps(e) if isinstance(e, dict) else e for e in events]


def minutes(holder: PartitionState | PartitionLedger) -> dict[int, list[int]]:
    """Every minute of every day, [orders, gross_cents, refunds_cents]."""
    return {m: t.to_list() for day in holder.days.values() for m, t in day.minutes.items()}


def day_totals(holder: PartitionState | PartitionLedger) -> tuple[int, int, int]:
    values = minutes(holder).values()
    return (sum(v[0] for v in values), sum(v[1] for v in values), sum(v[2] for v in values))


def dead(holder: PartitionState | PartitionLedger) -> dict[str, int]:
    counts: dict[str, int] = {}
    for day in holder.days.values():
        for reason, n in day.dead.items():
            counts[reason] = counts.get(reason, 0) + n
    return counts


def late(holder: PartitionState | PartitionLedger) -> int:
    return sum(day.late for day in holder.days.values())


def snapshot_of(state: PartitionState, aggregates_from: int = 0,
                older: list[tuple[bytes, bytes | None]] | None = None) -> PartitionSnapshot:
    """Take a snapshot and read it back as a reader would (after `older` records of the same topics)."""
    heads, tables = state.snapshot(taken_ms=1, aggregates_from=aggregates_from)
    fold = SnapshotFold(state.partition)
    for key, value in [*(older or []), *tables, *heads]:
        fold.add(key, value)
    taken = fold.result(with_tables=True)
    assert taken is not None
    return taken
