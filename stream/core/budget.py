"""How large one record a worker writes may be: the pure core's decision, so no checkpoint or snapshot
record ever meets the broker's message limit (Kafka's default `message.max.bytes` is 1 MiB; the topics
allow 8 MiB, but a cluster whose topic configs salesdash cannot set keeps the default)."""

from __future__ import annotations

RECORD_BUDGET = 512 * 1024  # bytes of a record's value: half the default limit, room for key and headers
