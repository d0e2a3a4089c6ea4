"""The Starlette app: the page, /api/snapshot, /healthz, /metrics and the /ws live feed, over one Kafka
consumer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from importlib.resources import files
from pathlib import Path
from typing import Any, TypedDict

import orjson
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from app import alerts, compare, links, metrics, verify
from app.access import origin_ok, token_ok
from app.alert_watch import AlertWatch
from app.bodies import TooLarge, json_body, too_large
from app.fanout import Hub, Viewer
from app.feed import AggregatesFeed, Feed
from app.merchant_feed import MerchantViewer
from app.replay_socket import MAX_SPEED, bounded_speed, failure, watch
from app.security import SecurityHeaders
from app.server import ABORT_EXTENSION, WRITE_EXTENSION
from app.sessions import Library, ReplayRefused
from app.webhook import Webhook
from stream.config import AppSettings
from stream.core.eventtime import day_of, parse_day
from stream.core.salesview import SalesView
from stream.replay.session import valid_id

log = logging.getLogger("salesdash.app")
PLOTLY_JS = Path(str(files("plotly") / "package_data" / "plotly.min.js"))
MAX_CLIENT_FRAME = 4096
HH_MM = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
AT_MS = re.compile(r"[0-9]{1,15}")  # ASCII digits (str.isdigit takes "٣" and "²"), below year 30,000
CATCH_UP_WAIT_S = 15.0
CLOSE_WAIT_S = 1.0
_closing: set[asyncio.Future[None]] = set()  # polite closes in flight, kept from the garbage collector


class State(TypedDict):
    view: SalesView
    feed: Feed
    hub: Hub
    library: Library
    settings: AppSettings
    comparisons: compare.Comparisons
    verifier: verify.Verifier
    alerts: AlertWatch
    webhook: Webhook | None


def connect(settings: AppSettings, view: SalesView) -> tuple[Feed, Library]:
    """The app's Kafka side: the aggregates feed folding into `view`, and the replay library."""
    library = Library(settings.kafka, settings.replay_sessions_kept, settings.replay_tapes_loaded, view)
    return AggregatesFeed(settings.kafka, view), library


def _today() -> str:
    return day_of(int(time.time() * 1000))


def _day(value: str | None) -> str:
    day = value or _today()
    parse_day(day)  # raises ValueError with a message fit for the client
    return day


def _authorized(connection: HTTPConnection) -> bool:
    settings: AppSettings = connection.state.settings
    return token_ok(connection, settings.token)


def _merchant_denial(connection: HTTPConnection, merchant: str) -> tuple[int, str] | None:
    """None when this request may see `merchant`'s view (the dashboard's token, or a link for it), else
    the status and why."""
    settings: AppSettings = connection.state.settings
    if token_ok(connection, settings.token):
        return None
    granted, whose = links.grant(connection, settings.token, int(time.time() * 1000))
    if granted is links.Grant.MERCHANT and whose == merchant:
        return None
    if granted is links.Grant.MERCHANT:
        return 403, "this link is for another merchant"
    if granted is links.Grant.EXPIRED:
        return 401, "this link has expired"
    return 401, "an access token or a merchant link is required"


def _merchant_refusal(connection: HTTPConnection, merchant: str) -> Response | None:
    denial = _merchant_denial(connection, merchant)
    if denial is None:
        return None
    status, reason = denial
    return JSONResponse({"error": reason}, status_code=status,
                        headers={"WWW-Authenticate": "Bearer"} if status == 401 else None)


def _refusal(request: Request, merchant: str | None) -> Response | None:
    """None when this request may see the view it names: one merchant's (?merchant=), else the global."""
    if merchant is not None:
        return _merchant_refusal(request, merchant)
    return None if _authorized(request) else _unauthorized_json()


def _unauthorized_json() -> Response:
    return JSONResponse({"error": "an access token is required: ?token= or Authorization: Bearer"},
                        status_code=401, headers={"WWW-Authenticate": "Bearer"})


async def homepage(request: Request) -> Response:
    if not _authorized(request):
        return PlainTextResponse("This dashboard needs its access token: open it as /?token=...\n",
                                 status_code=401, headers={"WWW-Authenticate": "Bearer"})
    settings: AppSettings = request.state.settings
    return FileResponse(settings.static_dir / "index.html", headers={"Cache-Control": "no-store"})


async def merchant_page(request: Request) -> Response:
    """One merchant's view: the dashboard's page, which reads the merchant from its path."""
    refusal = _merchant_refusal(request, request.path_params["merchant"])
    if refusal is not None:
        return refusal
    settings: AppSettings = request.state.settings
    return FileResponse(settings.static_dir / "index.html", headers={"Cache-Control": "no-store"})


