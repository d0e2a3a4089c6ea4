"""The Starlette app: the page, /api/snapshot, /healthz and the /ws live feed, over one Kafka consumer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from importlib.resources import files
from pathlib import Path
from typing import TypedDict

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket, WebSocketDisconnect

from app.config import AppSettings
from app.feed import AggregatesFeed
from app.security import SecurityHeaders
from app.view import SalesView
from app.viewers import Hub, Viewer
from stream.windows import day_of, parse_day

log = logging.getLogger("salesdash.app")
PLOTLY_JS = Path(str(files("plotly") / "package_data" / "plotly.min.js"))
MAX_CLIENT_FRAME = 4096
CATCH_UP_WAIT_S = 15.0


class State(TypedDict):
    view: SalesView
    feed: AggregatesFeed
    hub: Hub
    settings: AppSettings


def _today() -> str:
    return day_of(int(time.time() * 1000))


def _day(value: str | None) -> str:
    day = value or _today()
    parse_day(day)  # raises ValueError with a message fit for the client
    return day


async def homepage(request: Request) -> Response:
    settings: AppSettings = request.state.settings
    return FileResponse(settings.static_dir / "index.html")


async def plotly_js(request: Request) -> Response:
    return FileResponse(PLOTLY_JS, media_type="text/javascript")


async def _caught_up(feed: AggregatesFeed, timeout: float = CATCH_UP_WAIT_S) -> bool:
    # A restarted app answers with the whole day or not at all: never with a partial fold of the log.
    try:
        await asyncio.wait_for(feed.caught_up.wait(), timeout)
        return True
    except TimeoutError:
        return False


async def snapshot(request: Request) -> Response:
    try:
        day = _day(request.query_params.get("day"))
    except ValueError as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    if not await _caught_up(request.state.feed):
        return JSONResponse({"error": "still reading the aggregates topic; try again shortly"},
                            status_code=503, headers={"Retry-After": "2"})
    return JSONResponse(request.state.view.snapshot(day))


async def healthz(request: Request) -> Response:
    feed: AggregatesFeed = request.state.feed
    now = int(time.time() * 1000)
    body = {
        "kafka": feed.kafka_ok and now - feed.last_poll_ms < 10_000,
        "caught_up": feed.caught_up.is_set(),
        "data_age_ms": now - request.state.view.as_of_ms if request.state.view.as_of_ms else None,
    }
    return JSONResponse(body, status_code=200 if body["kafka"] and body["caught_up"] else 503)


async def live(websocket: WebSocket) -> None:
    hub: Hub = websocket.state.hub
    settings: AppSettings = websocket.state.settings
    try:
        day = _day(websocket.query_params.get("day"))
    except ValueError:
        await websocket.close(code=1008, reason="day must be YYYY-MM-DD")
        return
    await websocket.accept()
    if not await _caught_up(websocket.state.feed):
        await websocket.close(code=1013, reason="still loading; try again")
        return
    viewer = Viewer(day)
    hub.viewers.add(viewer)

    async def send() -> None:
        while True:
            await viewer.wake.wait()
            message = viewer.next_message(hub.snapshot_message)
            if message is not None:
                # A viewer that cannot take a message in time is dropped, not waited for.
                await asyncio.wait_for(websocket.send_text(message.decode()), settings.stall_timeout_s)
                hub.pushed += 1

    async def receive() -> None:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            data = message.get("text") or message.get("bytes") or b""
            if len(data) > MAX_CLIENT_FRAME:
                await websocket.close(code=1009, reason="frame too large")
                return
            # Viewers have nothing to say yet: anything else is ignored.

    sender = asyncio.create_task(send())
    receiver = asyncio.create_task(receive())
    try:
        await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        hub.viewers.discard(viewer)
        for task in (sender, receiver):
            task.cancel()
        for task in (sender, receiver):
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, TimeoutError, RuntimeError):
                await task
        with contextlib.suppress(RuntimeError):
            await websocket.close()


def create_app(settings: AppSettings | None = None) -> Starlette:
    settings = settings or AppSettings()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[State]:
        view = SalesView()
        feed = AggregatesFeed(settings.kafka, view)
        hub = Hub(view)
        tasks = [asyncio.create_task(feed.run()), asyncio.create_task(hub.run(settings.push_hz))]
        try:
            yield {"view": view, "feed": feed, "hub": hub, "settings": settings}
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    routes = [
        Route("/", homepage),
        Route("/api/snapshot", snapshot),
        Route("/healthz", healthz),
        Route("/vendor/plotly.min.js", plotly_js),
        WebSocketRoute("/ws", live),
        Mount("/static", StaticFiles(directory=settings.static_dir), name="static"),
    ]
    return Starlette(routes=routes, lifespan=lifespan, middleware=[Middleware(SecurityHeaders)])
