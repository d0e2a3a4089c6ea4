"""The fan-out bench's viewer client (bench.fanout._Viewer): every frame counted once however the reads
split them, a gap in `seq` counted as missed, a ping answered."""

from __future__ import annotations

import asyncio

import orjson

from app.server import text_frame
from bench.fanout import _Viewer


class _Transport:
    def __init__(self) -> None:
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)


def _viewer() -> tuple[_Viewer, _Transport]:
    loop = asyncio.new_event_loop()
    viewer = _Viewer("127.0.0.1:1", "/ws", [], loop.create_future())
    transport = _Transport()
    viewer.connection_made(transport)  # type: ignore[arg-type]
    loop.close()
    return viewer, transport


def _frame(kind: str, seq: int, sent_ms: int, pad: int = 0) -> bytes:
    # A nested "seq" before the message's own: only the last key is the message's step.
    body = {"type": kind, "sent_ms": sent_ms, "minutes": [{"seq": 999, "x": "y" * pad}], "epoch": "e",
            "seq": seq}
    return text_frame(orjson.dumps(body))


def test_frames_split_anyhow_across_reads_are_each_counted_once_and_a_gap_is_missed() -> None:
    viewer, _ = _viewer()
    handshake = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"
    # A 300-byte delta takes the 16-bit length form; the gap is 3 -> 5.
    stream = (handshake + _frame("snapshot", 1, 1000) + _frame("delta", 2, 2000)
              + _frame("delta", 3, 3000, pad=300) + _frame("delta", 5, 4000))
    for cut in (1, 7, 64, len(stream)):
        viewer, _ = _viewer()
        for at in range(0, len(stream), cut):
            viewer.data_received(stream[at:at + cut])
        assert viewer.open and viewer.messages == 4 and viewer.snapshots == 1, cut
        assert viewer.missed == 1 and viewer.seq == 5, cut
        assert len(viewer.lags) == 3 and not viewer.buffer, cut  # the snapshot on connect is no push


def test_a_ping_gets_a_masked_pong_with_its_payload() -> None:
    viewer, transport = _viewer()
    viewer.data_received(b"HTTP/1.1 101 Switching Protocols\r\n\r\n" + bytes([0x89, 3]) + b"abc")
    assert transport.written[-1] == bytes([0x8A, 0x83]) + b"\0\0\0\0abc"
