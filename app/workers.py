"""`python -m app --workers N`: N app processes on one port, each with a listener of its own bound with
SO_REUSEPORT (the kernel spreads new connections over them) and each folding the aggregates itself. No
state is shared: a process that dies takes only its own sockets, whose pages reconnect to the others. The
parent only supervises: it starts the processes, starts another for one that dies, and stops them all."""

from __future__ import annotations

import ctypes
import signal
import socket
import subprocess
import sys
import time
from types import FrameType

RESTART_AFTER_S = 1.0  # a process that died is replaced this soon (not at once: no spin on a crash loop)
EARLY_EXIT_S = 5.0  # one that exits this soon after starting is misconfigured: the whole app stops
STOP_WAIT_S = 20.0
_PR_SET_PDEATHSIG = 1


def listener(host: str, port: int) -> socket.socket:
    """A TCP socket bound to host:port beside the other processes' (SO_REUSEPORT); OSError if taken."""
    address = host.strip("[]")
    sock = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((address, port))
    except OSError:
        sock.close()
        raise
    return sock


def _die_with_parent() -> None:
    # In a session of its own (a Ctrl-C or a group kill reaches the parent once, which stops each child
    # once); the kernel still ends it if the parent is killed outright.
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _spawn(args: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "app", *args], stdin=subprocess.DEVNULL,
                            start_new_session=True, preexec_fn=_die_with_parent)


def supervise(args: list[str], count: int) -> int:
    """Run `count` processes of `python -m app <args>` until SIGINT or SIGTERM; returns the exit status."""
    stopping: list[int] = []

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.append(signum)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    children = [(_spawn(args), time.monotonic()) for _ in range(count)]
    status = 0
    while not stopping:
        for i, (child, started) in enumerate(children):
            code = child.poll()
            if code is None:
                continue
            if time.monotonic() - started < EARLY_EXIT_S:
                print(f"error: an app process exited with {code} as it started; stopping", file=sys.stderr,
                      flush=True)
                stopping.append(signal.SIGTERM)
                status = code or 1
                break
            print(f"salesdash: app process {child.pid} exited with {code}; starting another", file=sys.stderr,
                  flush=True)
            time.sleep(RESTART_AFTER_S)
            children[i] = (_spawn(args), time.monotonic())
        time.sleep(0.2)
    for child, _ in children:
        if child.poll() is None:
            child.terminate()
    deadline = time.monotonic() + STOP_WAIT_S
    for child, _ in children:
        try:
            child.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    return status
