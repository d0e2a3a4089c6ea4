"""uvicorn's websockets (sans-I/O) protocol, plus a hard abort the app can use on a viewer that stalled,
and less memory held per open connection.

Closing a socket politely waits for its send buffer to drain, which a peer that stopped reading never
lets happen: the connection and its buffer would stay until the kernel gives up. The app finds
`abort()` under scope["extensions"]["salesdash.abort"] and drops such a viewer at once.
"""

from __future__ import annotations

from uvicorn._types import ASGISendEvent
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

ABORT_EXTENSION = "salesdash.abort"


class AbortableWebSockets(WebSocketsSansIOProtocol):
    async def run_asgi(self) -> None:
        self.scope["extensions"][ABORT_EXTENSION] = {"abort": self.transport.abort}
        await super().run_asgi()

    async def send(self, message: ASGISendEvent) -> None:
        await super().send(message)
        if message["type"] == "websocket.accept":
            # The handshake's request and response (parsed headers) are never read again: ~3 KB a viewer.
            self.request = self.response = None  # type: ignore[assignment]
