"""Faults mixed into the stream, without Kafka: where duplicates, late and malformed messages land."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import orjson

from loadgen.catalog import Catalog
from loadgen.faults import Faults
from loadgen.model import Model
from loadgen.producer import Outgoing
from loadgen.traffic import Traffic
from loadgen.truth import Truth
from stream.core.order import InvalidOrder, parse_order
from tests.support.truth import by_minute, decode_valid, tally

MIDNIGHT = 1_764_288_000_000  # 2025-11-28T00:00:00Z


class Collect:
    def __init__(self) -> None:
        self.messages: list[Outgoing] = []

    def send_all(self, messages: Iterable[Outgoing]) -> None:
        self.messages.extend(messages)


def night_traffic(faults: Faults, truth: Truth | None = None) -> tuple[Collect, list[int]]:
    """A quiet night: an event every 20 s, in batches, as a backfill sends them."""
    sink = Collect()
    traffic = Traffic(Model(Catalog(3, 300), 3), sink, faults, truth, earliest_ms=MIDNIGHT)
    times = [MIDNIGHT + 20_000 * i for i in range(3000)]
    for start in range(0, len(times), 500):
        traffic.emit(times[start : start + 500])
    traffic.finish()
    return sink, times


def reason(value: bytes) -> str | None:
    """Why the worker would reject this message; None if it is a valid order."""
    try:
        parse_order(value, MIDNIGHT + 86_400_000, 300_000)
    except InvalidOrder as exc:
        return exc.reason
    return None


def test_without_faults_each_time_makes_one_event_stamped_with_it() -> None:
    sink, times = night_traffic(Faults(3))
    assert [timestamp for _, _, timestamp in sink.messages] == times
    assert all(orjson.loads(value)["occurred_at"] == t for value, _, t in sink.messages)


def test_a_duplicate_is_the_same_message_again_seconds_later_in_the_stream() -> None:
    sink, _ = night_traffic(Faults(3, dup_rate=0.1))
    first_seen: dict[bytes, int] = {}
    again = 0
    for position, message in enumerate(sink.messages):
        value, _, timestamp = message
        if value not in first_seen:
            first_seen[value] = position
            continue
        again += 1
        original = sink.messages[first_seen[value]]
        assert message == original  # bytes, key and timestamp
        stream_time = max(t for _, _, t in sink.messages[: position + 1])
        assert stream_time - timestamp <= 10_000 + 20_000  # within 10 s, or with the next event after that
    assert 200 < again < 400


def test_a_late_event_lags_the_stream_but_stays_in_the_day() -> None:
    sink, times = night_traffic(Faults(3, late_rate=0.2, late_max_s=600))
    lags = [stream - t for (_, _, t), stream in zip(sink.messages, times, strict=True)]
    late = [lag for lag in lags if lag]
    assert 450 < len(late) < 750
    assert all(1000 <= lag <= 600_000 for lag in late)
    assert min(t for _, _, t in sink.messages) == MIDNIGHT  # held at midnight, not pushed into yesterday


def test_a_malformed_message_is_stamped_with_the_stream_time() -> None:
    sink, times = night_traffic(Faults(3, bad_rate=0.1))
    bad = [(value, t) for value, _, t in sink.messages if reason(value)]
    assert 200 < len(bad) < 400
    assert {t for _, t in bad} <= set(times)


def test_the_truth_is_the_valid_messages_sent_each_counted_once() -> None:
    truth = Truth()
    sink, _ = night_traffic(Faults(3, dup_rate=0.05, late_rate=0.1, bad_rate=0.05), truth)
    events = decode_valid([value for value, _, _ in sink.messages if not reason(value)])
    totals, minutes = tally(events)
    day = truth.days()["2025-11-28"]
    assert day["totals"] == totals
    assert by_minute(day) == minutes
    rejected = Counter(why for value, _, _ in sink.messages if (why := reason(value)))
    assert truth.document({})["counts"]["rejected"] == dict(rejected)

