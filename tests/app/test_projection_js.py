"""The page's projection (static/projection.js, run by Node) gives the very cents app/projection.py
gives, for the same inputs of every shape: the page and /api/snapshot never disagree."""

from __future__ import annotations

import shutil
import subprocess

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.projection import project
from tests.support.inprocess import ROOT

NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="needs Node.js to run the page's module")
# Reads [[so_far, done, whole], ...] on stdin, prints project() of each (argv[1]: the module's URL).
RUN = """import {readFileSync} from 'fs';
const {project} = await import(process.argv[1]);
const cases = JSON.parse(readFileSync(0, 'utf8'));
console.log(JSON.stringify(cases.map(([s, d, w]) => project(s, d, w))));"""

money = st.integers(-(10**13), 10**13)  # safe integers in JavaScript, as cents on the page are
small = st.tuples(money, st.integers(0, 10**6), st.integers(1, 10**6))  # compare days of a few dollars
inputs = st.lists(st.tuples(money, money, money) | small, min_size=1, max_size=200)


def _in_node(cases: list[tuple[int, int, int]]) -> list[dict[str, int] | None]:
    done = subprocess.run([str(NODE), "--input-type=module", "-e", RUN,
                           (ROOT / "static" / "projection.js").as_uri()],
                          input=orjson.dumps(cases), capture_output=True, timeout=30, check=True)
    result: list[dict[str, int] | None] = orjson.loads(done.stdout)
    return result


@settings(max_examples=25, deadline=None)
@given(inputs)
def test_the_page_projects_the_same_cents_as_the_app(cases: list[tuple[int, int, int]]) -> None:
    want = [None if (p := project(*case)) is None else p.as_dict() for case in cases]
    assert _in_node(cases) == want


def test_a_worked_example_in_the_page() -> None:
    # s = 1/2: 1000 / (21/40) = 1904.76… down, 1000 / (19/40) = 2105.26… up (tests/app/test_projection.py)
    assert _in_node([(1_000, 5_000_000, 10_000_000), (1_000, 0, 10)]) == [
        {"so_far_cents": 1_000, "projected_cents": 2_000, "low_cents": 1_904, "high_cents": 2_106,
         "share_ppm": 500_000}, None]
