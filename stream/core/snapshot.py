"""Snapshots: a partition's whole state in compacted topics, so readers start near the end of the chain.

Two compacted topics, partition p for input partition p, keyed so compaction keeps the newest of each:

- `<AGGREGATES_TOPIC>.snapshots`, what every reader needs: `[p, "state"]` (the input offset the snapshot
  stands at, the aggregates offset to fold on from, the watermark, the open days, the dedupe pieces in
  use) and `[p, "day", D]` per day (the day as a reader holds it: totals, minutes, seconds, breakdowns,
  top tens, sketch, tallies; `closed` once the day can no longer change). A closed day's record stays for
  good: the app reads past days from it.
- `<AGGREGATES_TOPIC>.state`, what only the worker needs to go on counting: every merchant row
  `[p, "m", D, merchant]` and product row `[p, "p", D, merchant, sku]` of the open days (a tombstone once
  the day closes), the dedupe pieces `[p, "d", n]` (a tombstone once forgotten), and each merchant's
  detail `[p, "mm", D, merchant]` (stream.core.merchantday; kept after the day closes: a compare day).

A snapshot is written in the transaction of the checkpoint it follows, and writes only what changed
since the previous one (the rows touched, the days touched, new pieces), so its cost is proportional to
change, not to state. Reading a partition's records to the end and keeping the newest value per key gives
the state as of the newest `state` record: everything older that it refers to is still the newest of
its key, because it has not changed since.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from stream.core.daysales import Product

VERSION = 1
Row = list[Any]


def state_key(partition: int) -> bytes:
    return orjson.dumps([partition, "state"])


def day_key(partition: int, day: str) -> bytes:
    return orjson.dumps([partition, "day", day])


def merchant_key(partition: int, day: str, merchant: str) -> bytes:
    return orjson.dumps([partition, "m", day, merchant])


def product_key(partition: int, day: str, product: Product) -> bytes:
    return orjson.dumps([partition, "p", day, product[0], product[1]])


def detail_key(partition: int, day: str, merchant: str) -> bytes:
    return orjson.dumps([partition, "mm", day, merchant])


def piece_key(partition: int, number: int) -> bytes:
    return orjson.dumps([partition, "d", number])


@dataclass
class State:
    """The `[p, "state"]` record."""

    end: int  # the snapshot covers every input offset below this
    aggregates_from: int  # fold the aggregates topic from here (a checkpoint continuing `end` is at or after)
    watermark: int
    days: list[str]  # the open days (their rows are in the state topic)
    pieces: list[int]  # the dedupe pieces in use
    taken_ms: int  # wall clock when it was taken

    def encode(self) -> bytes:
        return orjson.dumps({"v": VERSION, "end": self.end, "agg": self.aggregates_from, "wm": self.watermark,
                             "days": self.days, "pieces": self.pieces, "taken_ms": self.taken_ms})

    @classmethod
    def decode(cls, raw: bytes) -> State:
        doc = orjson.loads(raw)
        if doc.get("v") != VERSION:
            raise ValueError(f"unknown snapshot version {doc.get('v')!r}")
        return cls(int(doc["end"]), int(doc["agg"]), int(doc["wm"]), list(doc["days"]),
                   [int(n) for n in doc["pieces"]], int(doc["taken_ms"]))


class Heads(Mapping[str, dict[str, Any]]):
    """A partition's day records, decoded each time one is asked for: a reader starting on a log of many
    past days holds one of them expanded at a time, not all."""

    def __init__(self, raw: dict[str, bytes]) -> None:
        self._raw = raw

    def __getitem__(self, day: str) -> dict[str, Any]:
        return _head(self._raw[day])

    def __iter__(self) -> Iterator[str]:
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)


@dataclass
class PartitionSnapshot:
    """The newest snapshot of one partition, as read back from the two topics."""

    partition: int
    state: State
    heads: Mapping[str, dict[str, Any]]  # day -> its day record (open and closed days)
    merchants: dict[str, dict[str, Row]] = field(default_factory=dict)  # open day -> merchant rows
    products: dict[str, dict[Product, Row]] = field(default_factory=dict)
    pieces: dict[int, bytes] = field(default_factory=dict)
    details: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # day -> merchant -> detail


class SnapshotFold:
    """Keeps the newest value of every key of one partition's snapshot records, read in log order."""

    def __init__(self, partition: int, tables: bool = True) -> None:
        self.partition = partition
        self.tables = tables  # False: a reader's fold keeps the merchants' details, not the worker's rows
        self.unreadable = 0  # records that are not snapshot records of this partition
        self._state: bytes | None = None
        self._heads: dict[str, bytes] = {}
        self._merchants: dict[tuple[str, str], bytes] = {}
        self._products: dict[tuple[str, str, str], bytes] = {}
        self._pieces: dict[int, bytes] = {}
        self._details: dict[tuple[str, str], bytes] = {}

    def add(self, key: bytes | None, value: bytes | None) -> None:
        try:
            parts = orjson.loads(key or b"")
            if not isinstance(parts, list) or not parts or parts[0] != self.partition:
                raise ValueError("a key of another partition, or not a key")
            kind = parts[1]
            if not self.tables and kind in ("m", "p", "d"):
                return
            if kind == "state" and len(parts) == 2:
                self._state = value
            elif kind == "day" and len(parts) == 3:
                _put(self._heads, str(parts[2]), value)
            elif kind == "m" and len(parts) == 4:
                _put(self._merchants, (str(parts[2]), str(parts[3])), value)
            elif kind == "p" and len(parts) == 5:
                _put(self._products, (str(parts[2]), str(parts[3]), str(parts[4])), value)
            elif kind == "mm" and len(parts) == 4:
                _put(self._details, (str(parts[2]), str(parts[3])), value)
            elif kind == "d" and len(parts) == 3:
                _put(self._pieces, int(parts[2]), value)
            else:
                raise ValueError(f"unknown snapshot key {parts!r}")
        except (ValueError, TypeError, IndexError):
            self.unreadable += 1

    def result(self, with_tables: bool) -> PartitionSnapshot | None:
        """The snapshot, or None if there is none (or it cannot be read)."""
        if self._state is None:
            return None
        try:
            state = State.decode(self._state)
            for raw in self._heads.values():
                _head(raw)  # each one readable, or the snapshot is not
        except (ValueError, TypeError, KeyError):
            self.unreadable += 1
            return None
        snapshot = PartitionSnapshot(self.partition, state, Heads(dict(self._heads)))
        if with_tables:
            open_days = set(state.days)
            for (day, merchant), raw in self._merchants.items():
                if day in open_days:
                    snapshot.merchants.setdefault(day, {})[merchant] = orjson.loads(raw)
            for (day, merchant, sku), raw in self._products.items():
                if day in open_days:
                    snapshot.products.setdefault(day, {})[(merchant, sku)] = orjson.loads(raw)
            snapshot.pieces = {n: self._pieces[n] for n in state.pieces if n in self._pieces}
        for (day, merchant), raw in self._details.items():
            snapshot.details.setdefault(day, {})[merchant] = orjson.loads(raw)
        return snapshot


def _put(table: dict[Any, bytes], key: Any, value: bytes | None) -> None:
    if value is None:
        table.pop(key, None)  # a tombstone: the key is gone
    else:
        table[key] = value


def _head(raw: bytes) -> dict[str, Any]:
    doc = orjson.loads(raw)
    if not isinstance(doc, dict) or doc.get("v") != VERSION:
        raise ValueError("not a day record")
    return doc
