"""ALERT_WEBHOOK_URL: each alert raised or cleared, POSTed as JSON by one background thread.

An AlertWatch listener (`notify`) only puts the changes on a bounded queue and returns, so a slow or hung
endpoint never holds up the event loop or counting: a full queue drops the change (counted), each attempt
has a timeout, and a change is retried with exponential backoff a bounded number of times, then given up
(counted). An alert is the same alert while its kind, scope and subject are: a new detail is no change.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import queue
import threading
import time
import urllib.request
from dataclasses import asdict

import orjson

from app.alerts import Alert

log = logging.getLogger("salesdash.webhook")
QUEUE_SIZE = 1000
ATTEMPTS = 5
TIMEOUT_S = 5.0
BACKOFF_S = 0.5  # then 1, 2, 4 s between the attempts


def _key(alert: Alert) -> tuple[str, str, str]:
    return alert.kind, alert.scope, alert.subject


def changes(before: list[Alert], after: list[Alert], at_ms: int) -> list[dict[str, object]]:
    """The webhook bodies for going from `before` to `after`: cleared ones first, then raised ones."""
    was = {_key(a): a for a in before}
    now = {_key(a): a for a in after}
    gone = [a for k, a in was.items() if k not in now]
    new = [a for k, a in now.items() if k not in was]
    return ([{"event": "cleared", "alert": asdict(a), "at_ms": at_ms} for a in gone]
            + [{"event": "raised", "alert": asdict(a), "at_ms": at_ms} for a in new])


class Webhook:
    def __init__(self, url: str, queue_size: int = QUEUE_SIZE, attempts: int = ATTEMPTS,
                 timeout_s: float = TIMEOUT_S, backoff_s: float = BACKOFF_S) -> None:
        self.url = url
        self.attempts = attempts
        self.timeout_s = timeout_s
        self.backoff_s = backoff_s
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self._queue: queue.Queue[bytes | None] = queue.Queue(queue_size)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._deliver, name="alert-webhook", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Ends the thread after the attempt in flight; what is queued is not sent. Waits a second at most:
        the thread is a daemon, so an attempt still hanging then does not keep the process."""
        self._stopping.set()
        with contextlib.suppress(queue.Full):  # full: the thread is not waiting, it sees _stopping next
            self._queue.put_nowait(None)  # wakes a thread waiting on an empty queue
        if self._thread.is_alive():
            self._thread.join(1.0)

    def notify(self, before: list[Alert], after: list[Alert]) -> None:
        """An AlertWatch listener: queue the changes, never wait."""
        for body in changes(before, after, int(time.time() * 1000)):
            try:
                self._queue.put_nowait(orjson.dumps(body))
            except queue.Full:
                self.dropped += 1

    def _deliver(self) -> None:
        while not self._stopping.is_set():
            body = self._queue.get()
            if body is None:
                return
            if self._post(body):
                self.sent += 1
            else:
                self.failed += 1

    def _post(self, body: bytes) -> bool:
        for attempt in range(self.attempts):
            if attempt and self._stopping.wait(self.backoff_s * 2 ** (attempt - 1)):
                return False
            request = urllib.request.Request(self.url, data=body, method="POST",
                                             headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s):
                    return True  # a 2xx: urlopen raises HTTPError on the others
            # URLError, HTTPError (not 2xx), a timeout, a reset; HTTPException: an answer that is not HTTP.
            except (OSError, ValueError, http.client.HTTPException) as exc:
                log.warning("alert webhook attempt %d of %d failed: %s", attempt + 1, self.attempts, exc)
        return False
