"""`python -m stream replay|export|import` misused: one line saying what is wrong, a failing exit, and no
Kafka needed to say it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
NOWHERE = {**os.environ, "KAFKA_BOOTSTRAP": "127.0.0.1:1"}  # nothing listens: nothing may be tried


def stream(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "stream", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60, env={**NOWHERE, "PYTHONPATH": str(ROOT)})


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["replay"], "--day"),
        (["replay", "--day", "2025-13-01"], "--day: not a day in YYYY-MM-DD form"),
        (["replay", "--day", "tomorrow"], "--day: not a day"),
        (["replay", "--day", "2999-11-27"], "--day: 2999-11-27 is in the future"),
        (["replay", "--day", "2025-11-28", "--speed", "0"], "--speed"),
        (["replay", "--day", "2025-11-28", "--speed", "fast"], "not a speed"),
        (["replay", "--day", "2025-11-28", "--from", "25:00"], "--from"),
        (["replay", "--day", "2025-11-28", "--from", "09:00"], "--from needs --speed"),
        (["replay", "--day", "2025-11-28", "--session", "s1"], "--session needs --publish"),
        (["replay", "--day", "2025-11-28", "--publish", "--session", "a/b"], "not a session id"),
        (["export", "--day", "2025-11-28"], "--out"),
        (["export", "--day", "2999-01-01", "--out", "day.gz"], "in the future"),
        (["export", "--day", "2025-11-28", "--out", "/no/such/dir/day.gz"], "no such directory"),
        (["import", "/no/such/file.jsonl.gz"], "no such file"),
    ],
)
def test_misuse_is_one_clear_line_and_exit_2(args: list[str], says: str) -> None:
    result = stream(*args)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and says in lines[0]
    assert result.stdout == ""


@pytest.mark.parametrize("command", ["replay", "export", "import"])
def test_each_command_explains_itself(command: str) -> None:
    result = stream(command, "--help")
    assert result.returncode == 0
    assert f"usage: python -m stream {command}" in result.stdout


def test_the_worker_help_names_the_commands() -> None:
    assert "{replay,export,import}" in stream("--help").stdout


def test_an_unreachable_kafka_is_one_clear_line() -> None:
    result = stream("replay", "--day", "2025-11-28")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: Kafka at 127.0.0.1:1"), result.stderr
