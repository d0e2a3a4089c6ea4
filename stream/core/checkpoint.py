"""Checkpoints: how the state of one input partition is published and read back, record by record.

The worker that owns input partition p publishes to partition p of the aggregates topic, after a batch
(or a few: see STREAM_CHECKPOINT_*), one checkpoint: the input offset range [start, end) it covers, the
clock it judged those records by (`now`), the watermark, and per UTC day it touched what changed
(stream.core.daysales). A checkpoint is written in one Kafka transaction with the dead letters and
reroutes of its range, so state, offsets and side effects never disagree.

Readers (the app, a recovering worker, an audit) fold a partition's records in log order and accept one
only if it continues the chain (`start` == the `end` already accepted). A snapshot (stream.core.snapshot)
gives the chain a base, so a reader starts near the end instead of at the beginning.

A checkpoint too large for one record (many days in one range) is written as several (`parts`), in one
transaction: all but the last cover the empty range [start, start), so every reader folds them in turn
without knowing they are parts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
import orjson

from stream.core import merchantday
from stream.core.budget import RECORD_BUDGET
from stream.core.daysales import DayView
from stream.core.eventtime import parse_day
from stream.core.totals import Totals

VERSION = 4  # 4 adds `follow`; written only on a follow step, so every other record stays version 3
READABLE = (3, 4)
SPREAD = ("m", "s", "mm")  # a day's keys whose items may go in different parts: minutes, seconds, merchants


class Unreadable(ValueError):
    """A record of the aggregates topic that is not a checkpoint this code can read."""


@dataclass(slots=True)
class Checkpoint:
    partition: int
    start: int  # first input offset this record covers (the previous record's end)
    end: int  # every input offset below this is applied
    now_ms: int  # the clock the range's records were judged by (future_time): a recount uses it again
    watermark: int  # highest occurred_at counted in the partition
    written_ms: int  # wall clock at publication, for data age
    days: dict[str, dict[str, Any]]  # YYYY-MM-DD -> DaySales.changes()
    closed: list[str] = field(default_factory=list)  # days closed in this range: they can no longer change
    skip: list[int] = field(default_factory=list)  # offsets a recount must pass over (they broke counting)
    follow: int | None = None  # an idle partition's watermark moved here by a follow step (empty range)
    held_watermark: int | None = None  # what readers held before this one (not encoded): the leading parts'

    def encode(self) -> bytes:
        # A reader of version 3 skips a follow step as unreadable: an empty range, so its chain goes on.
        doc: dict[str, Any] = {"v": 3 if self.follow is None else VERSION, "p": self.partition,
                               "start": self.start, "end": self.end, "now": self.now_ms, "wm": self.watermark,
                               "written_ms": self.written_ms,
                               "days": self.days}
        if self.closed:
            doc["closed"] = self.closed
        if self.skip:
            doc["skip"] = self.skip
        if self.follow is not None:
            doc["follow"] = self.follow
        return orjson.dumps(doc)

    def parts(self, budget: int = RECORD_BUDGET) -> list[bytes]:
        """The records to write, in order and in one transaction, each at most `budget` bytes: folded in
        turn they give what `encode()` would. Days are packed whole in their order; a day too large for
        one record has its minutes and seconds spread over several. Only the last part covers the range
        and says which days closed, with the new watermark; the others carry the watermark readers held,
        so a reader that compacts past days between two parts never takes a day for over too early."""
        whole = self.encode()
        if len(whole) <= budget:
            return [whole]
        final = Checkpoint(self.partition, self.start, self.end, self.now_ms, self.watermark,
                           self.written_ms, {}, closed=self.closed, skip=self.skip, follow=self.follow)
        room = budget - len(final.encode())  # `closed` names days since 2000 at most: ~140 KB, bounded
        groups: list[dict[str, dict[str, Any]]] = [{}]
        used = 0
        for name, doc in self.days.items():
            for piece in _pieces(doc, room - _entry(name, {})):
                size = _entry(name, piece)
                if groups[-1] and used + size > room:
                    groups.append({})
                    used = 0
                _merge(groups[-1].setdefault(name, {}), piece)
                used += size
        held = self.watermark if self.held_watermark is None else self.held_watermark
        leading = [Checkpoint(self.partition, self.start, self.start, self.now_ms, held, self.written_ms,
                              days) for days in groups[:-1]]
        final.days = groups[-1]
        return [record.encode() for record in (*leading, final)]

    @classmethod
    def decode(cls, raw: bytes | None) -> Checkpoint:
        """The checkpoint in `raw`; Unreadable for anything else (another version, junk, a tombstone)."""
        try:
            doc = orjson.loads(raw or b"")
            if not isinstance(doc, dict) or doc.get("v") not in READABLE:
                raise Unreadable(f"not a version {READABLE} checkpoint")
            follow = doc.get("follow")
            checkpoint = cls(
                partition=_int(doc["p"]), start=_int(doc["start"]), end=_int(doc["end"]),
                now_ms=_int(doc["now"]), watermark=_int(doc["wm"]), written_ms=_int(doc["written_ms"]),
                days=doc["days"], closed=list(doc.get("closed", [])), skip=list(doc.get("skip", [])),
                follow=None if follow is None else _int(follow))
            if not isinstance(checkpoint.days, dict) or checkpoint.end < checkpoint.start:
                raise Unreadable("a checkpoint with no days or a backward range")
            return checkpoint
        except Unreadable:
            raise
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise Unreadable(f"not a checkpoint: {exc!r}") from None


class Link(msgspec.Struct, frozen=True):
    """What a checkpoint says about the chain (and a recount needs), read without decoding its days."""

    v: int
    p: int
    start: int
    end: int
    now: int
    wm: int = 0  # the watermark: what a peer worker follows (stream/worker/peers.py)
    skip: list[int] = []
    follow: int | None = None


_link = msgspec.json.Decoder(Link)


def link(raw: bytes | None) -> Link:
    """The chain fields of a checkpoint record; Unreadable for anything else."""
    try:
        found = _link.decode(raw or b"")
    except msgspec.DecodeError as exc:  # ValidationError included
        raise Unreadable(f"not a checkpoint: {exc}") from None
    if found.v not in READABLE or found.end < found.start:
        raise Unreadable(f"not a version {READABLE} checkpoint")
    return found


def _entry(name: str, doc: dict[str, Any]) -> int:
    """Bytes a day adds to a checkpoint's `days` (its name, the colon, the doc and a comma)."""
    return len(orjson.dumps(name)) + len(orjson.dumps(doc)) + 2


