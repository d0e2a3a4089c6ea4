"""A merchant's live feed: a viewer of one merchant's day on the hub's fan-out (app.fanout).

Its first message is a snapshot of the merchant (stream.core.salesview.merchant_snapshot: the merchant's
own figures from its home partition, and the compare day's object of its own figures,
app.compare.with_merchant_compare); then, whenever its day changes, a delta of the merchant's touched
minutes (Hub.publish), numbered per merchant like the day's (`epoch`, `seq`). Both are encoded
once per merchant and push tick and shared by everyone watching it; a slow viewer still holds one message
at most.
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

