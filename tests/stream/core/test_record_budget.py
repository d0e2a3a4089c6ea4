"""No record a worker writes may exceed the broker's message limit (issue 19, finding 4): every record of
a checkpoint's `parts()` and of a snapshot stays within the core's budget however hostile the partition
(ids at the 256-character limit, many days, merchants, products, minutes, seconds, countries), and a
reader folding the parts (compacting past days between any two of them) sees what the one big record
would have shown."""

from __future__ import annotations

import string
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stream.core.budget import RECORD_BUDGET
from stream.core.checkpoint import Checkpoint, link
from stream.core.partition import PartitionState, Range
from stream.core.record import Record
from stream.core.rules import Rules
from stream.core.salesview import SalesView
from tests.support.core import snapshot_of
from tests.support.orders import NOON, order_event, past_days

DAY_MS = 86_400_000
DAY_END = NOON + DAY_MS // 2  # the end of 2026-11-27, the newest day of every partition below
NOW = DAY_END + 60_000
RULES = Rules()
COUNTRIES = [a + b for a in string.ascii_uppercase for b in string.ascii_uppercase]
SETTINGS = settings(max_examples=16, derandomize=True, database=None, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
# Characters that cost the most bytes: \u0001 is written as six ("\u0001"), 𝔐 is four in UTF-8.
alphabets = st.sampled_from(["\x01", "𝔐", "商", '"', "é"])


def longest(char: str, n: int) -> str:
    """A distinct text of exactly 256 characters (the longest the order schema allows)."""
    suffix = f"{n:06d}"
    return char * (256 - len(suffix)) + suffix


@st.composite
def partitions(draw: st.DrawFn) -> list[dict[str, Any]]:
    """A partition's orders in event-time order: sparse past days, then one day as full as it gets (every
    minute and every second of the horizon, every country, twelve merchants of twelve products)."""
    char = draw(alphabets)
    merchants = draw(st.integers(1, 14))
    products = draw(st.one_of(st.just(12), st.integers(1, 12)))
    count = draw(st.one_of(st.integers(0, 3), st.integers(20, 60)))  # a few days, or more than fit
    days = draw(st.lists(st.integers(1, 9_000), min_size=count, max_size=count, unique=True))
    lines = [{"sku": longest(char, j), "title": longest(char, j), "qty": 1, "price_minor": 100 + j}
             for j in range(products)]
    events = []
    for back in sorted(days, reverse=True):  # each past day with its top tens as long as they get
        for k in range(draw(st.integers(1, 3))):
            events.append(order_event(occurred_at=NOON - back * DAY_MS + k, merchant_id=longest(char, k),
                                      merchant_name=longest(char, k), customer_id=longest(char, back),
                                      lines=lines))
    start = DAY_END - DAY_MS
    times = [start + m * 60_000 for m in range(1_440)] + [DAY_END - s * 1_000 for s in range(900, 0, -1)]
    for i, ts in enumerate(sorted(times)):
        merchant = i % merchants
        events.append(order_event(
            occurred_at=ts, merchant_id=longest(char, merchant), merchant_name=longest(char, merchant),
            country=COUNTRIES[i % len(COUNTRIES)], channel=["online", "pos", "mobile", "social"][i % 4],
            customer_id=f"c{i}", total_minor=(100 + i) * (1 if i >= merchants else products),
            lines=lines if i < merchants else [{"sku": "s", "title": "t", "qty": 1, "price_minor": 100 + i}]))
    return events


def published(events: list[dict[str, Any]], cut: int) -> list[tuple[Checkpoint, PartitionState]]:
    """The checkpoints of counting `events` in two ranges, split at `cut`."""
    state = PartitionState(0, RULES)
    out = []
    for first, batch in ((0, events[:cut]), (cut, events[cut:])):
        state.apply_batch([Record(first + i, orjson.dumps(e)) for i, e in enumerate(batch)], NOW)
        record = state.checkpoint(NOW)
        if record is not None:
            out.append((record, state))
    return out


def figures(view: SalesView) -> dict[str, Any]:
    """What a reader shows of every day it knows, and where each partition's chain stands."""
    days = {name for ledger in view.ledgers.values() for name in ledger.days} | set(view.closed_days)
    shown = {name: {k: v for k, v in view.snapshot(name).items() if k != "ingest_rate"} for name in days}
    return {"days": shown, "ends": view.offsets(), "watermark": view.watermark()}


def folds_alike(records: list[Checkpoint], budget: int) -> None:
    whole, parted = SalesView(RULES), SalesView(RULES)
    for record in records:
        assert whole.apply(record.encode())
        whole.close_days(1)
        for part in record.parts(budget):
            assert parted.apply(part)
            parted.close_days(1)  # a reader may compact past days between any two parts
    assert figures(parted) == figures(whole)


@SETTINGS
@given(partitions(), st.floats(0, 1))
def test_every_record_of_a_hostile_partition_is_within_the_budget(events: list[dict[str, Any]],
                                                                  where: float) -> None:
    ranges = published(events, int(len(events) * where))
    for record, _ in ranges:
        sizes = [len(part) for part in record.parts()]
        assert max(sizes) <= RECORD_BUDGET, f"a part of {max(sizes)} bytes"
        assert len(sizes) == 1 or len(record.encode()) > RECORD_BUDGET  # split only what must be
    heads, tables = ranges[-1][1].snapshot(NOW, 0)
    assert max(len(value or b"") for _, value in [*heads, *tables]) <= RECORD_BUDGET
    folds_alike([record for record, _ in ranges], RECORD_BUDGET)


@SETTINGS
@given(partitions(), st.floats(0, 1), st.integers(2_000, 200_000))
def test_parts_of_any_size_fold_into_the_one_big_record(events: list[dict[str, Any]], where: float,
                                                        budget: int) -> None:
    # Small budgets cut the full day's minutes and seconds over several parts too.
    folds_alike([record for record, _ in published(events, int(len(events) * where))], budget)


def test_the_backlog_of_issue_19_is_written_in_parts_under_the_budget() -> None:
    backlog = past_days(400)
    ((record, _),) = published(backlog, len(backlog))
    assert len(record.encode()) > 9_000_000  # the 9.6 MB checkpoint the issue saw
    parts = record.parts()
    assert max(len(part) for part in parts) <= RECORD_BUDGET
    docs = [orjson.loads(part) for part in parts]
    # Only the last part covers the range, names the closed days and moves the watermark on.
    assert [(d["start"], d["end"]) for d in docs] == [(0, 0)] * (len(docs) - 1) + [(0, 400)]
    assert all("closed" not in d and d["wm"] == 0 for d in docs[:-1])
    assert docs[-1]["wm"] == backlog[-1]["occurred_at"] and len(docs[-1]["closed"]) == 399
    assert sorted(name for d in docs for name in d["days"]) == sorted(record.days)
    folds_alike([record], RECORD_BUDGET)


def test_leading_parts_carry_the_watermark_readers_hold() -> None:
    backlog = past_days(200)
    second = published(backlog, 100)[1][0]
    docs = [orjson.loads(part) for part in second.parts()]
    assert len(docs) > 1
    assert {d["wm"] for d in docs[:-1]} == {backlog[99]["occurred_at"]}
    assert docs[-1]["wm"] == backlog[-1]["occurred_at"]


def test_a_successor_recounts_a_chain_of_parts_exactly() -> None:
    log = [orjson.dumps(event) for event in past_days(300)]
    owner = PartitionState(0, RULES)
    chain: list[bytes] = []
    for first in (0, 100, 200):  # three ranges of 100 past days, each written in parts
        owner.apply_batch([Record(o, log[o]) for o in range(first, first + 100)], NOW)
        record = owner.checkpoint(NOW)
        assert record is not None
        chain += record.parts()
        if first == 0:
            taken = snapshot_of(owner)
    # What a recovery reads of the chain after the snapshot: the links of the parts, as stream.store does.
    after = [link(raw) for raw in chain if link(raw).start >= taken.state.end]
    assert len(after) > 2
    successor = PartitionState.restore(taken, RULES)
    successor.recount([Range(c.start, c.end, c.now, frozenset(c.skip)) for c in after],
                      (Record(o, log[o]) for o in range(taken.state.end, 300)))
    assert successor.end == owner.end == 300
    assert successor.watermark == successor.published_watermark == owner.watermark
    heads = snapshot_of(owner).heads
    assert len(heads) == 201  # days 99 to 298 closed since the snapshot, and day 299 open
    assert snapshot_of(successor).heads == heads
