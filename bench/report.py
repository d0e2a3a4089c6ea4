"""A benchmark figure beside its limit, and the report that collects them."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Figure:
    stage: str  # produce, process, fan-out, replay, memory, freshness
    name: str  # what was measured, e.g. "loadgen orders/s"
    value: float
    unit: str
    limit_name: str = ""  # the physical limit measured in the same run, e.g. "raw confluent produce loop"
    limit: float | None = None
    goal: str = ""  # the goal, in words
    met: bool | None = None  # whether the goal holds for this run

    @property
    def ratio(self) -> float | None:
        return None if not self.limit else self.value / self.limit


@dataclass
class Note:
    """Text that goes under the table, such as the top of a profile."""

    title: str
    text: str


def machine() -> dict[str, str]:
    def sh(*cmd: str) -> str:
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            return (done.stdout or done.stderr).strip().splitlines()[0]
        except OSError:
            return "?"

    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    memory_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                     if line.startswith("MemTotal"))
    return {"cpu": model, "cores": str(os.cpu_count()), "memory": f"{memory_kb / 1024**2:.1f} GiB",
            "python": platform.python_version(), "java": sh("java", "-version"),
            "os": platform.platform(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            **versions(), "chromium": sh("chromium", "--version"),
            "commit": sh("git", "-C", str(RESULTS.parent.parent), "describe", "--always", "--dirty"),
            # The machine is shared: a busy neighbour shows up here before it shows up in the figures.
            "load average at start": " ".join(Path("/proc/loadavg").read_text().split()[:3])}


def versions() -> dict[str, str]:
    import confluent_kafka

    from broker.kafka import kafka_version

    names = ("faust-streaming", "aiokafka", "starlette", "uvicorn", "orjson", "msgspec")
    packages = {name: metadata.version(name) for name in names}
    return {"kafka": kafka_version(), "confluent-kafka": f"{metadata.version('confluent-kafka')} "
            f"(librdkafka {confluent_kafka.libversion()[0]})", **packages}


def _fmt(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.3g}"


def markdown(figures: list[Figure], facts: dict[str, str], command: str,
             notes: list[Note] | None = None) -> str:
    lines = [f"# salesdash benchmarks ({facts['date']})", "", f"Command: `{command}`", "",
             "| machine | |", "|---|---|", *(f"| {k} | {v} |" for k, v in facts.items()), "",
             "| stage | figure | value | limit (same run) | limit value | ratio | goal | met |",
             "|---|---|---|---|---|---|---|---|"]
    for f in figures:
        ratio = f"{f.ratio:.0%}" if f.ratio is not None else "–"
        met = {True: "yes", False: "**no**", None: "–"}[f.met]
        lines.append(f"| {f.stage} | {f.name} | {_fmt(f.value)} {f.unit} | {f.limit_name or '–'} | "
                     f"{_fmt(f.limit)} | {ratio} | {f.goal or '–'} | {met} |")
    for note in notes or []:
        lines += ["", f"## {note.title}", "", note.text]
    return "\n".join(lines) + "\n"


def write(figures: list[Figure], facts: dict[str, str], command: str, notes: list[Note] | None = None,
          results: Path = RESULTS) -> Path:
    results.mkdir(parents=True, exist_ok=True)
    (results / "latest.json").write_text(json.dumps(
        {"machine": facts, "command": command, "figures": [asdict(f) | {"ratio": f.ratio} for f in figures],
         "notes": [asdict(n) for n in notes or []]}, indent=2))
    path = results / "latest.md"
    path.write_text(markdown(figures, facts, command, notes))
    return path
