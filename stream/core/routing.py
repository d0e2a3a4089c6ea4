"""Which input partition counts a merchant: the one Kafka's default partitioner picks for its id as a key.

The worker that owns partition p counts exactly the merchants that map to p, so a merchant's sales, its
products and an event's redelivered copies all meet in one partition: dedupe and the top lists are exact
whatever key (or none) a producer used. A valid order found elsewhere is copied to its merchant's
partition and counted there (stream.worker.counter writes the copy).
"""

from __future__ import annotations

_SEED = 0x9747B28C
_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2), as a signed 32-bit int."""
    length = len(data)
    h = (_SEED ^ length) & _MASK
    whole = length - length % 4
    for i in range(0, whole, 4):
        k = int.from_bytes(data[i:i + 4], "little")
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    rest = length % 4
    if rest == 3:
        h ^= data[whole + 2] << 16
    if rest >= 2:
        h ^= data[whole + 1] << 8
    if rest >= 1:
        h ^= data[whole]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def partition_for(key: bytes, partitions: int) -> int:
    """The partition Kafka's Java client, faust and librdkafka's murmur2 partitioner choose for `key`."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


class Homes(dict[str, int]):
    """Each merchant's partition, remembered: a keyed stream pays one dict lookup an order. Bounded: it
    starts afresh once it holds `limit` merchants (a producer inventing ids cannot grow it)."""

    def __init__(self, partitions: int, limit: int = 200_000) -> None:
        super().__init__()
        self.partitions = partitions
        self.limit = limit

    def __missing__(self, merchant_id: str) -> int:
        if len(self) >= self.limit:
            self.clear()
        home = self[merchant_id] = partition_for(merchant_id.encode(), self.partitions)
        return home
