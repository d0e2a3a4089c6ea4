"""A merchant's live feed: a viewer of one merchant's day on the hub's fan-out (app.fanout).

Its messages are whole snapshots of the merchant (stream.core.salesview.merchant_snapshot: a few KB, the
merchant's own figures from its home partition), encoded once per merchant and push tick and shared by
everyone watching it; whenever its day changes the viewer is asked to resync, so a slow one still holds
one message at most.
"""

from __future__ import annotations

from collections.abc import Callable

from app.fanout import Frame, Hub, Viewer


class MerchantViewer(Viewer):
    def __init__(self, day: str, merchant: str, hub: Hub) -> None:
        super().__init__(day)
        self.merchant = self._merchant = merchant
        self._hub = hub

    def next_message(self, snapshot: Callable[[str], Frame]) -> Frame | None:
        return super().next_message(lambda day: self._hub.merchant_message(day, self._merchant))

