"""Kafka look-ups made for requests (the log's days, the replay registry): single-flight, cached, and run
on a small pool of their own. A flood of requests for days nobody has then costs one scan at a time,
never a queue of them, and never the default pool the live feed and the health probe run on."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")
WORKERS = 2  # one slow look-up (a broker that stalls) leaves the other kind going


class Lookups:
    def __init__(self, workers: int = WORKERS) -> None:
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="salesdash-lookup")
        self._flights: dict[str, asyncio.Future[Any]] = {}
        self._answers: dict[str, tuple[float, Any]] = {}  # key -> (monotonic time it was asked, answer)

    async def get(self, key: str, fetch: Callable[[], T], fresh_s: float) -> T:
        """fetch()'s answer asked at most `fresh_s` ago; callers meanwhile share the one in flight."""
        answer = self._answers.get(key)
        if answer is not None and time.monotonic() - answer[0] < fresh_s:
            return answer[1]  # type: ignore[no-any-return]
        flight = self._flights.get(key)
        if flight is None:
            asked = time.monotonic()
            flight = self._flights[key] = asyncio.get_running_loop().run_in_executor(self._pool, fetch)
            flight.add_done_callback(lambda done: self._landed(key, asked, done))
        # Shielded: a caller that gives up (its client left) does not cancel the others' answer.
        return await asyncio.shield(flight)

    async def run(self, work: Callable[[], T]) -> T:
        """work() on this pool, unshared: a write (deleting topics) is no other caller's answer."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, work)

    def _landed(self, key: str, asked: float, flight: asyncio.Future[Any]) -> None:
        self._flights.pop(key, None)
        if not flight.cancelled() and flight.exception() is None:
            self._answers[key] = (asked, flight.result())

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
