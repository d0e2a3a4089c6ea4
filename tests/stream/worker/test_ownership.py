"""The worker's partition ownership (stream/worker/ownership.py), event by event, without Kafka or a clock:
every transition the counting thread drives, then random event sequences against its invariants."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from stream.worker.ownership import (
    RETAKE_AFTER_S,
    Action,
    CancelClaim,
    Claim,
    ClosePark,
    LetGo,
    Ownership,
    Rebuild,
    Retake,
    StartReading,
    StopReading,
)


def counting(*partitions: int) -> Ownership:
    """A machine assigned these partitions, each recovered and counted."""
    machine = Ownership()
    machine.assigned_now(set(partitions))
    for p in partitions:
        machine.recovered(p)
    return machine


def test_an_assignment_claims_every_partition() -> None:
    machine = Ownership()
    assert machine.assigned_now({2, 0, 1}) == [Claim(0), Claim(1), Claim(2)]
    assert machine.claiming == {0, 1, 2}
    assert machine.counted == set()


def test_a_recovered_partition_is_read() -> None:
    machine = Ownership()
    machine.assigned_now({0, 1})
    assert machine.recovered(1) == [StartReading(1)]
    assert (machine.claiming, machine.counted) == ({0}, {1})


def test_an_assignment_while_a_claim_runs_neither_claims_it_twice_nor_drops_it() -> None:
    machine = Ownership()
    machine.assigned_now({0, 1})
    assert machine.assigned_now({0, 1, 2}) == [Claim(2)]
    assert machine.claiming == {0, 1, 2}


def test_an_assignment_without_a_partition_being_claimed_cancels_its_claim() -> None:
    machine = Ownership()
    machine.assigned_now({0, 1})
    assert machine.assigned_now({0}) == [CancelClaim(1)]
    assert machine.claiming == {0}
    assert machine.recovered(1) == []  # a late result of the cancelled claim is not counted


def test_an_assignment_lets_go_of_what_moved_without_parking_it() -> None:
    machine = counting(0, 1, 2)
    assert machine.assigned_now({0}) == [LetGo((1, 2), park=False)]
    machine.let_go_done(1, ok=True)
    assert (machine.counted, machine.parked) == ({0}, set())


def test_revoked_mid_claim_cancels_the_claim_and_its_late_result_is_not_counted() -> None:
    machine = Ownership()
    machine.assigned_now({0, 1})
    assert machine.revoked({1}) == [CancelClaim(1)]
    assert machine.claiming == {0}
    assert machine.recovered(1) == []  # the driver closes a result no action takes
    assert machine.counted == set()


def test_revoked_partitions_are_published_and_parked() -> None:
    machine = counting(0, 1, 2)
    assert machine.revoked({1, 2}) == [LetGo((1, 2), park=True)]
    machine.let_go_done(1, ok=True)
    machine.let_go_done(2, ok=False)  # its last publish failed: its writer is closed, nothing kept
    assert (machine.assigned, machine.counted, machine.parked) == ({0}, {0}, {1})


def test_reassigned_while_parked_it_is_claimed_from_the_park() -> None:
    machine = counting(0, 1)
    machine.revoked({0, 1})
    machine.let_go_done(0, ok=True)
    machine.let_go_done(1, ok=True)
    assert machine.assigned_now({1}) == [ClosePark(0), Claim(1, from_parked=True)]
    assert (machine.parked, machine.claiming) == (set(), {1})


def test_the_zombie_is_retaken_after_the_due_time_if_still_assigned() -> None:
    machine = counting(0, 1)
    assert machine.fenced(1, now=100.0) == [StopReading(1)]
    assert machine.given_up == {1: 100.0 + RETAKE_AFTER_S}
    assert machine.tick(100.0 + RETAKE_AFTER_S - 0.001) == []
    assert machine.tick(100.0 + RETAKE_AFTER_S) == [Retake(1)]
    assert (machine.given_up, machine.claiming, machine.counted) == ({}, {1}, {0})


def test_the_zombie_is_never_retaken_once_revoked() -> None:
    machine = counting(0, 1)
    machine.fenced(1, now=100.0)
    assert machine.revoked({1}) == []  # nothing of it is counted: nothing to publish
    assert machine.given_up == {}
    assert machine.tick(1_000.0) == []
    assert machine.claiming == set()


def test_a_new_assignment_claims_a_given_up_partition_at_once() -> None:
    machine = counting(0, 1)
    machine.fenced(1, now=100.0)
    assert machine.assigned_now({0, 1}) == [Claim(1)]
    assert machine.given_up == {}
    assert machine.tick(1_000.0) == []  # the group has spoken: no retake besides


def test_a_recovery_that_fails_is_retried() -> None:
    machine = Ownership()
    machine.assigned_now({3})
    assert machine.recovery_failed(3) == [Claim(3)]
    assert machine.claiming == {3}
    assert machine.recovered(3) == [StartReading(3)]


def test_a_cancelled_recovery_is_dropped() -> None:
    machine = Ownership()
    machine.assigned_now({3})
    assert machine.recovery_cancelled(3) == []
    assert machine.claiming == set()


def test_a_publish_failure_rebuilds_the_partition() -> None:
    machine = counting(0, 1)
    assert machine.rebuild(1) == [StopReading(1), Rebuild(1)]
    assert (machine.counted, machine.claiming) == ({0}, {1})
    assert machine.recovered(1) == [StartReading(1)]


def test_a_graceful_stop_hands_everything_over() -> None:
    machine = counting(0, 2)
    machine.assigned_now({0, 1, 2})
    assert machine.stopping() == [LetGo((0, 2), park=True)]


PARTITIONS = st.integers(0, 5)


class OwnershipSequences(RuleBasedStateMachine):
    """Random sequences of what faust, the recoveries, the writers and the clock report."""

    def __init__(self) -> None:
        super().__init__()
        self.machine = Ownership()
        self.now = 0.0

    def _drive(self, actions: list[Action]) -> None:
        # Each publish of a let-go partition either succeeds or fails; here, by the partition's parity.
        for action in actions:
            if isinstance(action, LetGo):
                for p in action.partitions:
                    self.machine.let_go_done(p, ok=p % 2 == 0)

    @rule(partitions=st.sets(PARTITIONS))
    def assigned(self, partitions: set[int]) -> None:
        self._drive(self.machine.assigned_now(partitions))

    @rule(partitions=st.sets(PARTITIONS))
    def revoked(self, partitions: set[int]) -> None:
        self._drive(self.machine.revoked(partitions))

    @rule(p=PARTITIONS)
    def recovered(self, p: int) -> None:
        self.machine.recovered(p)

    @rule(p=PARTITIONS)
    def recovery_failed(self, p: int) -> None:
        self.machine.recovery_failed(p)

    @rule(p=PARTITIONS)
    def fenced(self, p: int) -> None:
        self.machine.fenced(p, self.now)

    @rule(p=PARTITIONS)
    def rebuild(self, p: int) -> None:
        self.machine.rebuild(p)

    @rule(seconds=st.floats(0, 2 * RETAKE_AFTER_S))
    def tick(self, seconds: float) -> None:
        self.now += seconds
        self.machine.tick(self.now)

    @rule()
    def settle(self) -> None:
        """Every claim finishes and the due time passes: what is assigned is counted."""
        self.now += RETAKE_AFTER_S
        self.machine.tick(self.now)
        for p in sorted(self.machine.claiming):
            assert self.machine.recovered(p) == [StartReading(p)]
        assert self.machine.counted == self.machine.assigned

    @invariant()
    def in_one_state_at_most(self) -> None:
        m = self.machine
        states = [m.claiming, m.counted, m.parked, set(m.given_up)]
        for i, one in enumerate(states):
            for other in states[i + 1:]:
                assert not one & other, (one, other)

    @invariant()
    def nothing_unassigned_is_counted_claimed_or_given_up(self) -> None:
        m = self.machine
        assert m.counted | m.claiming | set(m.given_up) <= m.assigned

    @invariant()
    def nothing_assigned_is_parked(self) -> None:
        assert not self.machine.parked & self.machine.assigned

    @invariant()
    def every_assigned_partition_is_claimed_counted_or_given_up_not_yet_due(self) -> None:
        m = self.machine
        for p in m.assigned:
            assert p in m.claiming or p in m.counted or m.given_up.get(p, -1.0) > self.now, p


TestOwnershipSequences = OwnershipSequences.TestCase
TestOwnershipSequences.settings = settings(max_examples=100, stateful_step_count=30)  # cheap: pure code
