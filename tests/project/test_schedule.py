"""The test files start longest first, whole and each in its own order, so two workers finish together."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from tests.support.schedule import UNKNOWN_S, file_of, longest_first, measured


@dataclass(frozen=True)
class Case:
    nodeid: str


FILES = [f"tests/x/test_{c}.py" for c in "abcdef"]
suites = st.lists(st.tuples(st.sampled_from(FILES), st.integers(0, 5)), max_size=40).map(
    lambda picks: [Case(f"{name}::test_{i}_{n}") for i, (name, n) in enumerate(picks)])
timings = st.dictionaries(st.sampled_from(FILES), st.floats(0, 500), max_size=6)


@given(suites, timings)
def test_every_test_runs_once_and_each_file_keeps_its_own_order(items: list[Case],
                                                                 seconds: dict[str, float]) -> None:
    ordered = longest_first(items, seconds)
    assert sorted(t.nodeid for t in ordered) == sorted(t.nodeid for t in items)
    for name in FILES:
        def of(cases: list[Case], name: str = name) -> list[Case]:
            return [t for t in cases if file_of(t.nodeid) == name]
        assert of(ordered) == of(items)


@given(suites, timings)
def test_files_come_whole_and_longest_first(items: list[Case], seconds: dict[str, float]) -> None:
    ordered = [file_of(t.nodeid) for t in longest_first(items, seconds)]
    runs = [name for i, name in enumerate(ordered) if i == 0 or ordered[i - 1] != name]
    assert len(runs) == len(set(runs))  # no file is split
    expected = [seconds.get(n, UNKNOWN_S * ordered.count(n)) for n in runs]
    assert expected == sorted(expected, reverse=True)


def test_the_rolling_deploy_starts_before_a_quick_file() -> None:
    items = [Case("tests/app/test_quick.py::test_one"), Case("tests/e2e/test_failover.py::test_rolling")]
    ordered = longest_first(items, {"tests/e2e/test_failover.py": 400.0})
    assert [t.nodeid for t in ordered] == ["tests/e2e/test_failover.py::test_rolling",
                                          "tests/app/test_quick.py::test_one"]


def test_a_missing_or_broken_durations_file_orders_by_test_count(tmp_path: Path) -> None:
    broken = tmp_path / "durations.json"
    broken.write_text("{not json")
    assert measured(tmp_path / "absent.json") == {} and measured(broken) == {}
    items = [Case("tests/a.py::t1"), Case("tests/b.py::t1"), Case("tests/b.py::t2")]
    ordered = [t.nodeid for t in longest_first(items, {})]
    assert ordered == ["tests/b.py::t1", "tests/b.py::t2", "tests/a.py::t1"]
