"""py-spy sampling running processes from outside (no change to them), and the top of each profile as a
report note."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from bench.report import Note
from bench.stats import profile_top

PY_SPY = Path(sys.executable).with_name("py-spy")


class Recording:
    """`with Recording({"worker": pid}, seconds) as r:` ... `r.notes("at 20k/s")`."""

    def __init__(self, pids: dict[str, int], seconds: float, rate: int = 100) -> None:
        self.pids = pids
        self.seconds = seconds
        self.rate = rate
        self.dir = Path(tempfile.mkdtemp(prefix="bench-profile-"))
        self.spies: dict[str, subprocess.Popen[bytes]] = {}

    def __enter__(self) -> Recording:
        for name, pid in self.pids.items():
            # --nonblocking: never pause the process being measured; --function: one row per function.
            self.spies[name] = subprocess.Popen(
                [str(PY_SPY), "record", "--pid", str(pid), "--duration", str(int(self.seconds)), "--rate",
                 str(self.rate), "--format", "raw", "--function", "--nonblocking",
                 "--output", str(self.dir / f"{name}.txt")],
                stdout=subprocess.DEVNULL, stderr=(self.dir / f"{name}.err").open("wb"))
        return self

    def __exit__(self, *exc: object) -> None:
        for spy in self.spies.values():
            try:
                spy.wait(self.seconds + 30)
            except subprocess.TimeoutExpired:
                spy.terminate()
                spy.wait(10)

    def notes(self, when: str, rows: int = 15) -> list[Note]:
        notes = []
        for name in self.pids:
            path = self.dir / f"{name}.txt"
            if not path.exists():
                error = (self.dir / f"{name}.err").read_text(errors="replace")[-500:]
                notes.append(Note(f"profile of the {name} {when}", f"py-spy recorded nothing: {error}"))
                continue
            samples, top = profile_top(path.read_text(), rows)
            busy = samples / (self.rate * self.seconds)  # idle threads are not sampled: this is CPU
            lines = ["| self | total | function (file:line) |", "|---|---|---|",
                     *(f"| {own:.1%} | {total:.1%} | `{frame}` |" for frame, own, total in top)]
            notes.append(Note(f"profile of the {name} {when} (py-spy, {self.rate} Hz, {self.seconds:.0f} s, "
                              f"all threads, idle excluded: {samples:,} samples, ~{busy:.0%} of a core)",
                              "\n".join(lines)))
        return notes
