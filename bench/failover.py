"""Failover stage: two workers under 2,000 orders/s on 8 partitions, handing partitions over again and again.

Rounds of (a) a graceful handover: SIGTERM one worker, then start it again (its join is a graceful handover
too: the survivor publishes and lets go); (b) kill -9 one worker (the survivor takes over once the dead
one's session times out), then start it again; (c) a single worker (the other stopped) restarted.

Each worker runs at log level info, one log per process: its "owning partitions" lines say what it was
assigned and when, its "counting partitions" lines when it counts them. A thread follows the aggregates
topic (committed records only) and keeps each checkpoint's `written_ms`. A moved partition's figures stood
still for the longest gap between its consecutive checkpoints around the move, while its input kept
advancing (the load never stops).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

from bench.follow import Checkpoints, log_lines, now_ms
from bench.report import Figure
from bench.stack import PARTITIONS, Stack
from bench.stats import Summary
from bench.timeline import first_after, joined_ms, owned, ready_ms, standstill
from stream.kafka.admin import ensure_topics

RATE = 2_000
GRACEFUL_S, KILL_OVER_S, SINGLE_S = 3.0, 3.0, 5.0


@dataclass
class Event:
    kind: str  # "graceful", "kill" or "single"
    what: str  # e.g. "SIGTERM a", "b joins"
    at_ms: int  # when the bench acted
    moved: frozenset[int]  # partitions whose owner changed
    assigned_ms: int  # the last worker's new assignment (its newest "owning partitions" line)
    stable_ms: int  # every partition counting at its owner again
    joined_ms: int | None = None  # a started worker's group join


class Group:
    """The workers of one consumer group on a stack's topics, by name; each process has a log of its own."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.live: dict[str, str] = {}  # worker name -> its process's log
        self.follower = Checkpoints(stack.settings.bootstrap, stack.settings.aggregates_topic, PARTITIONS)
        self._started = 0

    def start(self, name: str) -> None:
        self._started += 1
        log = f"worker-{name}-{self._started}"
        self.stack.start(name, "-m", "stream", "--loglevel", "info", log=log)
        self.live[name] = log

    def stop(self, name: str, kill: bool) -> None:
        process = self.stack.processes.pop(name)
        self.live.pop(name)
        if kill:
            process.kill()
        else:
            process.terminate()
        process.wait(60)

    def owned(self, name: str) -> frozenset[int]:
        return owned(log_lines(self.stack.log_path(self.live[name])))

    def wait_stable(self, since_ms: int, timeout: float = 120) -> tuple[int, int]:
        """(when the last live worker was assigned anew since `since_ms`, when every one counts all it was
        assigned and together they own every partition); returns once each partition has a checkpoint from
        after that."""
        every = frozenset(range(PARTITIONS))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.stack.check()
            lines = {name: log_lines(self.stack.log_path(log)) for name, log in self.live.items()}
            ready = [ready_ms(found, since_ms) for found in lines.values()]
            sets = [owned(found) for found in lines.values()]
            if all(r is not None for r in ready) and frozenset().union(*sets) == every and all(sets):
                stable = max(r for r in ready if r is not None)
                assigned = max(next(line.ms for line in reversed(found) if line.kind == "owning")
                               for found in lines.values())
                while not self.follower.all_since(stable):
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"no checkpoint of some partition after {stable} "
                                           f"(logs in {self.stack.logs})")
                    time.sleep(0.05)
                return assigned, stable
            time.sleep(0.1)
        raise RuntimeError(f"the workers {sorted(self.live)} did not settle within {timeout:.0f} s "
                           f"(logs in {self.stack.logs})")

    def leave(self, name: str, kind: str, kill: bool) -> Event:
        moved = self.owned(name)
        at = now_ms()
        self.stop(name, kill)
        return Event(kind, f"{'kill -9' if kill else 'SIGTERM'} {name}", at, moved, *self.wait_stable(at))

    def join(self, name: str) -> Event:
        at = now_ms()
        self.start(name)
        assigned, stable = self.wait_stable(at)
        joined = joined_ms(log_lines(self.stack.log_path(self.live[name])), at)
        return Event("graceful", f"{name} joins", at, self.owned(name), assigned, stable, joined)

    def restart_alone(self, name: str) -> Event:
        at = now_ms()
        self.stop(name, kill=False)
        self.start(name)
        assigned, stable = self.wait_stable(at)
        joined = joined_ms(log_lines(self.stack.log_path(self.live[name])), at)
        return Event("single", f"{name} restarted alone", at, self.owned(name), assigned, stable, joined)


def run(bootstrap: str, quick: bool) -> list[Figure]:
    rounds = 1 if quick else 5
    stack = Stack(bootstrap, "failover", worker_log="info")
    ensure_topics(stack.settings)
    group = Group(stack)
    events: list[Event] = []
    try:
        group.follower.start()
        stack.start("load", "-m", "loadgen", "run", "--rate", str(RATE), "--duration", "36000")
        group.start("a")
        group.start("b")
        group.wait_stable(0)
        print(f"two workers counting under {RATE:,} orders/s; {rounds} round(s) of each kind ...", flush=True)
        for _ in range(rounds):
            events += [group.leave("a", "graceful", kill=False), group.join("a")]
            _said(events[-2:])
        for _ in range(rounds):
            events += [group.leave("b", "kill", kill=True), group.join("b")]
            _said(events[-2:])
        events.append(group.leave("b", "graceful", kill=False))  # from here on a works alone
        for _ in range(rounds):
            events.append(group.restart_alone("a"))
            _said(events[-1:])
        return _figures(events, group.follower, stack.settings.session_timeout_s, quick)
    finally:
        group.follower.stop()
        stack.close()


