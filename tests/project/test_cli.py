"""Misuse of a command prints one line saying what is wrong and exits non-zero."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env=env)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["-m", "loadgen", "--rate", "-5"], "--rate"),
        (["-m", "loadgen", "--rate", "fast"], "not a number"),
        (["-m", "loadgen", "run", "--duration", "nan"], "--duration"),
        (["-m", "loadgen", "send", "/no/such/file.jsonl"], "no such file"),
        (["-m", "loadgen", "fly"], "invalid choice"),
        (["-m", "app", "--port", "70000"], "--port"),
        (["-m", "app", "--port", "eighty"], "--port"),
        (["-m", "stream", "--bogus"], "unrecognized arguments: --bogus"),
        (["-m", "broker"], "required"),
        (["-m", "broker", "run", "--port", "x"], "--port"),
        (["-m", "stream", "audit"], "--day"),
        (["-m", "stream", "audit", "--day", "2999-01-01"], "in the future"),
        (["-m", "stream", "audit", "--day", "28.11.2025"], "YYYY-MM-DD"),
        (["-m", "stream", "audit", "--day", "2025-11-28", "--json", "/no/such/a.json"], "no such directory"),
        (["-m", "stream", "report", "--day", "2025-11-28"], "--out"),
    ],
)
def test_misuse_is_one_clear_line_and_a_failing_exit(args: list[str], says: str) -> None:
    result = run(*args)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert says in lines[0]


@pytest.mark.parametrize("package", ["loadgen", "app", "stream", "broker"])
def test_every_command_explains_itself(package: str) -> None:
    result = run("-m", package, "--help")
    assert result.returncode == 0
    assert "usage: python -m " + package in result.stdout


@pytest.mark.parametrize("command", ["audit", "report"])
def test_the_audit_commands_explain_themselves_and_misuse_exits_2(command: str) -> None:
    result = run("-m", "stream", command, "--help")
    assert result.returncode == 0 and f"usage: python -m stream {command}" in result.stdout
    assert "0 verified, 1 differs, 2 misuse, 3" in " ".join(result.stdout.split())
    assert run("-m", "stream", command, "--day", "nope").returncode == 2


def test_an_audit_that_cannot_reach_kafka_is_one_line_and_exit_3() -> None:
    import os

    env = {**os.environ, "KAFKA_BOOTSTRAP": "127.0.0.1:1"}
    result = run("-m", "stream", "audit", "--day", "2025-11-28", env=env)
    assert result.returncode == 3 and result.stdout == ""
    assert result.stderr.strip().splitlines()[-1].startswith("error: Kafka at 127.0.0.1:1"), result.stderr


def test_an_unreachable_kafka_is_one_clear_line() -> None:
    import os

    env = {**os.environ, "KAFKA_BOOTSTRAP": "127.0.0.1:1"}
    result = run("-m", "loadgen", "run", "--duration", "1", env=env)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: cannot reach Kafka at 127.0.0.1:1")

