"""Merchant homes when `orders` grows: a record lands where its producer's partitioner put it under the
count of that moment (8, 12, 16 ...); merchants stay homed on the count the topics were created with, so
an order sent before a growth and its redelivery after it meet in one partition and count once."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from stream.core.partition import PartitionState
from stream.core.record import Record
from stream.core.routing import Homes, partition_for
from stream.core.rules import Rules
from tests.support.core import day_totals
from tests.support.orders import NOON, order_event

CREATED_WITH = 8


def count_all(sent: list[tuple[dict[str, Any], int]], homes: Homes, partitions: int) -> tuple[int, int]:
    """Each (event, topic size when it was sent) lands in the partition a murmur2 producer picks for its
    merchant; every partition is counted, reroutes appended to their home as the worker writes them.
    Returns (orders, gross cents) over all partitions."""
    logs: dict[int, list[bytes]] = {p: [] for p in range(partitions)}
    for event, size in sent:
        logs[partition_for(event["merchant_id"].encode(), size)].append(orjson.dumps(event))
    states = {p: PartitionState(p, Rules(), homes) for p in range(partitions)}
    read = dict.fromkeys(logs, 0)
    while any(read[p] < len(logs[p]) for p in logs):  # until no reroute is left unread
        for p, log in logs.items():
            batch = [Record(offset, raw) for offset, raw in enumerate(log) if offset >= read[p]]
            read[p] = len(log)
            if batch:
                for record, home, _ in states[p].apply_batch(batch, NOON).rerouted:
                    logs[home].append(record.value())
    totals = [day_totals(state) for state in states.values()]
    return sum(t[0] for t in totals), sum(t[1] for t in totals)


events = st.lists(st.tuples(st.integers(0, 400), st.integers(1, 9_999)), min_size=1, max_size=40)


@settings(max_examples=60, deadline=None)
@given(events, st.data())
def test_an_order_and_its_redeliveries_across_growths_count_once(
    drawn: list[tuple[int, int]], data: st.DataObject
) -> None:
    growths = [8, 12, 16]
    sent = []
    for n, cents in drawn:
        event = order_event(merchant_id=f"m{n:05d}", total_minor=cents, occurred_at=NOON + n)
        # Each copy (the first and up to two redeliveries) is sent at some growth stage, in order.
        stages = sorted(data.draw(st.lists(st.sampled_from(growths), min_size=1, max_size=3)))
        sent.extend((event, size) for size in stages)
    sent.sort(key=lambda item: item[1])  # the topic only grows: later stages come later
    want = {e["event_id"]: e["total_minor"] for e, _ in sent}
    assert count_all(sent, Homes(CREATED_WITH), 16) == (len(want), sum(want.values()))


@given(st.text(min_size=1, max_size=12), st.integers(CREATED_WITH, 64))
def test_a_merchants_home_is_one_of_the_first_partitions_however_far_the_topic_grew(
    merchant: str, grown_to: int
) -> None:
    home = Homes(CREATED_WITH)[merchant]
    assert home == partition_for(merchant.encode(), CREATED_WITH) < CREATED_WITH
    # Where a producer puts the merchant after the growth is another partition as often as not: the
    # worker reroutes from there.
    assert 0 <= partition_for(merchant.encode(), grown_to) < grown_to


def test_homes_that_followed_the_grown_count_would_count_a_redelivery_twice() -> None:
    """Why the home count never changes: a merchant whose home under 8 partitions differs from its home
    under 12 would have its dedupe memory in two places."""
    merchant = next(m for m in (f"m{i:05d}" for i in range(100))
                    if partition_for(m.encode(), 8) != partition_for(m.encode(), 12))
    event = order_event(merchant_id=merchant, total_minor=1_000)
    sent = [(event, 8), (event, 12)]
    assert count_all(sent, Homes(CREATED_WITH), 12) == (1, 1_000)
    before = PartitionState(partition_for(merchant.encode(), 8), Rules(), Homes(8))
    after = PartitionState(partition_for(merchant.encode(), 12), Rules(), Homes(12))
    before.apply(0, orjson.dumps(event), NOON)
    after.apply(0, orjson.dumps(event), NOON)
    assert day_totals(before)[0] + day_totals(after)[0] == 2
