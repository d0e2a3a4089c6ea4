"""A day exported, the broker wiped (a fresh one), the day imported and replayed: the same day. An import
that would double-count a day, or of a damaged file, writes nothing."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from broker import Broker, free_port
from tests.conftest import Processes
from tests.e2e.test_replay import DAY, backfill, replay
from tests.support.checks import log_ends

pytestmark = pytest.mark.kafka


def test_export_then_a_fresh_broker_then_import_then_replay_gives_the_same_day(
    processes: Processes, tmp_path: Path
) -> None:
    truth = backfill(processes, tmp_path / "truth.json")
    original = replay(processes, "--day", DAY, "--minutes")
    archive = tmp_path / "black-friday.jsonl.gz"
    exported = processes.run("-m", "stream", "export", "--day", DAY, "--out", str(archive))
    assert exported.returncode == 0, exported.stderr
    assert f"exported {truth['counts']['acknowledged']:,} records of {DAY}" in exported.stderr

    fresh = Broker(tmp_path / "fresh-kafka", port=free_port(), heap="384m").start()
    try:
        elsewhere = Processes({**processes.env, "KAFKA_BOOTSTRAP": fresh.bootstrap}, tmp_path)
        imported = elsewhere.run("-m", "stream", "import", str(archive))
        assert imported.returncode == 0, imported.stderr
        assert replay(elsewhere, "--day", DAY, "--minutes") == original

        topic = processes.env["ORDERS_TOPIC"]
        before = log_ends(fresh.bootstrap, topic)
        again = elsewhere.run("-m", "stream", "import", str(archive))  # the day is there already: complete
        assert again.returncode == 0, again.stderr
        held = truth["counts"]["acknowledged"]
        assert f"({held:,} of them already there from an earlier run)" in again.stderr
        assert log_ends(fresh.bootstrap, topic) == before
        other = tmp_path / "other.jsonl.gz"  # another day's file: refused, the topic holds later records
        day_before = Processes({**processes.env, "ORDERS_TOPIC": f"{topic}-27"}, tmp_path)
        backfill(day_before, tmp_path / "truth-27.json", orders=500, day="2025-11-27")
        exported = day_before.run("-m", "stream", "export", "--day", "2025-11-27", "--out", str(other))
        assert exported.returncode == 0, exported.stderr
        refused = elsewhere.run("-m", "stream", "import", str(other))
        assert refused.returncode == 1
        want = f"error: topic {topic} already has records stamped 2025-11-27 "
        assert refused.stderr.strip().startswith(want)
        assert log_ends(fresh.bootstrap, topic) == before
    finally:
        fresh.stop()


def test_a_damaged_archive_is_refused_whole_and_nothing_reaches_kafka(
    processes: Processes, tmp_path: Path
) -> None:
    backfill(processes, tmp_path / "truth.json", orders=2_000)
    archive = tmp_path / "day.jsonl.gz"
    assert processes.run("-m", "stream", "export", "--day", DAY, "--out", str(archive)).returncode == 0
    lines = gzip.decompress(archive.read_bytes()).splitlines(keepends=True)
    lines[500] = lines[500].replace(b'"k":"bTAw', b'"k":"bTEw', 1)  # one record's key edited, recompressed
    archive.write_bytes(gzip.compress(b"".join(lines)))

    target = "orders-imported"
    refused = processes.run("-m", "stream", "import", str(archive), "--topic", target)
    assert refused.returncode == 1
    assert refused.stderr.strip() == f"error: {archive} fails its checksum: a record was changed"
    admin = AdminClient({"bootstrap.servers": processes.env["KAFKA_BOOTSTRAP"]})
    assert target not in admin.list_topics(timeout=10).topics  # not even the topic was created
