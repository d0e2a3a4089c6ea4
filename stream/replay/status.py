"""What a long command shows while it runs: one live line on stderr, drawn only on a terminal."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

from rich.console import Console
from rich.live import Live
from rich.text import Text

from stream.config import Settings
from stream.kafka import KafkaException


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


def run_command(run: Callable[[Settings, str, argparse.Namespace], int], settings: Settings,
                args: argparse.Namespace, expected: tuple[type[Exception], ...], failed: int) -> int:
    """Run a command of `python -m stream` on `--topic` (default ORDERS_TOPIC): an interrupt, a Kafka
    error or an `expected` failure is one `error:` line and an exit status; anything else is a bug and
    keeps its traceback."""
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


def _line(text: str) -> str:
    return " ".join(text.split())
