"""The journal a stopped job resumes from: whatever moment it was killed at, what it gives back is its last
whole state and exactly the items before it."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from stream.jobs.journal import Journal

JOB = {"job": "test", "day": "2025-11-28"}
batches = st.lists(st.lists(st.binary(max_size=20).map(lambda b: b.hex().encode() + b"\n"), max_size=5),
                   min_size=1, max_size=6)


@given(batches=batches, cut=st.integers(min_value=0, max_value=10_000))
def test_a_journal_cut_anywhere_resumes_from_its_last_whole_state(
    tmp_path_factory: pytest.TempPathFactory, batches: list[list[bytes]], cut: int
) -> None:
    path = tmp_path_factory.mktemp("j") / "out.progress"
    journal = Journal(path, JOB)
    for n, items in enumerate(batches):
        journal.append(items, {"batch": n})
    journal.close()
    raw = path.read_bytes()
    header = raw.index(b"\n") + 1
    kept = raw[:max(header, len(raw) - cut)]  # killed while writing: the tail never reached the file
    path.write_bytes(kept)

    resumed = Journal(path, JOB)
    whole = [n for n in range(len(batches)) if len(_upto(batches, n)) <= len(kept)]
    if not whole:
        assert resumed.state is None and list(resumed.lines()) == []
        return
    last = whole[-1]
    assert resumed.state == {"batch": last}
    assert list(resumed.lines()) == [item for items in batches[:last + 1] for item in items]
    resumed.append([b"more\n"], {"batch": "next"})  # appends go after the last whole state
    resumed.close()
    again = Journal(path, JOB)
    assert again.state == {"batch": "next"}
    assert list(again.lines())[-1] == b"more\n"


def test_a_journal_of_another_job_or_restart_starts_afresh(tmp_path: Path) -> None:
    path = tmp_path / "out.progress"
    journal = Journal(path, JOB)
    journal.append([b"a\n"], {"n": 1})
    journal.close()
    assert Journal(path, {**JOB, "day": "2025-11-29"}).state is None
    Journal(path, JOB).close()  # the other job's journal replaced this one's
    assert Journal(path, JOB).state is None
    journal = Journal(path, JOB)
    journal.append([b"a\n"], {"n": 1})
    journal.close()
    assert Journal(path, JOB, restart=True).state is None


def _upto(batches: list[list[bytes]], n: int) -> bytes:
    """The file's bytes through batch n's state line."""
    out = orjson.dumps({"journal": JOB}) + b"\n"
    for i, items in enumerate(batches[:n + 1]):
        out += b"".join(items) + orjson.dumps({"state": {"batch": i}}) + b"\n"
    return out
