"""The day archive: one UTC day's raw `orders` records in a file, so a day outlives Kafka's retention.

gzip-compressed JSON Lines (`zcat FILE | head` shows it):

    {"format": "salesdash-day", "version": 1, "day": "2025-11-28", "topic": "orders", "partitions": 8}
    {"p": 3, "o": 1200, "t": 1764288000123, "k": "bTAwMDE3", "v": "eyJldmVudF9pZCI6Ii4uLiJ9"}
    ...
    {"end": true, "records": 21588, "sha256": "9f2c...", "totals": {...}}

A line per record, partition by partition, each in log order: partition, original offset, Kafka timestamp, key
and value in base64 (malformed bytes survive exactly), and headers if it had any (`"h": [[name, base64]]`).
The end line counts the records and holds the SHA-256 of all record lines: a file cut short, edited or
damaged is refused whole, before anything is written back. The file is written as FILE.partial and
renamed when complete, so FILE is never half-written.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import os
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from stream.core.eventtime import parse_day

FORMAT = "salesdash-day"
VERSION = 1
COMPRESSLEVEL = 3  # ~3x faster than gzip's default 6, files ~10% larger


class ArchiveError(ValueError):
    """The file is not a complete, intact day archive; the message is one line for the user."""


@dataclass(frozen=True, slots=True)
class Entry:
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] | None


@dataclass(frozen=True)
class Header:
    day: str
    topic: str
    partitions: int
    records: int  # from the end line
    facts: dict[str, Any]  # the end line's other facts (the day's totals)


class ArchiveWriter:
    def __init__(self, path: Path, day: str, topic: str, partitions: int) -> None:
        self.path = path
        self.partial = path.with_name(path.name + ".partial")
        self.records = 0
        self._hash = hashlib.sha256()
        self._raw = self.partial.open("wb")  # closed by commit or discard
        # The final name, and no time, in the gzip header: the same day exported twice is the same bytes.
        self._file = gzip.GzipFile(path.name, "wb", COMPRESSLEVEL, self._raw, mtime=0)
        header = {"format": FORMAT, "version": VERSION, "day": day, "topic": topic, "partitions": partitions}
        self._file.write(orjson.dumps(header) + b"\n")

    def add(self, record: Any) -> None:
        """Append a confluent-kafka Message (or anything with its accessors)."""
        self.add_line(line(record))

    def add_line(self, line: bytes) -> None:
        """Append a record line made by `line`."""
        self._hash.update(line)
        self._file.write(line)
        self.records += 1

    def commit(self, **facts: Any) -> Path:
        self._file.write(orjson.dumps({"end": True, "records": self.records, "sha256": self._hash.hexdigest(),
                                       **facts}) + b"\n")
        self._file.close()
        self._raw.close()
        os.replace(self.partial, self.path)
        return self.path

    def discard(self) -> None:
        self._file.close()
        self._raw.close()
        self.partial.unlink(missing_ok=True)


def line(record: Any) -> bytes:
    """A record's line in the archive: a confluent-kafka Message (or anything with its accessors)."""
    return fields_line(record.partition(), record.offset(), record.timestamp()[1], record.key(),
                       record.value(), record.headers())


def fields_line(partition: int, offset: int, timestamp: int, key: bytes | None, value: bytes | None,
                headers: Sequence[tuple[str, bytes | None]] | None) -> bytes:
    """A record's line in the archive, from its fields."""
    doc: dict[str, Any] = {"p": partition, "o": offset, "t": timestamp, "k": _text(key), "v": _text(value)}
    if headers:
        doc["h"] = [[name, _text(raw)] for name, raw in headers]
    return orjson.dumps(doc) + b"\n"


def parse(line: bytes) -> Entry:
    """A record line back (one this program wrote)."""
    return _entry(orjson.loads(line), 0)


def verify(path: Path, on_progress: Callable[[int], None] | None = None) -> Header:
    """Read the whole file and check every line, the count and the checksum; ArchiveError if anything is
    off. `on_progress(records so far)` is called every 100,000 records."""
    digest, count, end = hashlib.sha256(), 0, None
    try:
        with gzip.open(path, "rb") as file:
            first = _header(file.readline())
            start, stop = parse_day(first["day"])
            for line in file:
                if end is not None:
                    raise ArchiveError(f"{path}: data after the end line")
                doc = _json(line, count + 2)
                if "end" in doc:
                    end = doc
                    continue
                entry = _entry(doc, count + 2)
                if not start <= entry.timestamp < stop or entry.partition >= first["partitions"]:
                    raise ArchiveError(f"{path}: line {count + 2} is not a record of {first['day']} "
                                       f"in {first['partitions']} partitions")
                digest.update(line)
                count += 1
                if on_progress is not None and count % 100_000 == 0:
                    on_progress(count)
    except (OSError, EOFError, zlib.error) as exc:  # not gzip, cut short, or damaged (CRC)
        raise ArchiveError(f"{path} is damaged or not a gzip file: {exc}") from None
    if end is None:
        raise ArchiveError(f"{path} is cut short: it has no end line")
    if end.get("records") != count:
        raise ArchiveError(f"{path} holds {count} records but its end line says {end.get('records')}")
    if end.get("sha256") != digest.hexdigest():
        raise ArchiveError(f"{path} fails its checksum: a record was changed")
    facts = {k: v for k, v in end.items() if k not in ("end", "records", "sha256")}
    return Header(first["day"], first["topic"], first["partitions"], count, facts)


def entries(path: Path) -> Iterator[Entry]:
    """The records of a file `verify` accepted."""
    with gzip.open(path, "rb") as file:
        file.readline()
        for number, line in enumerate(file, start=2):
            doc = orjson.loads(line)
            if "end" not in doc:
                yield _entry(doc, number)


def _header(line: bytes) -> dict[str, Any]:
    doc = _json(line, 1)
    if doc.get("format") != FORMAT:
        raise ArchiveError(f"not a salesdash day archive (its first line has no \"format\": \"{FORMAT}\")")
    if doc.get("version") != VERSION:
        raise ArchiveError(f"archive version {doc.get('version')!r} is not supported (only {VERSION})")
    day, topic, partitions = doc.get("day"), doc.get("topic"), doc.get("partitions")
    if not (isinstance(day, str) and isinstance(topic, str) and type(partitions) is int and partitions > 0):
        raise ArchiveError("the archive's first line lacks its day, topic or partition count")
    try:
        parse_day(day)
    except ValueError as exc:
        raise ArchiveError(f"the archive's day: {exc}") from None
    return doc


def _json(line: bytes, number: int) -> dict[str, Any]:
    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError:
        raise ArchiveError(f"line {number} is not JSON") from None
    if not isinstance(doc, dict):
        raise ArchiveError(f"line {number} is not a JSON object")
    return doc


def _entry(doc: dict[str, Any], number: int) -> Entry:
    try:
        partition, offset, timestamp = doc["p"], doc["o"], doc["t"]
        if not (type(partition) is int and type(offset) is int and type(timestamp) is int and partition >= 0):
            raise TypeError
        headers = doc.get("h")
        if headers is not None:
            headers = [(str(name), _bytes(value) or b"") for name, value in headers]
        return Entry(partition, offset, timestamp, _bytes(doc["k"]), _bytes(doc["v"]), headers)
    except (KeyError, TypeError, ValueError, binascii.Error):
        raise ArchiveError(f"line {number} is not a well-formed record") from None


def _text(raw: bytes | None) -> str | None:
    return None if raw is None else base64.b64encode(raw).decode()


def _bytes(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text, validate=True)