async def plotly_js(request: Request) -> Response:
    return FileResponse(PLOTLY_JS, media_type="text/javascript")


async def _caught_up(feed: Feed) -> bool:
    # A restarted app answers with the whole day or not at all: never with a partial fold of the log.
    try:
        await asyncio.wait_for(feed.caught_up.wait(), CATCH_UP_WAIT_S)
        return True
    except TimeoutError:
        return False


def _loading() -> Response:
    return JSONResponse({"error": "still reading the aggregates topic; try again shortly"},
                        status_code=503, headers={"Retry-After": "2"})


async def snapshot(request: Request) -> Response:
    merchant = request.query_params.get("merchant")
    if merchant is not None:
        return await _merchant_snapshot(request, merchant)
    if not _authorized(request):
        return _unauthorized_json()
    try:
        day = _day(request.query_params.get("day"))
        chosen = request.query_params.get("compare")
        chosen = None if chosen is None else compare.choice(chosen)
    except ValueError as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    if not await _caught_up(request.state.feed):
        return _loading()
    body = request.state.view.snapshot(day)
    if chosen is not None:  # ?compare=D|none|default: the other day and the comparison come along
        return Response(compare.with_compare(body, request.state.comparisons, chosen),
                        media_type="application/json")
    return Response(orjson.dumps(body), media_type="application/json")


async def _merchant_snapshot(request: Request, merchant: str) -> Response:
    refusal = _merchant_refusal(request, merchant)
    if refusal is not None:
        return refusal
    try:
        day = _day(request.query_params.get("day"))
    except ValueError as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    if not await _caught_up(request.state.feed):
        return _loading()
    body = compare.with_merchant_compare(request.state.view.merchant_snapshot(day, merchant),
                                         request.state.comparisons)
    return Response(orjson.dumps(body), media_type="application/json")


async def explain(request: Request) -> Response:
    """/api/explain?day=D&minute=HH:MM[&merchant=M]: what made one minute's figures (SalesView.explain)."""
    merchant = request.query_params.get("merchant")
    refusal = _refusal(request, merchant)
    if refusal is not None:
        return refusal
    minute = HH_MM.fullmatch(request.query_params.get("minute") or "")
    try:
        day = _day(request.query_params.get("day"))
        if minute is None:
            raise ValueError("minute must be HH:MM (UTC)")
    except ValueError as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    if not await _caught_up(request.state.feed):
        return _loading()
    start = parse_day(day)[0] + int(minute.group(1)) * 3_600_000 + int(minute.group(2)) * 60_000
    body = request.state.view.explain(day, start, merchant)
    return Response(orjson.dumps(body), media_type="application/json")


async def days(request: Request) -> Response:
    """The UTC days the workers counted records into, newest first, for the page's replay picker."""
    if not _authorized(request):
        return _unauthorized_json()
    library: Library = request.state.library
    found = await library.days()
    return JSONResponse({"days": [{"day": d.name, "records": d.records} for d in reversed(found)]})


async def start_replay(request: Request) -> Response:
    """Prepare a replay session of {"day": "YYYY-MM-DD"}; the page then opens /ws?replay=<session>."""
    if not _authorized(request):
        return _unauthorized_json()
    settings: AppSettings = request.state.settings
    if not origin_ok(request, settings.allowed_origins):  # another site's page may not start work here
        return JSONResponse({"error": "Origin not allowed"}, status_code=403)
    try:
        body = await json_body(request)
    except TooLarge:
        return too_large()
    if not isinstance(body, dict) or not isinstance(body.get("day"), str):
        return JSONResponse({"error": 'send {"day": "YYYY-MM-DD"}'}, status_code=400)
    try:
        session = await request.state.library.prepare(body["day"])
    except ReplayRefused as exc:
        return JSONResponse({"error": str(exc)}, status_code=exc.status)
    return JSONResponse({"session": session, "day": body["day"]}, status_code=202)


async def healthz(request: Request) -> Response:
    feed: Feed = request.state.feed
    as_of_ms = request.state.view.as_of_ms
    body = {
        "kafka": feed.reachable(),
        "caught_up": feed.caught_up.is_set(),
        "data_age_ms": int(time.time() * 1000) - as_of_ms if as_of_ms else None,
        "consumer_lag": feed.lag,
        "unreadable_checkpoints": feed.unreadable,
        # Every partition of `orders` the broker reports: records not counted yet, and those nobody counts.
        "orders_lag": {str(p): lag for p, lag in feed.coverage.lags().items()},
        "uncounted_partitions": feed.coverage.uncounted(time.monotonic()),
    }
    healthy = body["kafka"] and body["caught_up"] and not body["uncounted_partitions"]
    return JSONResponse(body, status_code=200 if healthy else 503)


