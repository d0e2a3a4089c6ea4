"""Faults to test the rest of the pipeline with: exact duplicates, late events, malformed messages.

Each kind of fault is decided per generated event with a random stream of its own, so turning faults
on or off leaves the orders unchanged, and how events are batched changes nothing. Every malformed
kind is one the worker must dead-letter with the reason code listed in KINDS (stream.orders decides;
tests/test_loadgen_faults.py pins the pairs).
"""

from __future__ import annotations

import random
from collections.abc import Callable

import orjson

from stream.core.order import MAX_EVENT_BYTES

# kind of malformed message -> the `reason` stream.orders rejects it with
KINDS: dict[str, str] = {
    "truncated_json": "invalid_json",
    "empty": "invalid_json",
    "not_utf8": "not_utf8",
    "json_array": "not_object",
    "missing_field": "missing_field",
    "amount_as_string": "wrong_type",
    "null_merchant": "wrong_type",
    "negative_amount": "bad_value",
    "unknown_channel": "bad_value",
    "absurd_amount": "absurd_amount",
    "unknown_currency": "unknown_currency",
    "far_future": "future_time",
    "seconds_not_ms": "too_old",
    "oversize": "oversize",
}
_FIELDS = ("event_id", "type", "order_id", "occurred_at", "merchant_id", "merchant_name", "country",
           "channel", "currency", "total_minor", "customer_id", "lines")
DUPLICATE_WITHIN_MS = 10_000  # a redelivery comes back within seconds of the stream's time (a retry)
MONTH_MS = 30 * 86_400_000


class Faults:
    def __init__(self, seed: int = 1, dup_rate: float = 0.0, late_rate: float = 0.0, late_max_s: float = 60.0,
                 bad_rate: float = 0.0) -> None:
        self._late = random.Random(f"{seed}:late")
        self._dup = random.Random(f"{seed}:duplicates")
        self._bad = random.Random(f"{seed}:malformed")
        self.dup_rate = dup_rate
        self.late_rate = late_rate
        self.late_max_ms = max(1000, int(late_max_s * 1000))
        self.bad_rate = bad_rate
        self.enabled = bool(dup_rate or late_rate or bad_rate)
        self._kinds = list(KINDS)

    def lateness(self) -> int:
        """How many ms behind the stream this event's occurred_at is: 0, or 1 s up to --late-max."""
        if self.late_rate and self._late.random() < self.late_rate:
            return self._late.randint(1000, self.late_max_ms)
        return 0

    def duplicate_after(self) -> int:
        """Re-send this event once the stream is that many ms further on; 0 means no duplicate."""
        if self.dup_rate and self._dup.random() < self.dup_rate:
            return self._dup.randint(1, DUPLICATE_WITHIN_MS)
        return 0

    def bad_kind(self) -> str | None:
        """A malformed message to slip in after this event, if any."""
        if self.bad_rate and self._bad.random() < self.bad_rate:
            return self._bad.choice(self._kinds)
        return None

    def malformed(self, kind: str, sample: bytes, now_ms: int) -> bytes:
        """`sample`, a valid placed order, broken the way `kind` says."""
        if kind in _RAW:
            return _RAW[kind](sample)
        doc = orjson.loads(sample)
        if kind == "missing_field":
            del doc[self._bad.choice(_FIELDS)]
        elif kind == "far_future":
            doc["occurred_at"] = now_ms + MONTH_MS
        else:
            _EDITS[kind](doc)
        return orjson.dumps(doc)


def _set(field: str, value: Callable[[object], object]) -> Callable[[dict[str, object]], None]:
    def edit(doc: dict[str, object]) -> None:
        doc[field] = value(doc[field])
    return edit


_RAW: dict[str, Callable[[bytes], bytes]] = {
    "truncated_json": lambda value: value[: value.index(b",", len(value) // 2)],  # a comma: still UTF-8
    "empty": lambda value: b"",
    "not_utf8": lambda value: value.replace(b'"merchant_name":"', b'"merchant_name":"\xff\xfe', 1),
    "json_array": lambda value: b"[" + value + b"]",
    "oversize": lambda value: value[:-1] + b',"note":"' + b"x" * MAX_EVENT_BYTES + b'"}',
}
_EDITS: dict[str, Callable[[dict[str, object]], None]] = {
    "amount_as_string": _set("total_minor", lambda total: f"{total}.00"),
    "null_merchant": _set("merchant_id", lambda _: None),
    "negative_amount": _set("total_minor", lambda total: -int(total)),  # type: ignore[call-overload]
    "unknown_channel": _set("channel", lambda _: "fax"),
    "absurd_amount": _set("total_minor", lambda _: 10**13),  # over $1M in any currency of the table
    "unknown_currency": _set("currency", lambda _: "XBT"),
    "seconds_not_ms": _set("occurred_at", lambda ms: int(ms) // 1000),  # type: ignore[call-overload]
}
