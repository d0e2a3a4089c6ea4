"""Which input partitions this worker owns, as a pure state machine: no Kafka, no threads, no clock.

Each event (faust's assignment, a pause, a recovery's outcome, a fenced or failed writer, a tick of the
monotonic clock passed in as a number) returns the actions the driver (stream/worker/counter.py) takes,
in order. A partition is in at most one of: being claimed (recovering), counted, parked (let go in a
rebalance with its state kept in case it comes back) or given up (its writer fenced: claimed again at a
due time if the group still assigns it here).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# A member whose partition moved hears of the rebalance at its next heartbeat (each second at most, see
# membership.py) and lets it go; one that heard nothing this long after giving a partition up still owns it.
RETAKE_AFTER_S = 3.0


@dataclass(frozen=True)
class Claim:
    """Recover the partition in the background (from the parked state if `from_parked`)."""

    partition: int
    from_parked: bool = False


@dataclass(frozen=True)
class Retake:
    """Claim a given-up partition the group still assigns here, with a fresh writer."""

    partition: int


@dataclass(frozen=True)
class Rebuild:
    """Claim the partition again and wait for its recovery: memory is ahead of the log."""

    partition: int


@dataclass(frozen=True)
class CancelClaim:
    """Cancel a recovery in flight; whatever it still yields is closed."""

    partition: int


@dataclass(frozen=True)
class LetGo:
    """Publish what is pending with a snapshot (the next owner starts where this one stops), wait for it
    and stop reading; on success keep the state parked if `park`, else close it. Each outcome comes back
    as `let_go_done`."""

    partitions: tuple[int, ...]
    park: bool


@dataclass(frozen=True)
class ClosePark:
    """Close a parked partition's writer: the group gave it to someone else."""

    partition: int


@dataclass(frozen=True)
class StartReading:
    """Its recovery succeeded: count it from where its state ends."""

    partition: int


@dataclass(frozen=True)
class StopReading:
    """Its writer is lost: stop reading it and close the writer."""

    partition: int


Action = Claim | Retake | Rebuild | CancelClaim | LetGo | ClosePark | StartReading | StopReading


@dataclass
class Ownership:
    assigned: set[int] = field(default_factory=set)  # what the group last said this worker owns
    claiming: set[int] = field(default_factory=set)
    counted: set[int] = field(default_factory=set)
    parked: set[int] = field(default_factory=set)
    given_up: dict[int, float] = field(default_factory=dict)  # partition: monotonic time to retake it
    _to_park: set[int] = field(default_factory=set, init=False)  # let go: parked if its publish succeeds

    def assigned_now(self, partitions: set[int]) -> list[Action]:
        """faust's assignment: the full set this worker now owns."""
        self.assigned = set(partitions)
        self.given_up.clear()  # the group has spoken: what it assigns here is claimed below, with the rest
        actions: list[Action] = [CancelClaim(p) for p in sorted(self.claiming - partitions)]
        self.claiming &= partitions
        actions += self._let_go(self.counted - partitions, park=False)
        actions += [ClosePark(p) for p in sorted(self.parked - partitions)]
        self.parked &= partitions
        for p in sorted(partitions - self.counted - self.claiming):
            actions.append(Claim(p, from_parked=p in self.parked))
            self.parked.discard(p)
            self.claiming.add(p)
        return actions

    def revoked(self, partitions: set[int]) -> list[Action]:
        """faust's pause: stop reading these at once, publishing first so the next owner starts there."""
        self.assigned -= partitions
        for p in partitions:
            self.given_up.pop(p, None)
        # A claim in progress finishes first, no later one starts.
        actions: list[Action] = [CancelClaim(p) for p in sorted(partitions & self.claiming)]
        self.claiming -= partitions
        return actions + self._let_go(partitions & self.counted, park=True)

    def stopping(self) -> list[Action]:
        """A graceful stop hands everything over."""
        return self._let_go(set(self.counted), park=True)

    def let_go_done(self, partition: int, ok: bool) -> list[Action]:
        if partition in self._to_park:
            self._to_park.discard(partition)
            if ok:
                self.parked.add(partition)
        return []

    def recovered(self, partition: int) -> list[Action]:
        if partition not in self.claiming:
            return []
        self.claiming.discard(partition)
        self.counted.add(partition)
        return [StartReading(partition)]

    def recovery_failed(self, partition: int) -> list[Action]:
        """The broker went away meanwhile: try again."""
        return [Claim(partition)] if partition in self.claiming else []

    def recovery_cancelled(self, partition: int) -> list[Action]:
        self.claiming.discard(partition)
        return []

    def fenced(self, partition: int, now: float) -> list[Action]:
        """Its writer can never commit again: give it up, to retake it if still assigned here later."""
        if partition not in self.counted:
            return []
        self.counted.discard(partition)
        self.given_up[partition] = now + RETAKE_AFTER_S
        return [StopReading(partition)]

    def rebuild(self, partition: int) -> list[Action]:
        """A failed publish or a record that broke counting: recover the partition from the log again."""
        if partition not in self.counted:
            return []
        self.counted.discard(partition)
        self.claiming.add(partition)
        return [StopReading(partition), Rebuild(partition)]

    def tick(self, now: float) -> list[Action]:
        """Take again a partition given up that the group still assigns here: nobody else counts it (a
        transaction the broker aborted for its timeout, with no other member, leaves it to us)."""
        actions: list[Action] = []
        for p, due in sorted(self.given_up.items()):
            if due > now:
                continue
            del self.given_up[p]
            if p in self.assigned and p not in self.counted and p not in self.claiming:
                self.claiming.add(p)
                actions.append(Retake(p))
        return actions

    def _let_go(self, partitions: set[int], park: bool) -> list[Action]:
        if not partitions:
            return []
        self.counted -= partitions
        if park:
            self._to_park |= partitions
        return [LetGo(tuple(sorted(partitions)), park=park)]