def _pieces(doc: dict[str, Any], room: int) -> list[dict[str, Any]]:
    """`doc` whole if it fits in `room` bytes, else split: everything but the minutes, seconds and merchant
    details in the first piece, then those spread over pieces that each fill `room` (every value is
    absolute, so the pieces folded in order give the doc). Each piece carries `t`, which a reader always
    expects."""
    if len(orjson.dumps(doc)) <= room:
        return [doc]
    head = {k: v for k, v in doc.items() if k not in SPREAD}
    pieces = [head]
    base = len(orjson.dumps({"t": doc["t"], "m": {}}))
    for key in SPREAD:
        chunk: dict[str, Any] = {}
        used = base
        for bucket, values in doc.get(key, {}).items():
            size = len(orjson.dumps({bucket: values})) - 1  # the item and its comma
            if chunk and used + size > room:
                pieces.append({"t": doc["t"], key: chunk})
                chunk, used = {}, base
            chunk[bucket] = values
            used += size
        if chunk:
            pieces.append({"t": doc["t"], key: chunk})
    return pieces


def _merge(into: dict[str, Any], piece: dict[str, Any]) -> None:
    """Two pieces of a day in one part: their minutes, seconds and merchants are different buckets."""
    for key, value in piece.items():
        if key in SPREAD:
            into.setdefault(key, {}).update(value)
        else:
            into[key] = value


