"""A record of a Kafka log as the core reads it: the accessors of a confluent-kafka Message, no client."""

from __future__ import annotations

from typing import NamedTuple, Protocol


class LogRecord(Protocol):
    """The parts of a consumed record that counting and replaying read."""

    def partition(self) -> int: ...
    def offset(self) -> int: ...
    def timestamp(self) -> tuple[int, int]: ...
    def value(self) -> bytes | None: ...


class Record(NamedTuple):
    """A record given by hand (tests, recounts): the same accessors as a consumed one."""

    at: int
    raw: bytes | None
    stamp: int = 0  # Kafka timestamp, ms; 0: none
    part: int = 0

    def partition(self) -> int:
        return self.part

    def offset(self) -> int:
        return self.at

    def timestamp(self) -> tuple[int, int]:
        return (1 if self.stamp else 0), self.stamp

    def value(self) -> bytes | None:
        return self.raw
