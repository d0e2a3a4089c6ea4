"""What a run shows while it goes (a live line on a terminal) and the one-line summary at its end."""

from __future__ import annotations

import sys
import time
from collections import deque

from rich.console import Console
from rich.live import Live
from rich.text import Text

from loadgen.producer import Sender

LINE_EVERY_S = 0.5  # off a terminal, with `lines`: a plain progress line this often


class Progress:
    def __init__(self, sender: Sender, live: bool | None = None, lines: bool = False) -> None:
        """`lines`: off a terminal, print a `progress:` line every half second (a long job's log shows how far
        it got)."""
        self.sender = sender
        self.lines = lines
        self._next_line = 0.0
        self.started = time.monotonic()
        self._samples: deque[tuple[float, int]] = deque(maxlen=8)  # (time, orders made): the last ~2 s
        self._next = 0.0
        console = Console(stderr=True)
        on = console.is_terminal if live is None else live
        self._live = Live(console=console, refresh_per_second=4, transient=True) if on else None
        if self._live is not None:
            self._live.start()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def update(self, made: int, target: float | None = None, force: bool = False) -> None:
        """Called often; redraws at most four times a second."""
        now = time.monotonic()
        if now < self._next and not force:
            return
        self._next = now + 0.25
        self._samples.append((now, made))
        if self._live is None:
            if self.lines and now >= self._next_line:
                self._next_line = now + LINE_EVERY_S
                s = self.sender
                say(f"progress: events {made}  sent {s.sent}  acked {s.acked}  failed {s.failed}  "
                    f"elapsed {now - self.started:.1f}s")
            return
        (t0, n0), (t1, n1) = self._samples[0], self._samples[-1]
        achieved = (n1 - n0) / (t1 - t0) if t1 > t0 else 0.0
        s = self.sender
        line = Text()
        if target is not None:
            line.append(f"target {target:>10,.0f}/s  ", style="bold")
        line.append(f"achieved {achieved:>10,.0f}/s  ", style="bold green")
        line.append(f"sent {s.sent:,}  acked {s.acked:,}  ")
        line.append(f"errors {s.failed:,}  ", style="bold red" if s.failed else "")
        line.append(f"elapsed {now - self.started:,.1f}s")
        if s.broker_error:
            line.append(f"  broker: {s.broker_error}", style="yellow")
        self._live.update(line)

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()


def summary(sender: Sender, made: int, elapsed: float, extra: dict[str, int]) -> str:
    """One line (plain integers, so scripts can read it)."""
    faults = "".join(f"  {name} {count}" for name, count in extra.items() if count)
    line = (f"done: events {made}  sent {sender.sent}  acked {sender.acked}  failed {sender.failed}{faults}  "
            f"in {elapsed:.2f}s  {made / max(elapsed, 1e-9):,.0f} events/s  {sender.bytes} bytes")
    if sender.broker_errors:
        line += f"  broker errors {sender.broker_errors}"
    return line


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