def _said(events: list[Event]) -> None:
    for e in events:  # progress, so a long run shows where it is
        assigned, settled = (e.assigned_ms - e.at_ms) / 1000, (e.stable_ms - e.assigned_ms) / 1000
        print(f"  {e.what}: partitions {sorted(e.moved)} moved; assigned {assigned:.1f} s later, all "
              f"counting {settled:.1f} s after that", flush=True)


def still_s(event: Event, written: list[int]) -> float:
    """How long one partition's figures stood still in the event: its longest checkpoint gap from the
    bench's action until its first checkpoint after everything counted again."""
    until = first_after(written, event.stable_ms)
    gap = standstill(written, event.at_ms, until if until is not None else event.stable_ms)
    return (gap or 0) / 1000


def counting_again_s(event: Event, written: list[int]) -> float:
    """From the worker's group join to the partition's first checkpoint after it."""
    assert event.joined_ms is not None
    first = first_after(written, event.joined_ms)
    return ((first if first is not None else event.stable_ms) - event.joined_ms) / 1000


def _figures(events: list[Event], follower: Checkpoints, timeout_s: int, quick: bool) -> list[Figure]:
    written = {p: follower.written(p) for p in range(PARTITIONS)}
    moved: dict[str, list[float]] = {"graceful": [], "kill": [], "single": []}
    stayed: dict[str, list[float]] = {"graceful": [], "kill": [], "single": []}
    again: list[float] = []
    for event in events:
        for p in range(PARTITIONS):
            (moved if p in event.moved else stayed)[event.kind].append(still_s(event, written[p]))
            if event.kind == "single":
                again.append(counting_again_s(event, written[p]))
    count = {kind: sum(e.kind == kind for e in events) for kind in moved}
    graceful, killed, single = (Summary.of(moved[k]) for k in ("graceful", "kill", "single"))
    over = Summary.of(s - timeout_s for s in moved["kill"])
    counted = Summary.of(again)
    print(f"  graceful handovers ({count['graceful']}): moved partitions still p50 {graceful.p50:.2f} s, max "
          f"{graceful.max:.2f} s; kill -9 ({count['kill']}): p50 {killed.p50:.2f} s, max {killed.max:.2f} s "
          f"(session timeout {timeout_s} s); single worker restarted ({count['single']}): counting again "
          f"p50 {counted.p50:.2f} s, max {counted.max:.2f} s after joining", flush=True)
    samples = {k: f"{len(v)} partition moves in {count[k]} events" for k, v in moved.items()}
    out = [
        Figure("failover", f"graceful handover: a moved partition's figures still, p50 "
               f"({samples['graceful']}; SIGTERM of a worker and a worker joining)", graceful.p50, "s"),
        Figure("failover", "graceful handover: a moved partition's figures still, max", graceful.max, "s",
               goal=f"≤ {GRACEFUL_S:g} s", met=graceful.max <= GRACEFUL_S),
        Figure("failover", f"kill -9: a moved partition's figures still, p50 ({samples['kill']})", killed.p50,
               "s", "STREAM_SESSION_TIMEOUT_S", timeout_s),
        Figure("failover", "kill -9: a moved partition's figures still, max", killed.max, "s",
               "STREAM_SESSION_TIMEOUT_S", timeout_s),
        Figure("failover", "kill -9: still beyond the session timeout, p50", over.p50, "s"),
        Figure("failover", "kill -9: still beyond the session timeout, max", over.max, "s",
               goal=f"≤ {KILL_OVER_S:g} s", met=over.max <= KILL_OVER_S),
        Figure("failover", f"single worker restarted: group join to a partition's first checkpoint, p50 "
               f"({len(again)} partitions in {count['single']} restarts)", counted.p50, "s"),
        Figure("failover", "single worker restarted: group join to a partition's first checkpoint, max",
               counted.max, "s", goal=f"≤ {SINGLE_S:g} s", met=counted.max <= SINGLE_S),
        Figure("failover", "single worker restarted: its partitions' figures still (SIGTERM to first "
               "checkpoint), max", single.max, "s"),
    ]
    for kind in ("graceful", "kill", "single"):
        # Where the time went: the group's rebalance, then the new owners' recovery.
        assigned = Summary.of((e.assigned_ms - e.at_ms) / 1000 for e in events if e.kind == kind)
        recovered = Summary.of((e.stable_ms - e.assigned_ms) / 1000 for e in events if e.kind == kind)
        out += [Figure("failover", f"{kind}: the bench's action to the last new assignment ('owning "
                       f"partitions' line), max (p50 {assigned.p50:.2f} s)", assigned.max, "s"),
                Figure("failover", f"{kind}: that assignment to every partition counting again, max "
                       f"(p50 {recovered.p50:.2f} s)", recovered.max, "s")]
    for kind in ("graceful", "kill"):
        if stayed[kind]:
            out.append(Figure("failover", f"{kind}: partitions that stayed with their worker, figures still "
                              f"through the rebalance, median (for comparison)",
                              statistics.median(stayed[kind]), "s"))
    return out
