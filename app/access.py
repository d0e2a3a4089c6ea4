"""Who may read the dashboard: the optional access token, and the Origin a browser's websocket comes from."""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection


def token_ok(connection: HTTPConnection, token: str | None) -> bool:
    """True when no token is configured, or the request carries it (?token= or Authorization: Bearer)."""
    if token is None:
        return True
    offered = connection.query_params.get("token")
    if offered is None:
        scheme, _, credentials = connection.headers.get("authorization", "").partition(" ")
        offered = credentials.strip() if scheme.lower() == "bearer" else None
    # Constant-time comparison: the token must not leak one character at a time through response times.
    return offered is not None and hmac.compare_digest(offered.encode(), token.encode())


def origin_ok(connection: HTTPConnection, allowed: tuple[str, ...]) -> bool:
    """A websocket from a page on another site is refused (cross-site websocket hijacking).

    Clients that are not browsers send no Origin, and can forge one anyway: they are let through, and the
    token (when set) is what keeps them out.
    """
    origin = connection.headers.get("origin")
    if origin is None:
        return True
    origin = origin.strip().rstrip("/").lower()
    if allowed:
        return origin in allowed
    parts = urlsplit(origin)
    host = connection.headers.get("host", "").lower()
    return parts.scheme in ("http", "https") and bool(host) and parts.netloc == host
