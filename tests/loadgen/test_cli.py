"""The load generator's command line: refusals are one clear line, and --help explains every option."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DAY_S = 86_400


def loadgen(*args: str) -> subprocess.CompletedProcess[str]:
    # An unreachable broker: nothing here may get as far as Kafka.
    env = {**os.environ, "KAFKA_BOOTSTRAP": "127.0.0.1:1"}
    return subprocess.run([sys.executable, "-m", "loadgen", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, env=env)


def utc_day(offset_days: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(time.time() + offset_days * DAY_S))


def dated(arg: str) -> str:
    """`TODAY` and `TODAY+2` name days worked out when the test runs, not when it is collected: a suite
    that runs past midnight (UTC) would otherwise ask for yesterday and be told something else."""
    return {"TODAY": utc_day(0), "TODAY+2": utc_day(+2)}.get(arg, arg)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["backfill", "--day", "2025-13-01", "--orders", "10"], "not a day in YYYY-MM-DD form"),
        (["backfill", "--day", "2025-1-1", "--orders", "10"], "not a day in YYYY-MM-DD form"),
        (["backfill", "--day", "yesterday", "--orders", "10"], "not a day in YYYY-MM-DD form"),
        (["backfill", "--day", "TODAY+2", "--orders", "10"], "is in the future"),
        (["backfill", "--day", "TODAY", "--orders", "10"], "not over yet"),
        (["backfill", "--day", "2025-11-28", "--orders", "0"], "--orders"),
        (["backfill", "--day", "2025-11-28", "--orders", "-5"], "--orders"),
        (["backfill", "--day", "2025-11-28", "--orders", "many"], "not a whole number"),
        (["backfill", "--orders", "10"], "--day"),
        (["run", "--dup-rate", "1.5"], "--dup-rate"),
        (["run", "--late-max", "0"], "--late-max"),
        (["run", "--profile", "cyber"], "invalid choice"),
        (["run", "--speed", "0"], "--speed"),
        (["run", "--merchants", "0"], "--merchants"),
        (["run", "--truth", "/no/such/dir/truth.json"], "no such directory"),
    ],
)
def test_misuse_is_one_clear_line_and_a_failing_exit(args: list[str], says: str) -> None:
    result = loadgen(*map(dated, args))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert says in lines[0]


@pytest.mark.parametrize("command", ["run", "backfill"])
def test_help_explains_every_option_with_its_default(command: str) -> None:
    result = loadgen(command, "--help")
    assert result.returncode == 0
    options: dict[str, str] = {}  # option -> its help, lines joined
    for line in result.stdout.split("options:", 1)[1].splitlines():
        if found := re.match(r"  (--[a-z-]+)(.*)", line):
            option = found[1]
            options[option] = found[2]
        elif options:
            options[option] += " " + line.strip()
    assert {"--seed", "--profile", "--dup-rate", "--late-rate", "--late-max", "--bad-rate", "--truth"} \
        <= set(options)
    for option, about in options.items():
        if option != "--help":
            assert re.search(r"\((default: \S+|required)\)$", about), f"{option}: {about}"
