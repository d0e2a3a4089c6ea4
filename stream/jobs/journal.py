"""A job's progress in a file beside its output: an append-only journal of JSON lines.

The first line names the job (its identity: a journal of another job is not resumed). Then come the
job's items, each a line, and now and then a state line (`{"state": ...}`) saying how far the items
before it take the job. A job stopped at any moment — SIGTERM, kill -9 — leaves a journal whose last
state line is whole and true of the lines before it: on resume, what follows it (a line cut short, items
of a batch not finished) is cut off, and the job continues from that state.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import orjson


class Journal:
    def __init__(self, path: Path, identity: dict[str, Any], restart: bool = False) -> None:
        """Open the journal at `path` for the job `identity`; an existing one of the same job is resumed
        (`state` is its last state), anything else is started afresh. `restart`: always afresh."""
        self.path = path
        self.state: dict[str, Any] | None = None
        self.items = 0  # items up to the last state line
        end = None if restart else self._resume(identity)
        self._file: IO[bytes]
        if end is None:
            self._file = path.open("wb")
            self._file.write(orjson.dumps({"journal": identity}) + b"\n")
            self._file.flush()
        else:
            self._file = path.open("r+b")
            self._file.truncate(end)
            self._file.seek(end)

    def _resume(self, identity: dict[str, Any]) -> int | None:
        """The byte offset just past the last state line of a journal of this job, else None."""
        try:
            file = self.path.open("rb")
        except FileNotFoundError:
            return None
        with file:
            first = file.readline()
            try:
                if orjson.loads(first) != {"journal": identity}:
                    return None
            except orjson.JSONDecodeError:
                return None
            end, items, position = None, 0, len(first)
            for line in file:
                position += len(line)
                if not line.endswith(b"\n"):
                    break  # cut short by a kill
                if line.startswith(b'{"state":'):
                    self.state, self.items, end = orjson.loads(line)["state"], items, position
                else:
                    items += 1
        return end

    def lines(self) -> Iterator[bytes]:
        """The items up to the last state line (call before appending)."""
        with self.path.open("rb") as file:
            file.readline()
            n = 0
            for line in file:
                if n == self.items:
                    return
                if not line.startswith(b'{"state":'):
                    n += 1
                    yield line

    def append(self, items: list[bytes], state: dict[str, Any]) -> None:
        """Items (each one line, newline included), then the state they take the job to."""
        self._file.write(b"".join(items) + orjson.dumps({"state": state}) + b"\n")
        self._file.flush()  # in the kernel: a killed process loses nothing written here
        self.items += len(items)
        self.state = state

    def close(self) -> None:
        self._file.close()

    def remove(self) -> None:
        self._file.close()
        self.path.unlink(missing_ok=True)


def beside(output: Path) -> Path:
    """Where the journal of a job writing `output` is kept."""
    return output.with_name(output.name + ".progress")

