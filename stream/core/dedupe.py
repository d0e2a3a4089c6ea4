"""At-least-once delivery repeats events: remember recent event ids so each is counted once.

The rule (docs/events.md#duplicates), exact and the same however the records are batched or snapshotted:
an id counted when the partition's watermark became S is a duplicate while the watermark W before its copy
has S >= W - horizon; past that its copy counts again and is remembered anew.

Ids are kept as 64-bit hashes (xxh3), 8 bytes each instead of a Python string, each with the watermark it
was remembered at (4 bytes, from the start of its stretch of event time). The newest ones sit in a dict;
after a batch that brings it to `seal_at` ids, and whenever the partition is snapshotted, they are sealed
into sorted arrays (pieces), one per stretch of event time (an eighth of the horizon), and pieces of one
stretch are merged into one group. A batch is looked up in every group with one vectorised search, before
the batch is counted: sealing only between batches keeps that look-up true for the whole batch. A group is
forgotten once its newest id has expired, so forgetting never changes an answer.

Collision odds: an unseen event is taken for a duplicate only if its hash equals one of the n remembered
ones: n / 2^64 per event. At 10,000 orders/s and the 15-minute horizon n is 9M (1.1M a partition), so
even 4.3e10 events (five days at 100,000/s) expect 4.3e10 * 1.1e6 / 1.8e19 ≈ 0.003 wrongly dropped events.

Pieces are what a snapshot stores of the memory (each written once, dropped with its group), so a
recovering worker loads them instead of re-reading the horizon's input.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import xxhash

Hashes = npt.NDArray[np.uint64]
Offsets = npt.NDArray[np.uint32]
_xxh3 = xxhash.xxh3_64_intdigest
NOT_SEEN = -(2**62)  # below any watermark minus any horizon
_MAX_STRETCH_MS = 2**31  # offsets within a stretch fit 32 bits whatever the horizon


def hash_id(event_id: str) -> int:
    """The id's 64-bit hash: stable across processes and versions (Python's hash() is not)."""
    return _xxh3(event_id.encode())


@dataclass
class Piece:
    """Ids sealed together, sorted, each remembered at `base + offsets[i]`; a number for snapshots."""

    number: int
    base: int
    hashes: Hashes
    offsets: Offsets

    @property
    def max_ts(self) -> int:
        return self.base + (int(self.offsets.max()) if len(self.offsets) else 0)

    def encode(self) -> bytes:
        return (b"SDD2" + self.base.to_bytes(8, "big", signed=True) + self.hashes.astype("<u8").tobytes()
                + self.offsets.astype("<u4").tobytes())

    @classmethod
    def decode(cls, number: int, raw: bytes) -> Piece:
        if raw[:4] == b"SDD1" and not (len(raw) - 12) % 8:
            # Version 1 kept only the newest time of a piece: remember every id as of it (never shorter).
            hashes = np.frombuffer(raw, dtype="<u8", offset=12).astype(np.uint64)
            return cls(number, int.from_bytes(raw[4:12], "big", signed=True), hashes,
                       np.zeros(len(hashes), dtype=np.uint32))
        if raw[:4] != b"SDD2" or (len(raw) - 12) % 12:
            raise ValueError("not a dedupe piece")
        n = (len(raw) - 12) // 12
        hashes = np.frombuffer(raw, dtype="<u8", count=n, offset=12).astype(np.uint64)
        offsets = np.frombuffer(raw, dtype="<u4", count=n, offset=12 + 8 * n).astype(np.uint32)
        return cls(number, int.from_bytes(raw[4:12], "big", signed=True), hashes, offsets)


@dataclass
class _Group:
    base: int
    max_ts: int
    hashes: Hashes
    offsets: Offsets
    pieces: list[int] = field(default_factory=list)


class Dedupe:
    def __init__(self, horizon_ms: int, seal_at: int = 16_384, max_ids: int = 30_000_000) -> None:
        self.horizon_ms = horizon_ms
        self.seal_at = seal_at
        self.max_ids = max_ids  # 360 MB at most, whatever the horizon and the rate
        self.stretch_ms = min(max(1, horizon_ms // 8), _MAX_STRETCH_MS)
        self.recent: dict[int, int] = {}  # hash -> the watermark it was remembered at
        self._groups: dict[int, _Group] = {}  # stretch of event time -> its pieces, merged
        self._next_piece = 0
        self.unsaved: list[Piece] = []  # sealed since the last snapshot took them
        self.dropped: list[int] = []  # piece numbers forgotten since the last snapshot took them

    def __len__(self) -> int:
        return len(self.recent) + sum(len(g.hashes) for g in self._groups.values())

    def known(self, hashes: list[int]) -> list[int]:
        """When each of `hashes` was remembered in a sealed piece (the newest time), else NOT_SEEN."""
        if not self._groups or not hashes:
            return [NOT_SEEN] * len(hashes)
        wanted = np.array(hashes, dtype=np.uint64)
        found = np.full(len(hashes), NOT_SEEN, dtype=np.int64)
        for group in self._groups.values():
            at = np.searchsorted(group.hashes, wanted)
            at[at == len(group.hashes)] = 0
            hit = group.hashes[at] == wanted
            if hit.any():
                when = group.offsets[at].astype(np.int64) + group.base
                np.maximum(found, np.where(hit, when, NOT_SEEN), out=found)
        return found.tolist()

    def first_time(self, hashed: int, occurred_at: int, known_at: int, watermark: int) -> bool:
        """True unless the id was remembered at or after `watermark - horizon` (`known_at`: from `known()`,
        `watermark`: the partition's before this event); a first time is remembered at the new watermark."""
        limit = watermark - self.horizon_ms
        if known_at >= limit:
            return False
        recent = self.recent
        was = recent.get(hashed)
        if was is not None:
            if was >= limit:
                return False
            del recent[hashed]  # remembered anew: the dict stays in the order of its times
        recent[hashed] = occurred_at if occurred_at > watermark else watermark
        return True

    def end_batch(self, watermark: int) -> None:
        """After a batch is counted: seal once the recent ids are many (never within a batch, whose look-up
        was made before it)."""
        if len(self.recent) >= self.seal_at:
            self.seal(watermark)

    def seal(self, watermark: int) -> None:
        """Move the recent ids into pieces (one per stretch of time), and forget groups that expired."""
        if self.recent:
            count = len(self.recent)
            hashes = np.fromiter(self.recent.keys(), dtype=np.uint64, count=count)
            times = np.fromiter(self.recent.values(), dtype=np.int64, count=count)
            self.recent = {}
            stretches = times // self.stretch_ms
            for stretch in np.unique(stretches).tolist():
                chosen = stretches == stretch
                base = stretch * self.stretch_ms
                order = np.argsort(hashes[chosen], kind="stable")
                piece = Piece(self._next_piece, base, hashes[chosen][order],
                              (times[chosen][order] - base).astype(np.uint32))
                self._next_piece += 1
                self._add(piece)
                self.unsaved.append(piece)
        self._forget(watermark)

    def restore(self, pieces: list[Piece], watermark: int) -> None:
        """The memory a snapshot saved: its pieces (the recent ids were empty when it was taken)."""
        for piece in sorted(pieces, key=lambda p: p.number):
            self._add(piece)
            self._next_piece = max(self._next_piece, piece.number + 1)
        self._forget(watermark)
        self.dropped.clear()  # pieces forgotten now were never in memory: their snapshot keys stay correct

    def _add(self, piece: Piece) -> None:
        stretch = piece.max_ts // self.stretch_ms
        group = self._groups.get(stretch)
        if group is None:
            self._groups[stretch] = group = _Group(stretch * self.stretch_ms, piece.max_ts,
                                                   np.empty(0, np.uint64), np.empty(0, np.uint32))
        else:
            group.max_ts = max(group.max_ts, piece.max_ts)
        # Relative to the group's stretch; a version-1 piece's one time may lie in an earlier stretch.
        shift = piece.base - group.base
        if shift < 0 or (len(piece.offsets) and int(piece.offsets.max()) + shift >= 2**32):
            times = piece.offsets.astype(np.int64) + shift
            offsets = np.clip(times, 0, 2**32 - 1).astype(np.uint32)  # never earlier than the stretch
        else:
            offsets = (piece.offsets.astype(np.int64) + shift).astype(np.uint32)
        # Both sorted: insert at the found places, O(n + m) (re-sorting the group each seal cost a quarter
        # of a busy worker's time).
        at = np.searchsorted(group.hashes, piece.hashes)
        hashes = np.insert(group.hashes, at, piece.hashes)
        offsets = np.insert(group.offsets, at, offsets)
        if len(hashes) > 1 and not bool(np.all(hashes[1:] != hashes[:-1])):
            # An id counted again after it expired can share a group with its old time: keep the newest.
            order = np.lexsort((offsets, hashes))
            hashes, offsets = hashes[order], offsets[order]
            last = np.append(hashes[1:] != hashes[:-1], True)
            hashes, offsets = hashes[last], offsets[last]
        group.hashes, group.offsets = hashes, offsets
        group.pieces.append(piece.number)

    def _forget(self, watermark: int) -> None:
        oldest = watermark - self.horizon_ms
        for stretch in sorted(self._groups):
            group = self._groups[stretch]
            if group.max_ts >= oldest and len(self) <= self.max_ids:
                continue
            del self._groups[stretch]
            self.dropped.extend(group.pieces)
            self.unsaved = [p for p in self.unsaved if p.number not in group.pieces]

    def pieces_in_use(self) -> list[int]:
        return sorted(n for group in self._groups.values() for n in group.pieces)

    def take_changes(self, watermark: int) -> tuple[list[Piece], list[int]]:
        """For a snapshot: the pieces to write and the piece numbers to delete since the last one."""
        self.seal(watermark)
        unsaved, dropped = self.unsaved, self.dropped
        self.unsaved, self.dropped = [], []
        return unsaved, dropped
