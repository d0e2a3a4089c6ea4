"""Long jobs stopped mid-way — SIGTERM once, kill -9 once — and started again finish with the same result,
byte for byte, as a run that was never interrupted: the backfill's records in the topic, the export's
archive, the import's records, the audit's JSON and the report's HTML."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Producer

from stream.jobs.dayaudit import RUN_TIME_FIELDS
from tests.conftest import App, Processes, wait_until
from tests.e2e.test_loadgen_kafka import Record, records
from tests.support.checks import offsets_reach_the_end

pytestmark = pytest.mark.kafka

DAY = "2025-11-28"
BACKFILL = ("--day", DAY, "--seed", "6", "--dup-rate", "0.05", "--late-rate", "0.1", "--late-max", "120",
            "--bad-rate", "0.03")


def by_partition(log: list[Record]) -> dict[int, list[Record]]:
    """Each partition's records in log order (the order across partitions is the consumer's)."""
    out: dict[int, list[Record]] = defaultdict(list)
    for record in log:
        out[record.partition].append(record)
    return dict(out)


def progress(log: str, pattern: str) -> int:
    """The newest count a `progress:`-style line of the log shows for `pattern` (a regex with one group)."""
    found = re.findall(pattern, log)
    return int(found[-1].replace(",", "")) if found else 0


def interrupt(processes: Processes, name: str, args: tuple[str, ...], pattern: str, at: int,
              how: signal.Signals, saved: Callable[[], bool] = lambda: True) -> subprocess.Popen[bytes]:
    """Start a job, wait until its progress shows `at` and `saved` holds, send it `how`, wait for its end."""
    job = processes.start(name, *args)
    # Polled often: a quiet machine backfills ~300,000 events a second, and progress lines come each 0.5 s.
    wait_until(lambda: job.poll() is None and progress(processes.log(name), pattern) >= at and saved(), 60,
               interval=0.05, message=f"{name} to reach {at:,}")
    os.killpg(job.pid, how)
    job.wait(60)
    return job


def test_a_backfill_stopped_then_killed_then_finished_writes_the_topic_of_an_uninterrupted_run(
    processes: Processes
) -> None:
    orders = 600_000  # about 2–4 s a run here: the resumed run still sends for several progress lines
    args = ("-m", "loadgen", "backfill", "--orders", str(orders), *BACKFILL)
    env = processes.env
    whole_topic = env["ORDERS_TOPIC"] + "-whole"
    whole = Processes({**env, "ORDERS_TOPIC": whole_topic}, processes.logs)
    uninterrupted = whole.run(*args)
    assert uninterrupted.returncode == 0, uninterrupted.stderr

    acked = r"progress: events \d+  sent \d+  acked (\d+)"
    stopped = interrupt(processes, "backfill-1", args, acked, orders // 6, signal.SIGTERM)
    assert stopped.returncode == 0, processes.log("backfill-1")  # a clean stop: what was sent is acked
    first = progress(processes.log("backfill-1"), r"done: events \d+  sent \d+  acked (\d+)")
    assert 0 < first < orders
    # The second run resumes, passes over what the first wrote, and is killed while it sends more.
    interrupt(processes, "backfill-2", args, acked, 20_000, signal.SIGKILL)  # this run's own acks
    assert "resuming:" in processes.log("backfill-2")
    last = processes.run(*args)
    assert last.returncode == 0, last.stderr
    passed_over = progress(last.stderr, r"already_in_log (\d+)")
    assert first < passed_over < orders  # the killed run wrote some, and this one wrote the rest
    assert progress(last.stderr, r"sent (\d+)") > 0

    resumed = by_partition(records(env["KAFKA_BOOTSTRAP"], env["ORDERS_TOPIC"]))
    assert resumed == by_partition(records(env["KAFKA_BOOTSTRAP"], whole_topic))

    again = processes.run(*args)  # a finished backfill started again sends nothing
    assert again.returncode == 0, again.stderr
    assert re.search(r" sent 0 ", again.stderr), again.stderr


def test_an_import_stopped_then_killed_then_finished_writes_what_an_uninterrupted_import_writes(
    processes: Processes, tmp_path: Path
) -> None:
    made = processes.run("-m", "loadgen", "backfill", "--orders", "150000", *BACKFILL)  # ~5 s to import
    assert made.returncode == 0, made.stderr
    archive = tmp_path / "day.jsonl.gz"
    exported = processes.run("-m", "stream", "export", "--day", DAY, "--out", str(archive))
    assert exported.returncode == 0, exported.stderr
    total = sum(len(p) for p in by_partition(records(processes.env["KAFKA_BOOTSTRAP"],
                                                      processes.env["ORDERS_TOPIC"])).values())
    whole = processes.run("-m", "stream", "import", str(archive), "--topic", "imported-whole")
    assert whole.returncode == 0, whole.stderr

    args = ("-m", "stream", "import", str(archive), "--topic", "imported")
    written = r"progress: importing \S+: written ([\d,]+) records"
    stopped = interrupt(processes, "import-1", args, written, total // 5, signal.SIGTERM)
    assert stopped.returncode == 130 and "error: interrupted" in processes.log("import-1")
    interrupt(processes, "import-2", args, written, total // 2, signal.SIGKILL)
    last = processes.run(*args)
    assert last.returncode == 0, last.stderr
    held = progress(last.stderr, r"\(([\d,]+) of them already there from an earlier run\)")
    assert total // 5 <= held < total, last.stderr  # both runs wrote a part, and this one the rest

    bootstrap = processes.env["KAFKA_BOOTSTRAP"]
    resumed = by_partition(records(bootstrap, "imported"))
    assert resumed == by_partition(records(bootstrap, "imported-whole"))
    assert sum(len(p) for p in resumed.values()) == total


def test_an_export_stopped_then_killed_then_finished_writes_the_archive_of_an_uninterrupted_export(
    processes: Processes, tmp_path: Path
) -> None:
    made = processes.run("-m", "loadgen", "backfill", "--orders", "60000", *BACKFILL)
    assert made.returncode == 0, made.stderr
    (tmp_path / "whole").mkdir()  # the same file name: gzip keeps it in the archive's header
    whole, out = tmp_path / "whole" / "day.jsonl.gz", tmp_path / "day.jsonl.gz"
    uninterrupted = processes.run("-m", "stream", "export", "--day", DAY, "--out", str(whole))
    assert uninterrupted.returncode == 0, uninterrupted.stderr
    total = progress(uninterrupted.stderr, r"exported ([\d,]+) records")

    args = ("-m", "stream", "export", "--day", DAY, "--out", str(out))
    read = r"progress: exporting \S+: read ([\d,]+)"
    journal = tmp_path / "day.jsonl.gz.progress"
    # The journal is written every half second: a fast run can pass total // 5 before its first records are.
    stopped = interrupt(processes, "export-1", args, read, total // 5, signal.SIGTERM,
                        saved=lambda: journal.exists() and journal.stat().st_size > 100_000)
    assert stopped.returncode == 130 and "error: interrupted" in processes.log("export-1")
    assert not out.exists() and (tmp_path / "day.jsonl.gz.progress").exists()
    first = progress(processes.log("export-1"), read)
    kept = journal.stat().st_size
    interrupt(processes, "export-2", args, read, first + (total - first) // 3, signal.SIGKILL,
              saved=lambda: journal.stat().st_size > kept + 100_000)
    assert "resuming the export" in processes.log("export-2")
    last = processes.run(*args)
    assert last.returncode == 0, last.stderr
    assert progress(last.stderr, r"resuming the export from \S+: ([\d,]+) records already read") > first

    assert out.read_bytes() == whole.read_bytes()
    assert not (tmp_path / "day.jsonl.gz.progress").exists()


def saved_records(journal: Path) -> int:
    """How many records the journal holds up to its last whole state line (what a resumed run takes
    back): its lines before that state, but the header and the earlier states."""
    data = journal.read_bytes() if journal.exists() else b""
    state = data.rfind(b'\n{"state":')
    while state >= 0 and data.find(b"\n", state + 1) < 0:  # the last state cut short by a kill
        state = data.rfind(b'\n{"state":', 0, state)
    before = data[:state + 1]
    return before.count(b"\n") - 1 - before.count(b'\n{"state":') if state >= 0 else 0


def without_run_times(doc: dict[str, Any]) -> dict[str, Any]:
    """The audit's JSON but for the times of the run (the report's are not in its JSON)."""
    return {key: value for key, value in doc.items() if key not in RUN_TIME_FIELDS}


def stop_worker(processes: Processes) -> None:
    """Stop the worker: nothing more is published, so every audit from now on sees the same aggregates."""
    worker = next(p for name, p in processes.running if name == "stream")
    os.killpg(worker.pid, signal.SIGTERM)
    worker.wait(30)


def test_an_audit_and_a_report_stopped_then_killed_then_finished_write_what_an_uninterrupted_run_writes(
    stack: App, processes: Processes, tmp_path: Path
) -> None:
    made = processes.run("-m", "loadgen", "backfill", "--orders", "60000", *BACKFILL)
    assert made.returncode == 0, made.stderr
    env = processes.env
    offsets_reach_the_end(stack, env["KAFKA_BOOTSTRAP"], env["ORDERS_TOPIC"])
    stop_worker(processes)
    (tmp_path / "whole").mkdir()
    audit = ("-m", "stream", "audit", "--day", DAY, "--json")
    report = ("-m", "stream", "report", "--day", DAY, "--out")
    # The uninterrupted runs, side by side (sooner done).
    whole = [processes.start("whole-audit", *audit, str(tmp_path / "whole" / "audit.json")),
             processes.start("whole-report", *report, str(tmp_path / "whole" / "day.html"))]
    assert [job.wait(120) for job in whole] == [0, 0], \
        [processes.log("whole-audit"), processes.log("whole-report")]
    expected = orjson.loads((tmp_path / "whole" / "audit.json").read_bytes())
    total = expected["recount"]["records"]

    out, journal = tmp_path / "audit.json", tmp_path / "audit.json.progress"
    read = r"progress: auditing \S+: reading the day's records: ([\d,]+)"
    args = (*audit, str(out))
    # Killed at its first save of records, early in the read (~2 s here): a run killed before it would
    # fold a new cut when started again, one killed in the recount would leave nothing to read.
    stopped = interrupt(processes, "audit-1", args, read, 1, signal.SIGTERM,
                        saved=lambda: saved_records(journal) > 0)
    assert stopped.returncode == 130 and "error: interrupted" in processes.log("audit-1")
    assert not out.exists()
    first = saved_records(journal)
    html, html_journal = tmp_path / "day.html", tmp_path / "day.html.progress"
    interrupt(processes, "report-1", (*report, str(html)), read, 1, signal.SIGKILL,
              saved=lambda: saved_records(html_journal) > 0)
    assert not html.exists()
    # The aggregates log grows past the cut the stopped runs folded to: a resumed run must not fold it.
    producer = Producer({"bootstrap.servers": env["KAFKA_BOOTSTRAP"]})
    producer.produce(env["AGGREGATES_TOPIC"], b"not a checkpoint", partition=0)
    assert producer.flush(10) == 0

    interrupt(processes, "audit-2", args, read, 1, signal.SIGKILL,
              saved=lambda: saved_records(journal) > first)
    assert f"resuming the audit from {journal}: {first:,} records already read" in processes.log("audit-2")
    started = orjson.loads(journal.read_bytes().split(b"\n")[1])["state"]["started_ms"]
    last = processes.run(*args)
    assert last.returncode == 0, last.stderr
    assert progress(last.stderr, r"resuming the audit from \S+: ([\d,]+) records already read") > first
    resumed = orjson.loads(out.read_bytes())
    assert expected["ms"] <= started == resumed["started_ms"] < resumed["ms"]  # the first stopped run's
    assert orjson.dumps(without_run_times(resumed)) == orjson.dumps(without_run_times(expected))
    assert resumed["recount"]["records"] == total > 0 and resumed["view"]["unreadable"] == 0
    assert not journal.exists()

    finished = processes.run(*report, str(html))
    assert finished.returncode == 0, finished.stderr
    assert "resuming the audit from" in finished.stderr
    generated = re.compile(rb'<time id="generated">[^<]*</time>')  # generated_ms, the one run time shown
    assert generated.sub(b"", html.read_bytes()) == generated.sub(b"", (tmp_path / "whole" / "day.html")
                                                                   .read_bytes())
    assert not html_journal.exists()
