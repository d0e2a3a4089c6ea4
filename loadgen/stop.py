"""Ctrl-C (or SIGTERM): the first stops making events, and the run waits for Kafka's acknowledgements;
the next one stops waiting (what is still unacknowledged is reported as such)."""

from __future__ import annotations

import signal


class Stop:
    def __init__(self) -> None:
        self.presses = 0

    def install(self) -> Stop:
        signal.signal(signal.SIGINT, self._signalled)
        signal.signal(signal.SIGTERM, self._signalled)
        return self

    def _signalled(self, *_: object) -> None:
        self.presses += 1

    @property
    def requested(self) -> bool:
        return self.presses > 0
