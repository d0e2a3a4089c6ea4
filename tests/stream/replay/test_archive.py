"""The day archive file: what goes in comes out byte for byte, and a damaged file is refused whole."""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import pytest

from stream.core.eventtime import parse_day
from stream.replay.archive import ArchiveError, ArchiveWriter, entries, verify

DAY = "2025-11-28"
START = parse_day(DAY)[0]


@dataclass
class Record:
    p: int
    o: int
    ts: int
    k: bytes | None
    v: bytes | None
    h: list[tuple[str, bytes]] | None = None

    def partition(self) -> int:
        return self.p

    def offset(self) -> int:
        return self.o

    def timestamp(self) -> tuple[int, int]:
        return 1, self.ts

    def key(self) -> bytes | None:
        return self.k

    def value(self) -> bytes | None:
        return self.v

    def headers(self) -> list[tuple[str, bytes]] | None:
        return self.h


RECORDS = [
    Record(0, 10, START + 1, b"m00001", b'{"event_id":"e1"}'),
    Record(1, 3, START + 2, b"m00002", b'{"merchant_name":"\xff\xfe"}'),  # not UTF-8: kept as bytes
    Record(1, 4, START + 3, None, None),  # a tombstone without a key
    Record(0, 11, START + 4, b"m00001", b"{trunc", [("trace", b"\x00\x01")]),
]


def archive(path: Path, records: list[Record] = RECORDS) -> Path:
    writer = ArchiveWriter(path, DAY, "orders", 2)
    for record in records:
        writer.add(record)
    return writer.commit(totals={"orders": 1})


def test_every_record_comes_back_byte_for_byte_with_its_partition_offset_and_time(tmp_path: Path) -> None:
    path = archive(tmp_path / "day.jsonl.gz")
    header = verify(path)
    assert (header.day, header.topic, header.partitions, header.records) == (DAY, "orders", 2, 4)
    assert header.facts == {"totals": {"orders": 1}}
    back = [(e.partition, e.offset, e.timestamp, e.key, e.value, e.headers) for e in entries(path)]
    assert back == [(r.p, r.o, r.ts, r.k, r.v, r.h) for r in RECORDS]
    assert not (tmp_path / "day.jsonl.gz.partial").exists()


def test_a_discarded_export_leaves_no_file_behind(tmp_path: Path) -> None:
    writer = ArchiveWriter(tmp_path / "day.jsonl.gz", DAY, "orders", 2)
    writer.add(RECORDS[0])
    writer.discard()
    assert list(tmp_path.iterdir()) == []


def _lines(path: Path) -> list[bytes]:
    return gzip.decompress(path.read_bytes()).splitlines(keepends=True)


def _rewrite(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(gzip.compress(b"".join(lines)))


def _insert(path: Path, line: bytes) -> None:
    lines = _lines(path)
    _rewrite(path, [lines[0], line + b"\n", *lines[1:]])


def _flip_a_bit(path: Path) -> None:
    # In the gzip trailer's CRC-32: a flip inside the deflate stream can, rarely, leave the data unchanged.
    raw = bytearray(path.read_bytes())
    raw[-8] ^= 0x10
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize(
    ("damage", "says"),
    [
        (lambda p: p.write_bytes(p.read_bytes()[:-40]), "damaged or not a gzip file"),  # cut mid-stream
        (_flip_a_bit, "damaged or not a gzip file"),
        (lambda p: p.write_text("hello"), "damaged or not a gzip file"),
        (lambda p: _rewrite(p, _lines(p)[:-1]), "cut short"),  # recompressed without its end line
        (lambda p: _rewrite(p, _lines(p)[:2] + _lines(p)[3:]), "holds 3 records but its end line says 4"),
        (lambda p: _rewrite(p, [line.replace(b"bTAwMDAx", b"bTAwMDA5") for line in _lines(p)]), "checksum"),
        (lambda p: _rewrite(p, [*_lines(p), b'{"p":0}\n']), "data after the end line"),
        (lambda p: _rewrite(p, [b'{"format":"other","version":1}\n', *_lines(p)[1:]]), "not a salesdash day"),
        (lambda p: _rewrite(p, [_lines(p)[0].replace(b'"version":1', b'"version":9'), *_lines(p)[1:]]),
         "version 9"),
        (lambda p: _insert(p, b'{"p":0,"o":1,"t":"noon","k":null,"v":null}'), "line 2 is not a well-formed"),
        (lambda p: _insert(p, b'{"p":0,"o":1,"t":5,"k":null,"v":"!!"}'), "line 2 is not a well-formed"),
        (lambda p: _insert(p, b'{"p":0,"o":1,"t":5,"k":null,"v":null}'), "not a record of 2025-11-28"),
    ],
)
def test_a_damaged_file_is_refused_with_one_line_before_anything_is_read_back(
    tmp_path: Path, damage, says: str  # type: ignore[no-untyped-def]
) -> None:
    path = archive(tmp_path / "day.jsonl.gz")
    damage(path)
    with pytest.raises(ArchiveError, match=says) as refused:
        verify(path)
    assert "\n" not in str(refused.value)
