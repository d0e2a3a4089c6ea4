"""What a worker learns of the other workers' partitions from their checkpoints (stream/worker/idle.py):
a partition is busy while counting moved its watermark within STREAM_IDLE_S; idle partitions follow the
lowest busy watermark of the whole group."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stream.worker.idle import PeerMark, busy_peers, followed, seen

IDLE_S = 30.0

# A peer partition's checkpoints as read: (watermark, a follow step?, seconds since the previous one).
_checkpoints = st.lists(st.tuples(st.integers(0, 10**6), st.booleans(), st.floats(0, 20)), min_size=1,
                        max_size=20)


def _read(checkpoints: list[tuple[int, bool, float]]) -> tuple[PeerMark, list[float]]:
    mark: PeerMark | None = None
    at, times = 1_000.0, []
    for watermark, step, gap in checkpoints:
        at += gap
        times.append(at)
        mark = seen(mark, watermark, step, at)
    assert mark is not None
    return mark, times


@given(_checkpoints, st.floats(0, 100))
def test_a_peer_partition_is_busy_while_a_counting_checkpoint_raised_its_watermark_within_the_idle_time(
        checkpoints: list[tuple[int, bool, float]], after: float) -> None:
    mark, times = _read(checkpoints)
    now = times[-1] + after
    # the spec: some checkpoint after the first, not a follow step, raised the watermark it followed
    raised = [times[i] for i in range(1, len(checkpoints))
              if not checkpoints[i][1] and checkpoints[i][0] > checkpoints[i - 1][0]]
    expected = {7: checkpoints[-1][0]} if any(now - t < IDLE_S for t in raised) else {}
    assert busy_peers({7: mark}, now, IDLE_S) == expected


@given(st.lists(st.integers(0, 10**6), min_size=1, max_size=20))
def test_follow_steps_alone_never_make_a_peer_partition_busy(watermarks: list[int]) -> None:
    mark, times = _read([(w, True, 1.0) for w in watermarks])
    assert mark.watermark == watermarks[-1]
    assert busy_peers({0: mark}, times[-1], IDLE_S) == {}


@pytest.mark.parametrize(("own", "idle", "peers", "expected"), [
    ({2: 0, 3: 0}, {2, 3}, {0: 50, 1: 70}, 50),  # a worker owning only quiet partitions follows the peers
    ({2: 60, 3: 0}, {3}, {0: 50, 1: 70}, 50),  # the lowest of its own busy ones and the peers'
    ({2: 40, 3: 0}, {3}, {0: 50}, 40),
    ({2: 0, 3: 0}, {2, 3}, {0: 50, 1: 0}, None),  # a busy peer partition that has counted nothing yet
    ({2: 0, 3: 0}, {2, 3}, {}, None),  # no busy partition anywhere and nothing counted: held
    ({2: 80, 3: 0}, {2, 3}, {2: 10, 0: 50}, 50),  # a stale peer view of a partition it owns is ignored
])
def test_idle_partitions_follow_the_lowest_busy_watermark_of_the_whole_group(
        own: dict[int, int], idle: set[int], peers: dict[int, int], expected: int | None) -> None:
    assert followed(own, idle, peers) == expected


@pytest.mark.parametrize(("own", "idle", "known", "expected"), [
    ({2: 0, 3: 0}, {2, 3}, {0: 50, 1: 70}, 70),  # all quiet: the highest any peer partition reached
    ({2: 90, 3: 0}, {2, 3}, {0: 50, 1: 70}, 90),  # or its own
    ({2: 0, 3: 0}, {2, 3}, {2: 95, 0: 50}, 50),  # a peer's view of a partition it owns is not taken
])
def test_with_no_busy_partition_anywhere_idle_ones_follow_the_highest_reached(
        own: dict[int, int], idle: set[int], known: dict[int, int], expected: int | None) -> None:
    assert followed(own, idle, {}, known) == expected


_marks = st.dictionaries(st.integers(0, 15), st.integers(0, 10**6), max_size=8)


@given(_marks, st.sets(st.integers(0, 15)), _marks, _marks)
def test_the_followed_watermark_is_a_busy_one_and_never_ahead_of_any(
        own: dict[int, int], idle: set[int], peers: dict[int, int], quiet: dict[int, int]) -> None:
    known = {**quiet, **peers}  # every peer mark: the busy ones and the quiet ones
    target = followed(own, idle, peers, known)
    busy = [w for p, w in own.items() if p not in idle] + [w for p, w in peers.items() if p not in own]
    reached = list(own.values()) + [w for p, w in known.items() if p not in own]
    if busy:
        assert (target is None) == (min(busy) == 0)
        assert target is None or (target in busy and all(target <= w for w in busy))
    else:  # the load stopped everywhere: the highest any partition reached, held if none counted
        assert target == (max(reached, default=0) or None)