def _int(value: Any) -> int:
    if type(value) is not int:
        raise TypeError(f"expected an integer, got {value!r}")
    return value


def merged(raws: Sequence[bytes], seconds_horizon_ms: int) -> bytes:
    """One checkpoint that folds like `raws`, consecutive checkpoints of one partition, folded in order.

    Minutes, seconds, countries, channels and the top rows are absolute and carried when touched: the
    newest value of each wins, and the newest ids order the top tens. Totals, the sketch and the day's
    tallies stand as the last record that carried them left them. The chain runs from the first record's
    `start` to the last one's `end`; seconds older than the horizon before the last watermark are left out,
    as folding would drop them.
    """
    if len(raws) == 1:
        return raws[0]
    docs = [orjson.loads(raw) for raw in raws]
    days: dict[str, dict[str, Any]] = {}
    for doc in docs:
        for name, day in doc["days"].items():
            into = days.setdefault(name, {})
            for key in ("m", "s", "co", "ch", "xm"):
                if key in day:
                    into.setdefault(key, {}).update(day[key])
            for key in ("tm", "tp"):
                if key in day:
                    top = into.setdefault(key, {"ids": [], "rows": {} if key == "tm" else []})
                    top["ids"] = day[key]["ids"]
                    if key == "tm":
                        top["rows"].update(day[key]["rows"])
                    else:
                        rows = {(m, s): row for m, s, *row in top["rows"]}
                        rows.update(((m, s), row) for m, s, *row in day[key]["rows"])
                        top["rows"] = [[m, s, *row] for (m, s), row in rows.items()]
            details = into.setdefault("mm", {}) if "mm" in day else {}
            for merchant, detail in day.get("mm", {}).items():
                details[merchant] = merchantday.fold(details.get(merchant), detail)
            into.update({k: v for k, v in day.items() if k in ("t", "u", "x", "late", "rr", "o")})
    for name, day in days.items():
        if "s" in day:  # as SalesView keeps them: a past day keeps its last seconds
            oldest = min(docs[-1]["wm"], parse_day(name)[1]) - seconds_horizon_ms
            day["s"] = {s: t for s, t in day["s"].items() if int(s) >= oldest}
    closed = [name for doc in docs for name in doc.get("closed", [])]
    skip = [offset for doc in docs for offset in doc.get("skip", [])]
    last = dict(docs[-1])
    last.update(start=docs[0]["start"], days=days)
    if closed:
        last["closed"] = closed
    if skip:
        last["skip"] = skip
    return orjson.dumps(last)


@dataclass
class PartitionLedger:
    """What a reader has accepted for one input partition: the chain's end and each day's view."""

    partition: int
    days: dict[str, DayView] = field(default_factory=dict)
    closed: set[str] = field(default_factory=set)
    end: int | None = None  # None: nothing accepted yet
    watermark: int = 0
    written_ms: int = 0

    def continues(self, checkpoint: Checkpoint) -> bool:
        return self.end is None or checkpoint.start == self.end

    def accept(self, checkpoint: Checkpoint) -> bool:
        """Fold a checkpoint that continues the chain; False (and nothing changes) for one that does not."""
        if not self.continues(checkpoint):
            return False
        for name, doc in checkpoint.days.items():
            view = self.days.get(name)
            if view is None:
                view = self.days[name] = DayView()
            view.apply(doc)
            for minute, values in doc.get("m", {}).items():
                view.minutes[int(minute)] = Totals.from_list(values)
            for second, values in doc.get("s", {}).items():
                view.seconds[int(second)] = Totals.from_list(values)
        self.closed.update(checkpoint.closed)
        self.end = checkpoint.end
        self.watermark = checkpoint.watermark
        self.written_ms = checkpoint.written_ms
        return True


def fold(partition: int, records: Iterable[bytes]) -> PartitionLedger:
    ledger = PartitionLedger(partition)
    for raw in records:
        ledger.accept(Checkpoint.decode(raw))
    return ledger
