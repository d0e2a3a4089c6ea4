"""What a long command shows while it runs: one live line on stderr on a terminal; off one, with
`lines`, a plain `progress:` line every half second (a job's log then shows how far it got)."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Callable

from rich.console import Console
from rich.live import Live
from rich.text import Text

from stream.config import Settings
from stream.kafka import KafkaException

LINE_EVERY_S = 0.5


class Status:
    def __init__(self, live: bool | None = None, lines: bool = False) -> None:
        self.lines = lines
        self._next_line = time.monotonic() + LINE_EVERY_S  # a job done at once says only its result
        console = Console(stderr=True)
        on = console.is_terminal if live is None else live
        self._live = Live(console=console, refresh_per_second=4, transient=True) if on else None
        self._next = 0.0
        if self._live is not None:
            self._live.start()

    def show(self, line: str, force: bool = False) -> None:
        """Called often; redraws at most four times a second."""
        now = time.monotonic()
        if self._live is None:
            if self.lines and (now >= self._next_line or force):
                self._next_line = now + LINE_EVERY_S
                say(f"progress: {line}")
            return
        if now < self._next and not force:
            return
        self._next = now + 0.25
        self._live.update(Text(line))

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def run_command(run: Callable[[Settings, str, argparse.Namespace], int], settings: Settings,
                args: argparse.Namespace, expected: tuple[type[Exception], ...], failed: int) -> int:
    """Run a command of `python -m stream` on `--topic` (default ORDERS_TOPIC): an interrupt, a Kafka
    error or an `expected` failure is one `error:` line and an exit status; anything else is a bug and
    keeps its traceback. SIGTERM is an interrupt too: a job stops as on Ctrl-C, and continues when
    started again."""
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return run(settings, args.topic or settings.orders_topic, args)
    except KeyboardInterrupt:
        say("error: interrupted")
        return 130
    except KafkaException as exc:
        say(f"error: Kafka at {settings.bootstrap}: {_line(exc.args[0].str())}")
        return failed
    except expected as exc:
        say(f"error: {_line(str(exc))}")
        return failed


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def _line(text: str) -> str:
    return " ".join(text.split())
