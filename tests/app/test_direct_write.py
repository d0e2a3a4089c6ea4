"""The fan-out's direct write (app.server.text_frame, Viewer.offer): a frame made once per message is
written straight to an idle viewer's socket; anything queued, in flight or refused goes the ASGI way."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from app.fanout import Hub, Viewer
from app.server import text_frame
from stream.core.salesview import SalesView

DAY = "2026-11-27"
# Each side of the frame header's length encodings (7 bits, 16 bits, 64 bits).
_payloads = st.one_of(st.binary(max_size=300),
                      st.sampled_from([125, 126, 127, 65535, 65536, 70_000]).map(lambda n: b"x" * n))


def _parsed(data: bytes) -> Frame:
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    parser = Frame.parse(reader.read_exact, mask=False)
    try:
        next(parser)
    except StopIteration as done:
        frame: Frame = done.value
        return frame
    raise AssertionError("the frame is incomplete")


@given(_payloads)
def test_a_text_frame_is_what_a_websocket_server_sends(payload: bytes) -> None:
    frame = text_frame(payload)
    assert frame == Frame(Opcode.TEXT, payload).serialize(mask=False)  # the websockets library's own
    parsed = _parsed(frame)
    assert (parsed.opcode, parsed.fin, parsed.data) == (Opcode.TEXT, True, payload)


class Socket:
    def __init__(self, takes: bool = True) -> None:
        self.takes = takes
        self.written: list[bytes] = []

    def write(self, frame: bytes) -> bool:
        if self.takes:
            self.written.append(frame)
        return self.takes


def _viewer(socket: Socket) -> Viewer:
    viewer = Viewer(DAY)
    viewer.write = socket.write
    viewer.next_message(lambda day: "snapshot")  # its first snapshot went the ASGI way
    return viewer


def test_an_idle_viewer_gets_the_message_written_at_once_without_waking_its_sender() -> None:
    socket = Socket()
    viewer = _viewer(socket)
    assert viewer.offer('{"type":"delta"}') is True
    assert socket.written == [text_frame(b'{"type":"delta"}')]
    assert viewer.pending is None and not viewer.resync and not viewer.wake.is_set()


def test_a_refused_write_a_send_in_flight_or_a_queued_message_keeps_the_order_of_the_asgi_path() -> None:
    paused = Socket(takes=False)
    viewer = _viewer(paused)
    assert viewer.offer("delta 1") is False  # the transport is paused: the sender will wait for it
    assert viewer.pending == "delta 1" and viewer.wake.is_set()

    socket = Socket()
    sending = _viewer(socket)
    sending.sending_since = 1.0  # a message is on its way: nothing may overtake it
    assert sending.offer("delta 1") is False and sending.pending == "delta 1"

    queued = Viewer(DAY)  # its first snapshot is still due
    queued.write = socket.write
    assert queued.offer("delta 1") is False and queued.resync
    assert socket.written == []


def test_one_frame_serves_every_viewer_of_a_tick() -> None:
    hub = Hub(SalesView())
    sockets = [Socket() for _ in range(3)]
    for socket in sockets:
        hub.viewers.add(_viewer(socket))
    hub.alerts_changed([], [])  # nothing changed: nothing written
    assert all(socket.written == [] for socket in sockets)
    hub.kafka_up = lambda: False
    hub.publish()  # a health change, to everyone
    assert [len(s.written) for s in sockets] == [1, 1, 1]
    assert sockets[0].written[0] is sockets[1].written[0] is sockets[2].written[0]  # framed once
    assert _parsed(sockets[0].written[0]).data.startswith(b'{"type":"health"')
    assert hub.pushed == 3


def test_a_health_change_found_while_a_snapshot_is_made_is_not_written_before_it() -> None:
    up = [True]
    hub = Hub(SalesView(), lambda: up[0])
    socket = Socket()
    viewer = _viewer(socket)
    hub.viewers.add(viewer)
    viewer.ask_resync()
    up[0] = False  # noticed by the snapshot itself (Hub._check_health), offered to everyone
    snapshot = viewer.next_message(hub.snapshot_message)
    assert socket.written == []  # the snapshot goes first, and it says kafka: false already
    assert b'"kafka":false' in (snapshot.encode() if isinstance(snapshot, str) else snapshot or b"")
