"""Send a file of events as-is, one JSON document per line — malformed lines too: that is how the
dead-letter path is tested. Key and Kafka timestamp come from the event when it has them."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import orjson

from loadgen.producer import Outgoing, Sender
from loadgen.stop import Stop

BATCH = 1000


def send_file(sender: Sender, path: Path, stop: Stop) -> int:
    """Returns the number of lines sent."""
    stream = sys.stdin.buffer if str(path) == "-" else path.open("rb")
    lines = 0
    batch: list[Outgoing] = []
    with stream:
        for message in _messages(stream):
            batch.append(message)
            if len(batch) >= BATCH:
                sender.send_all(batch)
                lines += len(batch)
                batch = []
                if stop.requested:
                    return lines
    sender.send_all(batch)
    return lines + len(batch)


def _messages(stream: Iterator[bytes]) -> Iterator[Outgoing]:
    for line in stream:
        value = line.rstrip(b"\r\n")
        if not value:
            continue
        key, timestamp = None, 0
        try:
            doc = orjson.loads(value)
        except orjson.JSONDecodeError:
            doc = None  # malformed on purpose: sent as-is for the worker to dead-letter
        if isinstance(doc, dict):
            if isinstance(doc.get("merchant_id"), str):
                key = doc["merchant_id"].encode()
            if type(doc.get("occurred_at")) is int and doc["occurred_at"] > 0:
                timestamp = doc["occurred_at"]
        yield value, key, timestamp