async def prometheus(request: Request) -> Response:
    if not _authorized(request):
        return _unauthorized_json()
    body = metrics.render(request.state.hub, request.state.feed, request.state.alerts.current,
                          request.state.webhook)
    return Response(body, media_type=metrics.CONTENT_TYPE)


async def raised(request: Request) -> Response:
    """/api/alerts[?merchant=M]: the alerts raised now (app.alert_watch), cleared once their subject is
    back; a merchant's view (its link, or the token) gets only what alerts.for_merchant lets it see."""
    merchant = request.query_params.get("merchant")
    refusal = _refusal(request, merchant)
    if refusal is not None:
        return refusal
    current = request.state.alerts.current
    if merchant is not None:
        current = alerts.for_merchant(current, merchant)
    return JSONResponse({"alerts": alerts.public(current)})


async def _refuse(websocket: WebSocket, status: int, reason: str,
                  headers: dict[str, str] | None = None) -> None:
    """Refuse the handshake with an HTTP status the client can see (403 where the server cannot)."""
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(PlainTextResponse(reason + "\n", status_code=status,
                                                               headers=headers))
    else:
        await websocket.close(code=1008, reason=reason)


def _dropper(websocket: WebSocket, sender: asyncio.Task[None]) -> Callable[[], None]:
    """How to disconnect this viewer once it stalls, without waiting for its send buffer to drain."""
    abort = websocket.scope.get("extensions", {}).get(ABORT_EXTENSION)

    async def close() -> None:  # servers without the abort extension get a polite, bounded close
        with contextlib.suppress(RuntimeError, WebSocketDisconnect, TimeoutError):
            async with asyncio.timeout(CLOSE_WAIT_S):
                await websocket.close(code=1008, reason="too slow")

    def drop() -> None:
        log.info("dropping a viewer that stopped taking messages")
        sender.cancel()
        if abort is not None:
            abort["abort"]()
        else:
            _closing.add(task := asyncio.ensure_future(close()))
            task.add_done_callback(_closing.discard)

    return drop


async def live(websocket: WebSocket) -> None:
    hub: Hub = websocket.state.hub
    settings: AppSettings = websocket.state.settings
    if not origin_ok(websocket, settings.allowed_origins):
        await _refuse(websocket, 403, "websocket Origin not allowed")
        return
    # A merchant's feed takes its link (or the token); every other feed wants the token.
    merchant = websocket.query_params.get("merchant")
    denial = _merchant_denial(websocket, merchant) if merchant is not None else (
        None if token_ok(websocket, settings.token) else (401, "an access token is required: ?token="))
    if denial is not None:
        await _refuse(websocket, *denial)
        return
    session = websocket.query_params.get("replay")
    if session is not None and merchant is None:
        await _replay(websocket, session)
        return
    try:
        day = _day(websocket.query_params.get("day"))
    except ValueError:
        await _refuse(websocket, 400, "day must be YYYY-MM-DD")
        return
    if merchant is not None:  # one merchant's own figures (app.merchant_feed)
        await _serve(websocket, MerchantViewer(day, merchant, hub), hub)
        return
    try:
        asked = websocket.query_params.get("compare")
        chosen = None if asked is None else compare.choice(asked)
    except ValueError:
        await _refuse(websocket, 400, "compare must be YYYY-MM-DD, none or default")
        return
    await _serve(websocket, compare.CompareViewer(day, websocket.state.comparisons, chosen), hub)


async def _serve(websocket: WebSocket, viewer: Viewer, hub: Hub) -> None:
    """Accept the socket, then feed the viewer from the hub until the socket closes."""
    await websocket.accept()
    if not await _caught_up(websocket.state.feed):
        await websocket.close(code=1013, reason="still loading; try again")
        return
    hub.viewers.add(viewer)
    hub.connected += 1
    sender = asyncio.create_task(_send(websocket, viewer, hub))
    viewer.drop = _dropper(websocket, sender)
    viewer.write = websocket.scope.get("extensions", {}).get(WRITE_EXTENSION, {}).get("write")
    try:
        await _receive(websocket, viewer)
    finally:
        hub.viewers.discard(viewer)
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
            await sender
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await websocket.close()


