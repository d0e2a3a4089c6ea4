"""`make demo`: broker, worker, app and a modest load, all local; prints the URL; Ctrl-C stops everything.
The first run also backfills last year's Black Friday, so the page has a past day to replay."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from broker import Broker
from broker.kafka import BrokerError

ROOT = Path(__file__).resolve().parent.parent
VAR = Path(os.environ.get("DEMO_VAR") or ROOT / "var" / "demo")  # the demo's data and logs


def _spawn(name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    log = (VAR / f"{name}.log").open("ab")
    # Own session: Ctrl-C reaches only this script, which then stops the children in order.
    return subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)


def _stop(process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _wait_http(url: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return True
        except OSError:
            time.sleep(0.3)
    return False


def main() -> int:
    kafka_port = int(os.environ.get("DEMO_KAFKA_PORT", "9092"))
    app_port = int(os.environ.get("DEMO_PORT", "8000"))
    rate = os.environ.get("DEMO_RATE", "40")
    past_day = os.environ.get("DEMO_REPLAY_DAY", "2025-11-28")
    past_orders = os.environ.get("DEMO_REPLAY_ORDERS", "200000")
    VAR.mkdir(parents=True, exist_ok=True)
    broker = Broker(VAR / "kafka", port=kafka_port)
    children: list[tuple[str, subprocess.Popen[bytes]]] = []
    stopping = False

    def _on_signal(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    try:
        print(f"starting Kafka on 127.0.0.1:{kafka_port} (logs in {VAR}) ...", flush=True)
        broker.start()
        env = dict(os.environ, KAFKA_BOOTSTRAP=broker.bootstrap, FAUST_DATADIR=str(VAR / "faust"))
        backfilled = VAR / f"backfilled-{past_day}"
        if not backfilled.exists():
            # Before any live load: a past day must come first in the log (the worker counts it, a replay
            # finds it); once per data directory, since a second backfill would be refused.
            print(f"backfilling {past_day} ({int(past_orders):,} orders) so it can be replayed ...",
                  flush=True)
            backfill = _spawn("backfill", ["-m", "loadgen", "backfill", "--day", past_day, "--orders",
                                           past_orders, "--dup-rate", "0.01", "--late-rate", "0.01",
                                           "--bad-rate", "0.001"], env)
            if backfill.wait() == 0:
                backfilled.touch()
            else:
                print(f"warning: backfilling {past_day} failed; see {VAR / 'backfill.log'}",
                      file=sys.stderr)
        children.append(("stream", _spawn("stream", ["-m", "stream"], env)))
        children.append(("app", _spawn("app", ["-m", "app", "--port", str(app_port)], env)))
        children.append(("loadgen", _spawn("loadgen", ["-m", "loadgen", "run", "--rate", rate, "--seed",
                                                       str(int(time.time()))], env)))
        url = f"http://127.0.0.1:{app_port}"
        if not _wait_http(f"{url}/healthz", 60):
            print(f"error: the app did not come up; see {VAR / 'app.log'}", file=sys.stderr)
            return 1
        print(f"\n  salesdash is live: {url}\n  ({rate} orders/s; {past_day} can be replayed from the page; "
              "Ctrl-C stops everything)\n", flush=True)
        while not stopping:
            for name, child in children:
                if child.poll() is not None:
                    print(f"error: {name} exited with {child.returncode}; see {VAR / (name + '.log')}",
                          file=sys.stderr)
                    return 1
            time.sleep(0.5)
        return 0
    except BrokerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        print("stopping ...", flush=True)
        for _, child in reversed(children):  # load first, Kafka last
            _stop(child)
        broker.stop()
        print("stopped.", flush=True)


if __name__ == "__main__":
    sys.exit(main())
