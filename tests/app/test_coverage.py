"""Which partitions of `orders` nobody counts: lag past the newest checkpoint, no progress for longer than
the session timeout, and a record found there (not only a transaction's commit marker)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from app.coverage import Coverage

TIMEOUT = 6.0


def overdue(coverage: Coverage, now: float, holds_record: bool) -> list[int]:
    """What the feed does each probe: look in each suspect's range, then ask who is uncounted."""
    for suspect in coverage.suspects(now):
        (coverage.confirm if holds_record else coverage.settle)(suspect)
    return coverage.uncounted(now)


def test_a_partition_added_and_never_checkpointed_is_uncounted_after_the_session_timeout() -> None:
    coverage = Coverage(TIMEOUT)
    marks = {0: (0, 50), 8: (0, 20), 9: (0, 0)}  # 9 was added too, but holds nothing to count
    coverage.observe(100.0, marks, {0: 50})
    assert coverage.lags() == {0: 0, 8: 20, 9: 0}
    assert overdue(coverage, 105.0, holds_record=True) == []  # within the timeout: a new owner may come
    coverage.observe(106.5, marks, {0: 50})
    assert overdue(coverage, 106.5, holds_record=True) == [8]


def test_checkpoint_progress_means_counted_however_much_is_still_behind() -> None:
    coverage = Coverage(TIMEOUT)
    for second in range(0, 60, 3):  # a busy partition: always behind, its end moving every probe
        coverage.observe(float(second), {0: (0, 1_000 + 100 * second)}, {0: 900 + 100 * second})
        assert overdue(coverage, float(second), holds_record=True) == []
    assert coverage.lags() == {0: 100}


def test_a_stalled_owner_is_uncounted_and_its_return_clears_it() -> None:
    coverage = Coverage(TIMEOUT)
    coverage.observe(0.0, {3: (0, 400)}, {3: 300})
    coverage.observe(7.0, {3: (0, 500)}, {3: 300})
    assert overdue(coverage, 7.0, holds_record=True) == [3]
    coverage.observe(8.0, {3: (0, 500)}, {3: 500})
    assert coverage.uncounted(8.0) == [] and coverage.lags() == {3: 0}


def test_a_trailing_commit_marker_is_not_a_record_nobody_counts() -> None:
    coverage = Coverage(TIMEOUT)
    coverage.observe(0.0, {2: (0, 41)}, {2: 40})  # offset 40 is the marker of the transaction before it
    assert coverage.lags() == {2: 1}
    assert overdue(coverage, 7.0, holds_record=False) == []
    coverage.observe(9.0, {2: (0, 41)}, {2: 40})
    assert coverage.lags() == {2: 0} and overdue(coverage, 20.0, holds_record=False) == []
    coverage.observe(21.0, {2: (0, 45)}, {2: 40})  # new records past the marker: lagging again
    assert coverage.lags() == {2: 5}
    assert overdue(coverage, 28.0, holds_record=True) == [2]


def test_an_answer_that_checkpoint_progress_overtook_is_dropped() -> None:
    coverage = Coverage(TIMEOUT)
    coverage.observe(0.0, {1: (0, 10)}, {1: 5})
    [suspect] = coverage.suspects(7.0)
    coverage.observe(7.5, {1: (0, 10)}, {1: 10})  # counted meanwhile
    coverage.confirm(suspect)
    assert coverage.uncounted(20.0) == []


def test_retention_moves_the_start_of_a_never_checkpointed_partition() -> None:
    coverage = Coverage(TIMEOUT)
    coverage.observe(0.0, {0: (70, 100)}, {})
    assert coverage.lags() == {0: 30}


@given(st.dictionaries(st.integers(0, 31), st.tuples(st.integers(0, 10_000), st.integers(0, 10_000)),
                       max_size=32),
       st.dictionaries(st.integers(0, 31), st.none() | st.integers(0, 10_000), max_size=32))
def test_every_partition_the_broker_reports_is_listed_with_a_lag_within_its_log(
    drawn: dict[int, tuple[int, int]], ends: dict[int, int | None]
) -> None:
    marks = {p: (min(a, b), max(a, b)) for p, (a, b) in drawn.items()}
    coverage = Coverage(TIMEOUT)
    coverage.observe(0.0, {p: (0, 1) for p in range(40)}, {})
    coverage.observe(1.0, marks, ends)
    lags = coverage.lags()
    assert set(lags) == set(marks)  # partitions the broker no longer reports are gone
    for p, (low, high) in marks.items():
        end = ends.get(p)
        assert 0 <= lags[p] <= high - low
        if end is None:
            assert lags[p] == high - low  # nothing checkpointed: the whole log waits
        elif end >= high:
            assert lags[p] == 0
