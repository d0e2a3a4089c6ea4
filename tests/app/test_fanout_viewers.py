"""Fan-out: one pending message per viewer at most; a viewer that falls behind gets a fresh snapshot."""

from app.fanout import Viewer


def snapshot(day: str) -> bytes:
    return f"snapshot {day}".encode()


def test_a_new_viewer_starts_with_a_snapshot_then_gets_deltas() -> None:
    viewer = Viewer("2026-11-27")
    assert viewer.next_message(snapshot) == b"snapshot 2026-11-27"
    viewer.offer(b"delta 1")
    assert viewer.wake.is_set()
    assert viewer.next_message(snapshot) == b"delta 1"
    assert viewer.next_message(snapshot) is None


def test_a_viewer_that_falls_behind_is_resynced_instead_of_queueing() -> None:
    viewer = Viewer("2026-11-27")
    viewer.next_message(snapshot)
    for i in range(1000):
        viewer.offer(f"delta {i}".encode())
    assert viewer.pending is None  # nothing piles up
    assert viewer.next_message(snapshot) == b"snapshot 2026-11-27"
    viewer.offer(b"delta 1000")
    assert viewer.next_message(snapshot) == b"delta 1000"
