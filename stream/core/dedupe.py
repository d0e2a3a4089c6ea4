"""At-least-once delivery repeats events: remember recent event ids so each is counted once.

Ids are kept as 64-bit hashes (xxh3), 8 bytes each instead of a Python string. The newest ones sit in a
set; every `seal_at` of them, and whenever the partition is snapshotted, they are sealed into a sorted
array (a piece), and pieces whose events fall in the same stretch of event time (an eighth of the
horizon) are merged into one group. A batch is looked up in every group with one vectorised search. A
group is forgotten once its newest event is older than the horizon behind the watermark: an id is
remembered at least `horizon_ms` of event time, and at most an eighth longer.

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
_xxh3 = xxhash.xxh3_64_intdigest


def hash_id(event_id: str) -> int:
    """The id's 64-bit hash: stable across processes and versions (Python's hash() is not)."""
    return _xxh3(event_id.encode())


@dataclass
class Piece:
    """Ids sealed together: sorted, with the newest occurred_at among them and a number for snapshots."""

    number: int
    max_ts: int
    hashes: Hashes

    def encode(self) -> bytes:
        return b"SDD1" + self.max_ts.to_bytes(8, "big", signed=True) + self.hashes.astype("<u8").tobytes()

    @classmethod
    def decode(cls, number: int, raw: bytes) -> Piece:
        if raw[:4] != b"SDD1" or (len(raw) - 12) % 8:
            raise ValueError("not a dedupe piece")
        hashes = np.frombuffer(raw, dtype="<u8", offset=12).astype(np.uint64)
        return cls(number, int.from_bytes(raw[4:12], "big", signed=True), hashes)


@dataclass
class _Group:
    max_ts: int
    hashes: Hashes
    pieces: list[int] = field(default_factory=list)


class Dedupe:
    def __init__(self, horizon_ms: int, seal_at: int = 16_384, max_ids: int = 30_000_000) -> None:
        self.horizon_ms = horizon_ms
        self.seal_at = seal_at
        self.max_ids = max_ids  # 240 MB of hashes at most, whatever the horizon and the rate
        self.watermark = 0
        self.recent: set[int] = set()
        self._recent_max_ts = 0
        self._groups: dict[int, _Group] = {}  # stretch of event time -> its pieces, merged
        self._next_piece = 0
        self.unsaved: list[Piece] = []  # sealed since the last snapshot took them
        self.dropped: list[int] = []  # piece numbers forgotten since the last snapshot took them

    def __len__(self) -> int:
        return len(self.recent) + sum(len(g.hashes) for g in self._groups.values())

    def known(self, hashes: list[int]) -> list[bool]:
        """Which of `hashes` are in a sealed piece (the recent set is asked one by one, in order)."""
        if not self._groups or not hashes:
            return [False] * len(hashes)
        wanted = np.array(hashes, dtype=np.uint64)
        found = np.zeros(len(hashes), dtype=bool)
        for group in self._groups.values():
            at = np.searchsorted(group.hashes, wanted)
            at[at == len(group.hashes)] = 0
            found |= group.hashes[at] == wanted
        return [bool(x) for x in found]

    def first_time(self, hashed: int, occurred_at: int, known: bool) -> bool:
        """True the first time an id is seen within the horizon (`known`: found by `known()`); records it."""
        recent = self.recent
        if known or hashed in recent:
            return False
        recent.add(hashed)
        if occurred_at > self._recent_max_ts:
            self._recent_max_ts = occurred_at
            if occurred_at > self.watermark:
                self.watermark = occurred_at
        if len(recent) >= self.seal_at:
            self.seal()
        return True

    def seal(self) -> None:
        """Move the recent ids into a piece, and forget groups that fell behind the horizon."""
        if self.recent:
            piece = Piece(self._next_piece, self._recent_max_ts,
                          np.sort(np.fromiter(self.recent, dtype=np.uint64, count=len(self.recent))))
            self._next_piece += 1
            self.recent = set()
            self._recent_max_ts = 0
            self._add(piece)
            self.unsaved.append(piece)
        self._forget()

    def restore(self, pieces: list[Piece], watermark: int) -> None:
        """The memory a snapshot saved: its pieces (the recent set was empty when it was taken)."""
        self.watermark = watermark
        for piece in sorted(pieces, key=lambda p: p.number):
            self._add(piece)
            self._next_piece = max(self._next_piece, piece.number + 1)
        self._forget()
        self.dropped.clear()  # pieces forgotten now were never in memory: their snapshot keys stay correct

    def _add(self, piece: Piece) -> None:
        stretch = piece.max_ts // max(1, self.horizon_ms // 8)
        group = self._groups.get(stretch)
        if group is None:
            self._groups[stretch] = _Group(piece.max_ts, piece.hashes, [piece.number])
        else:
            # Both sorted: insert at the found places, O(n + m) (union1d sorted the whole group again each
            # time: a quarter of a busy worker's time). An id is never in two pieces of one memory (a known
            # one is not recorded again), but a restored snapshot may repeat one: keep the group unique.
            merged = np.insert(group.hashes, np.searchsorted(group.hashes, piece.hashes), piece.hashes)
            if len(merged) > 1 and not bool(np.all(merged[1:] != merged[:-1])):
                merged = np.unique(merged)
            group.hashes = merged
            group.max_ts = max(group.max_ts, piece.max_ts)
            group.pieces.append(piece.number)

    def _forget(self) -> None:
        oldest = self.watermark - self.horizon_ms
        for stretch in sorted(self._groups):
            group = self._groups[stretch]
            if group.max_ts >= oldest and len(self) <= self.max_ids:
                continue
            del self._groups[stretch]
            self.dropped.extend(group.pieces)
            self.unsaved = [p for p in self.unsaved if p.number not in group.pieces]

    def pieces_in_use(self) -> list[int]:
        return sorted(n for group in self._groups.values() for n in group.pieces)

    def take_changes(self) -> tuple[list[Piece], list[int]]:
        """For a snapshot: the pieces to write and the piece numbers to delete since the last one."""
        self.seal()
        unsaved, dropped = self.unsaved, self.dropped
        self.unsaved, self.dropped = [], []
        return unsaved, dropped