async def _replay(websocket: WebSocket, session: str) -> None:
    try:
        speed = bounded_speed(websocket.query_params.get("speed") or "600")
    except ValueError:
        await _refuse(websocket, 400, f"speed must be a number above 0, at most {MAX_SPEED:g}, or max")
        return
    if not valid_id(session):
        await _refuse(websocket, 400, "replay must be a session id")
        return
    at = websocket.query_params.get("at")
    if at is not None and not AT_MS.fullmatch(at):
        await _refuse(websocket, 400, "at must be a time in ms since the epoch")
        return
    library: Library = websocket.state.library
    if not await library.exists(session):
        # Said as a loading that failed says it (the page shows why), but no loading: no tape slot held.
        await websocket.accept()
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await websocket.send_text(failure(session, f"no replay session {session}"))
            await websocket.close()
        return
    try:
        loading = library.open(session)  # before the handshake: a refusal is an HTTP status
    except ReplayRefused as exc:
        await _refuse(websocket, exc.status, str(exc), {"Retry-After": "5"} if exc.status == 503 else None)
        return
    settings: AppSettings = websocket.state.settings
    try:
        await websocket.accept()
    except BaseException:
        library.close(loading)
        raise
    await watch(websocket, library, loading, speed, None if at is None else int(at), settings.kafka.rules)


async def _send(websocket: WebSocket, viewer: Viewer, hub: Hub) -> None:
    while True:
        await viewer.wake.wait()
        message = viewer.next_message(hub.snapshot_message)
        if message is None:
            continue
        # A send still waiting after VIEWER_STALL_TIMEOUT_S gets the viewer dropped (Hub.drop_stalled).
        viewer.sending_since = time.monotonic()
        await websocket.send_text(message if isinstance(message, str) else message.decode())
        viewer.sending_since = None
        hub.pushed += 1


async def _receive(websocket: WebSocket, viewer: Viewer) -> None:
    """Read client frames until the socket closes: a valid {"type": "resync"} asks for a fresh snapshot;
    anything else is ignored; a frame over MAX_CLIENT_FRAME closes the socket."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        data = message.get("text") or message.get("bytes") or b""
        if len(data) > MAX_CLIENT_FRAME:
            await websocket.close(code=1009, reason="frame too large")
            return
        request = _request(data) if isinstance(data, str) else None
        if request is not None and request.get("type") == "resync":
            viewer.ask_resync()
        elif request is not None and request.get("type") == "compare":
            compare.handle(viewer, request)


def _request(text: str) -> dict[str, Any] | None:
    try:
        request = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return request if isinstance(request, dict) else None


def create_app(settings: AppSettings | None = None,
               connect: Callable[[AppSettings, SalesView], tuple[Feed, Library]] = connect) -> ASGIApp:
    """The ASGI app; `connect` builds its Kafka side (tests pass one that needs no broker)."""
    settings = settings or AppSettings()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[State]:
        rules = settings.kafka.rules
        view = SalesView(rules)
        feed, library = connect(settings, view)
        comparisons = compare.Comparisons(view)
        hub = Hub(view, feed.reachable, lambda body: compare.with_merchant_compare(body, comparisons))
        verifier = verify.Verifier(settings, view, library)
        webhook = Webhook(settings.alert_webhook_url) if settings.alert_webhook_url else None
        alert_watch = AlertWatch(view, comparisons, alerts.Thresholds(),
                                 [hub.alerts_changed, *([webhook.notify] if webhook else [])])
        if webhook:
            webhook.start()
        tasks = [asyncio.create_task(feed.run()),
                 asyncio.create_task(hub.run(settings.push_hz, settings.stall_timeout_s)),
                 asyncio.create_task(alert_watch.run())]
        try:
            yield {"view": view, "feed": feed, "hub": hub, "library": library, "settings": settings,
                   "comparisons": comparisons, "verifier": verifier, "alerts": alert_watch,
                   "webhook": webhook}
        finally:
            if webhook:
                webhook.stop()
            verifier.shutdown()
            library.shutdown()
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    routes = [
        Route("/", homepage),
        Route("/api/snapshot", snapshot),
        Route("/m/{merchant}", merchant_page),
        Route("/api/explain", explain),
        Route("/api/alerts", raised),
        Route("/api/days", days),
        Route("/api/replays", start_replay, methods=["POST"]),
        *verify.ROUTES,
        Route("/healthz", healthz),
        Route("/metrics", prometheus),
        Route("/vendor/plotly.min.js", plotly_js),
        Mount("/static", StaticFiles(directory=settings.static_dir), name="static"),
    ]
    site = Starlette(routes=routes, lifespan=lifespan, middleware=[Middleware(SecurityHeaders)])

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        # The live feed skips the router and middleware stack (HTTP-only anyway) for as long as a viewer
        # stays: ~5 KB less held per viewer, part of what fits 5,000 of them in 200 MB.
        if scope["type"] == "websocket" and scope["path"] == "/ws":
            await live(WebSocket(scope, receive, send))
        else:
            await site(scope, receive, send)

    # Outermost, so the /ws fast path is covered too: a DNS-rebinding page (Host: evil.example) gets a
    # 400, on a websocket as the handshake's HTTP answer, before anything reads data or starts work.
    return TrustedHostMiddleware(app, allowed_hosts=list(settings.allowed_hosts), www_redirect=False)
