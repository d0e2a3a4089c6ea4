"""A websocket viewer for the freshness stage: `python -m bench.watch WS_URL OUT` writes one line per
message received, `receive-ms sent-ms {"partition": offset, ...}`, until terminated.

The receive time is taken as soon as the whole message is in, before it is parsed; the offsets say which
orders the message's figures include (app/view.py)."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import websockets

from bench.stats import Update


async def watch(url: str, out: str) -> None:
    stop = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set_result, None)
    with open(out, "w") as sink:
        async with websockets.connect(url, max_size=None, compression=None, open_timeout=30) as ws:
            print("connected", flush=True)
            while not stop.done():
                receiving = asyncio.ensure_future(ws.recv())
                await asyncio.wait([receiving, stop], return_when=asyncio.FIRST_COMPLETED)
                if not receiving.done():
                    receiving.cancel()
                    break
                at = time.time() * 1000
                message = orjson.loads(receiving.result())
                offsets = orjson.dumps(message.get("offsets", {})).decode()
                sink.write(f"{at:.1f} {message.get('sent_ms', 0)} {offsets}\n")
                sink.flush()


def start(http_url: str, out: str) -> subprocess.Popen[str]:
    """The viewer process for the app at `http_url`, once its socket is open."""
    ws_url = http_url.replace("http", "ws", 1) + "/ws"
    viewer = subprocess.Popen([sys.executable, "-m", "bench.watch", ws_url, out],
                              cwd=Path(__file__).resolve().parent.parent, stdout=subprocess.PIPE, text=True)
    assert viewer.stdout is not None
    if viewer.stdout.readline().strip() != "connected":
        viewer.kill()
        raise RuntimeError(f"the viewer could not connect to {http_url}/ws")
    return viewer


def read(path: str) -> tuple[list[Update], list[Update]]:
    """The lines `watch` wrote: updates by receive time, and the same updates by the app's send time."""
    received, sent = [], []
    with open(path) as lines:
        for line in lines:
            at, sent_ms, offsets = line.split(" ", 2)
            ends = {int(p): o for p, o in orjson.loads(offsets).items()}
            received.append((float(at), ends))
            sent.append((float(sent_ms), ends))
    return received, sent


def last(path: str) -> dict[str, int]:
    """The offsets of the newest update written so far."""
    with open(path, "rb") as lines:
        newest = b""
        for newest in lines:  # noqa: B007 - the loop leaves the last line behind
            pass
    return orjson.loads(newest.split(b" ", 2)[2]) if newest.count(b" ") >= 2 else {}


if __name__ == "__main__":
    asyncio.run(watch(sys.argv[1], sys.argv[2]))
