"""uvicorn's websockets (sans-I/O) protocol, plus a hard abort the app can use on a viewer that stalled,
a direct write of frames made once for every viewer, and less memory held per open connection.

Closing a socket politely waits for its send buffer to drain, which a peer that stopped reading never
lets happen: the connection and its buffer would stay until the kernel gives up. The app finds
`abort()` under scope["extensions"]["salesdash.abort"] and drops such a viewer at once.

An ASGI send costs a task switch and re-frames the message for each socket; the fan-out instead frames
each message once (`text_frame`) and writes it with scope["extensions"]["salesdash.write"]["write"],
which takes it only while the socket is open and its transport not paused (else: use the ASGI send).
"""

from __future__ import annotations

from uvicorn._types import ASGISendEvent
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

ABORT_EXTENSION = "salesdash.abort"
WRITE_EXTENSION = "salesdash.write"


def text_frame(payload: bytes) -> bytes:
    """One whole websocket text frame as a server sends it: unmasked, unfragmented, uncompressed."""
    size = len(payload)
    if size < 126:
        head = bytes((0x81, size))
    elif size < 65536:
        head = bytes((0x81, 126)) + size.to_bytes(2, "big")
    else:
        head = bytes((0x81, 127)) + size.to_bytes(8, "big")
    return head + payload


class AbortableWebSockets(WebSocketsSansIOProtocol):
    async def run_asgi(self) -> None:
        self.scope["extensions"][ABORT_EXTENSION] = {"abort": self.transport.abort}
        self.scope["extensions"][WRITE_EXTENSION] = {"write": self.write_frame}
        await super().run_asgi()

    def write_frame(self, frame: bytes) -> bool:
        """Write a `text_frame` now if the socket takes it without waiting; False: send it the ASGI way."""
        # No extension may be in use: a frame made once cannot be compressed per socket.
        if (not self.handshake_complete or self.close_sent or self.disconnected or self.conn.extensions
                or self.conn.state is not State.OPEN or not self.writable.is_set()
                or self.transport.is_closing()):
            return False
        self.transport.write(frame)
        return True

    async def send(self, message: ASGISendEvent) -> None:
        await super().send(message)
        if message["type"] == "websocket.accept":
            # The handshake's request and response (parsed headers) are never read again: ~3 KB a viewer.
            self.request = self.response = None  # type: ignore[assignment]
