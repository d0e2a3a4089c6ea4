"""Kafka's default partitioner for a keyed record, written out here so the audit knows, without a
client, which partition an order's merchant belongs to.

The Java client's `Utils.murmur2` (seed 0x9747b28c) over the key's bytes, then
`(hash & 0x7fffffff) % partitions` (`BuiltInPartitioner.partitionForKey`).
"""

from __future__ import annotations

_M = 0x5BD1E995
_SEED = 0x9747B28C
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """The 32-bit MurmurHash2 of `data` as Kafka computes it, as a signed int (Java's `int`)."""
    length = len(data)
    h = (_SEED ^ length) & _MASK
    whole = length & ~3
    for i in range(0, whole, 4):
        k = int.from_bytes(data[i:i + 4], "little")
        k = (k * _M) & _MASK
        k ^= k >> 24  # Java's >>> on a 32-bit value: k is kept unsigned here
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    rest = length & 3
    if rest:  # the Java switch falls through: 3, then 2, then 1
        if rest == 3:
            h ^= data[whole + 2] << 16
        if rest >= 2:
            h ^= data[whole + 1] << 8
        h ^= data[whole]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def partition_for(key: str | bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner gives a record with this key (a str is UTF-8 encoded)."""
    data = key.encode("utf-8") if isinstance(key, str) else key
    return (murmur2(data) & 0x7FFFFFFF) % partitions
