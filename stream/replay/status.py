"""What a long command shows while it runs: one live line on stderr, drawn only on a terminal."""

from __future__ import annotations

import sys
import time

from rich.console import Console
from rich.live import Live
from rich.text import Text


class Status:
    def __init__(self, live: bool | None = None) -> None:
        console = Console(stderr=True)
        on = console.is_terminal if live is None else live
        self._live = Live(console=console, refresh_per_second=4, transient=True) if on else None
        self._next = 0.0
        if self._live is not None:
            self._live.start()

    def show(self, line: str, force: bool = False) -> None:
        """Called often; redraws at most four times a second."""
        now = time.monotonic()
        if self._live is None or (now < self._next and not force):
            return
        self._next = now + 0.25
        self._live.update(Text(line))

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
