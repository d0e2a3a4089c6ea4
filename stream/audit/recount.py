"""The audit's recount: one UTC day counted afresh from the raw `orders` records, in SQL (DuckDB).

Which records to give: per partition, every record from the first one the workers counted or tallied
into the day (the day index, stream/audit/source.py) until the day is closed in that partition (its
watermark passed the day's end plus the allowed lateness) or the log ends, in offset order. More is
fine: records of other days move the watermark and the dedupe memory as they do live, but only the
day's figures are reported; records before the first one give the watermark and dedupe memory the live
worker had (without them both start empty, as the README's rules say for the start of a partition).

One input is not in the log: the watermarks the chain records at an input offset (a follow step, which
moves an idle partition's watermark, and each snapshot's): `marks`, partition -> [(offset, watermark)],
where the watermark of the records at or after that offset is at least that one.

Only the rate table is shared with the live core (stream/audit/rates.py); the rules are restated in
stream/audit/sql.py and the figures in stream/audit/figures.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

import duckdb
import numpy as np

from stream.audit import figures, sql
from stream.audit.murmur2 import partition_for
from stream.audit.rates import ratios

MAX_PASSES = 50  # the watermark recursion settles in one pass unless a duplicate's content differs
_database: duckdb.DuckDBPyConnection | None = None  # opening DuckDB costs ~50-200 ms; a cursor ~1 ms


class Record(NamedTuple):
    """One `orders` record as the audit reads it."""

    partition: int
    offset: int
    timestamp_ms: int  # the Kafka timestamp
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass
class DayRecount:
    """The day's exact figures (the /api/snapshot shape where the dashboard has them), and what the
    audit needs to explain a difference."""

    day: str
    totals: dict[str, int]
    minutes: list[dict[str, int]]
    countries: list[dict[str, Any]]
    channels: list[dict[str, Any]]
    top_merchants: list[dict[str, Any]]
    top_products: list[dict[str, Any]]
    busiest_seconds: list[dict[str, int]]
    dead_letters: dict[str, int]  # reason -> records stamped in the day
    late_events: int  # the day's orders that corrected a minute already final
    records: int  # records stamped in the day
    offsets: dict[int, tuple[int, int]]  # partition -> (first, last) offset read
    closed: dict[int, bool]  # partition -> the day is closed there (no record can change it)
    too_late: list[dict[str, Any]]  # the day's valid orders that came after it closed
    resent_after_horizon: list[dict[str, Any]]  # copies counted again: the earlier one was forgotten
    misplaced: list[dict[str, Any]]  # the day's valid orders in a partition not their merchant's
    passes: int  # passes of the watermark recursion

    @property
    def day_closed(self) -> bool:
        return bool(self.closed) and all(self.closed.values())

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["offsets"] = {str(p): [a, b] for p, (a, b) in self.offsets.items()}
        doc["closed"] = {str(p): c for p, c in self.closed.items()}
        doc["day_closed"] = self.day_closed
        return doc


def recount(records: Iterable[Any], day: str, partitions: int, *, grace_ms: int = 5000,
            allowed_lateness_ms: int = 3_600_000, dedupe_horizon_ms: int = 900_000,
            max_future_ms: int = 300_000, homes: int | None = None,
            marks: Mapping[int, Sequence[tuple[int, int]]] | None = None) -> DayRecount:
    """Recount `day` (YYYY-MM-DD, UTC) from `records` (`Record`s or confluent-kafka Messages, each
    partition's in offset order) of a topic with `partitions` partitions, merchants homed on the first
    `homes` of them (all by default; fewer in a topic grown since it was created); `marks` as above."""
    start = _day_start(day)
    con = _connection()
    try:
        _load(con, records)
        _marks(con, marks or {})
        con.execute(sql.MACROS)
        con.execute(sql.STRICT_JSON)
        con.execute(sql.FIELDS_SQL)
        con.execute(sql.LINES)
        con.execute(sql.VERDICTS, {"max_future": max_future_ms})
        _merchants(con, partitions if homes is None else homes)
        con.execute(sql.CANDIDATES)
        passes = _settle(con, allowed_lateness_ms, dedupe_horizon_ms)
        found = figures.day_figures(con, start, grace_ms, allowed_lateness_ms, partitions)
    except (duckdb.InterruptException, RuntimeError) as exc:
        if isinstance(exc, RuntimeError) and str(exc) != INTERRUPTED:
            raise
        raise KeyboardInterrupt from None  # a signal mid-query (SIGTERM, Ctrl-C) is an interrupt as anywhere
    finally:
        con.close()
    return DayRecount(day=day, passes=passes, **found)


INTERRUPTED = "Query interrupted"  # DuckDB's RuntimeError when a Python signal handler raised mid-query


def _connection() -> duckdb.DuckDBPyConnection:
    # One in-memory database a process; each recount has its own connection to it, and so its own TEMP
    # tables and macros, gone when it closes.
    global _database
    if _database is None:
        _database = duckdb.connect(":memory:")
    return _database.cursor()


def _settle(con: duckdb.DuckDBPyConnection, lateness_ms: int, horizon_ms: int) -> int:
    # The watermark depends on which orders count, and that on the watermark: assume every valid order
    # counts, classify, and repeat with the counted ones until no order that changed sides could have
    # moved a watermark (sql.UNSETTLED). The fixpoint is unique: it is the record-by-record count.
    for passes in range(1, MAX_PASSES + 1):
        con.execute(sql.CLASSIFY, {"lateness": lateness_ms})
        con.execute(sql.CHAIN, {"horizon": horizon_ms})
        con.execute(sql.COUNTED)
        if con.execute(sql.UNSETTLED).fetchall()[0][0] == 0:
            return passes
        con.execute(sql.NEXT_PASS)
    raise RuntimeError(f"the watermark recursion did not settle in {MAX_PASSES} passes")


def _merchants(con: duckdb.DuckDBPyConnection, partitions: int) -> None:
    # Kafka's partitioner in Python (stream/audit/murmur2.py), once a merchant, as a column for the SQL
    ids = [m for (m,) in con.execute("SELECT DISTINCT merchant_id FROM fields JOIN verdict USING (p, off) "
                                     "WHERE reason IS NULL").fetchall()]
    table = {"merchant_id": np.array(ids, dtype=object),
             "home": np.array([partition_for(m, partitions) for m in ids], dtype=np.int32)}
    con.register("merchant_rows", table)
    con.execute("CREATE OR REPLACE TEMP TABLE merchants AS SELECT * FROM merchant_rows")
    con.unregister("merchant_rows")


def _load(con: duckdb.DuckDBPyConnection, records: Iterable[Any]) -> None:
    # Columns as numpy arrays: DuckDB scans them in one go (executemany is ~1,000 rows/s).
    rows = [r if isinstance(r, Record) else _record(r) for r in records]
    rerouted = [_header(r.headers, "rerouted_from") if r.headers else None for r in rows]
    table = {"p": np.array([r.partition for r in rows], dtype=np.int32),
             "off": np.array([r.offset for r in rows], dtype=np.int64),
             "ts": np.array([r.timestamp_ms for r in rows], dtype=np.int64),
             "v": _objects([r.value for r in rows]), "rerouted": _objects(rerouted)}
    con.register("raw_rows", table)
    con.execute("CREATE TEMP TABLE raw AS SELECT p, off, ts, v::BLOB AS v, rerouted::VARCHAR AS rerouted "
                "FROM raw_rows")
    con.unregister("raw_rows")
    rates = ratios()
    con.register("rate_rows", {"currency": np.array([r.currency for r in rates], dtype=object),
                               "num": np.array([str(r.num) for r in rates], dtype=object),
                               "den": np.array([str(r.den) for r in rates], dtype=object)})
    con.execute("CREATE TEMP TABLE rates AS SELECT currency::VARCHAR AS currency, num::HUGEINT AS num, "
                "den::HUGEINT AS den FROM rate_rows")
    con.unregister("rate_rows")
    duplicated = con.execute("SELECT p, off FROM raw GROUP BY ALL HAVING count(*) > 1 LIMIT 1").fetchall()
    if duplicated:
        raise ValueError(f"record {duplicated[0][0]}/{duplicated[0][1]} given twice")


def _marks(con: duckdb.DuckDBPyConnection, marks: Mapping[int, Sequence[tuple[int, int]]]) -> None:
    # Each partition's marks by offset, each the highest so far: the newest one at or before a record
    # (an ASOF join) is the floor of its watermark.
    floors: list[tuple[int, int, int]] = []
    for p, at, mark in sorted((p, at, mark) for p, found in marks.items() for at, mark in found):
        if floors and floors[-1][0] == p:
            mark = max(mark, floors[-1][2])
        floors.append((p, at, mark))
    con.register("mark_rows", {"p": np.array([f[0] for f in floors], dtype=np.int32),
                               "at": np.array([f[1] for f in floors], dtype=np.int64),
                               "wm": np.array([f[2] for f in floors], dtype=np.int64)})
    con.execute("CREATE TEMP TABLE marks AS SELECT * FROM mark_rows")
    con.unregister("mark_rows")


def _objects(items: list[Any]) -> np.ndarray[Any, np.dtype[Any]]:
    column = np.empty(len(items), dtype=object)
    column[:] = items
    return column


def _record(message: Any) -> Record:
    # a confluent-kafka Message: methods, and timestamp() is (type, ms)
    return Record(message.partition(), message.offset(), message.timestamp()[1], message.key(),
                  message.value(), tuple(message.headers() or ()))


def _header(headers: Any, name: str) -> str | None:
    for key, value in headers:
        if key == name and value is not None:
            return bytes(value).decode("utf-8", "replace")
    return None


def _day_start(day: str) -> int:
    from datetime import UTC, date, datetime

    parsed = date.fromisoformat(day)
    if len(day) != 10:
        raise ValueError(f"not a day in YYYY-MM-DD form: {day!r}")
    return int(datetime(parsed.year, parsed.month, parsed.day, tzinfo=UTC).timestamp()) * 1000
