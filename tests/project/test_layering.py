"""The layers README describes, held against the code's imports: a change that breaks one fails here.

- stream/core decides the numbers and does no I/O: it imports no Kafka client, faust, web framework,
  network, process, thread or clock module, and nothing of salesdash outside stream.core.
- stream/kafka is the only importer of confluent_kafka in the shipped packages (app, stream, loadgen).
  bench/ measures raw confluent loops as baselines, and tests/support/truth.py reads the log without the
  project's code on purpose: both are left out.
- faust lives in one module, the worker's group membership.
- nothing imports app (it is the top); loadgen needs only the core, the Kafka layer and the settings.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ("app", "stream", "loadgen")
IO_MODULES = {"asyncio", "socket", "subprocess", "threading", "multiprocessing", "os", "time", "pathlib",
              "logging", "signal", "select", "ssl", "http", "urllib", "tempfile", "shutil", "io", "sys"}
CLIENTS = {"confluent_kafka", "aiokafka", "faust", "mode", "starlette", "uvicorn", "httpx", "websockets"}


def imports(path: Path, package: str | None = None) -> set[str]:
    """Every module a file imports, by its full dotted name (relative imports resolved)."""
    tree = ast.parse(path.read_text(), str(path))
    if package is None:
        package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def modules(*packages: str) -> list[Path]:
    return sorted(p for package in packages for p in (ROOT / package).rglob("*.py"))


def top(name: str) -> str:
    return name.split(".")[0]


def within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


@pytest.mark.parametrize("path", modules("stream/core"), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_core_does_no_io_and_needs_nothing_outside_itself(path: Path) -> None:
    names = imports(path)
    assert not {n for n in names if top(n) in IO_MODULES | CLIENTS}, "the core must stay pure"
    ours = {n for n in names if top(n) in ("stream", "app", "loadgen", "broker", "bench")}
    assert all(within(n, "stream.core") for n in ours), f"the core imports {sorted(ours)}"


def test_only_the_kafka_layer_imports_confluent_kafka() -> None:
    importers = {str(p.relative_to(ROOT)) for p in modules(*SHIPPED)
                 if any(top(n) == "confluent_kafka" for n in imports(p))}
    assert importers, "the check found no importer at all: it is not looking at the code"
    assert {p for p in importers if not p.startswith("stream/kafka/")} == set()


def test_faust_is_confined_to_the_group_membership_module() -> None:
    importers = {str(p.relative_to(ROOT)) for p in modules(*SHIPPED)
                 if any(top(n) in ("faust", "mode") for n in imports(p))}
    assert importers == {"stream/worker/membership.py"}


def test_nothing_outside_app_imports_app() -> None:
    offenders = {str(p.relative_to(ROOT)) for p in modules("stream", "loadgen", "broker", "bench")
                 if any(top(n) == "app" for n in imports(p))}
    assert offenders == set()


def test_loadgen_needs_only_the_core_the_kafka_layer_and_the_settings() -> None:
    allowed = ("stream.core", "stream.kafka", "stream.config")
    used = {n for p in modules("loadgen") for n in imports(p) if top(n) == "stream"}
    assert used, "loadgen imports nothing of stream: the check is not looking at the code"
    assert {n for n in used if n != "stream" and not any(within(n, a) for a in allowed)} == set()


def test_the_kafka_layer_sits_on_the_core_and_the_settings_only() -> None:
    used = {n for p in modules("stream/kafka") for n in imports(p) if top(n) in ("stream", "app", "loadgen")}
    allowed = ("stream.core", "stream.kafka", "stream.config")
    assert {n for n in used if n != "stream" and not any(within(n, a) for a in allowed)} == set()


def test_an_import_that_breaks_a_rule_is_seen(tmp_path: Path) -> None:
    # The walker itself: a core module importing the client would be caught.
    sample = tmp_path / "probe.py"
    sample.write_text("from confluent_kafka import Consumer\nimport time\nfrom ..kafka import reader\n")
    found = imports(sample, package="stream.core")
    assert {"confluent_kafka", "time", "stream.kafka", "stream.kafka.reader"} <= found
