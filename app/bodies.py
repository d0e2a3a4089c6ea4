"""Request bodies read with a bound: a POST never makes the app hold more than MAX_BODY bytes of it."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

MAX_BODY = 4096  # {"day": "YYYY-MM-DD"} is 17 bytes; room for a client's extra fields


class TooLarge(Exception):
    pass


async def json_body(request: Request, limit: int = MAX_BODY) -> Any:
    """The body as JSON, None when it is not JSON; TooLarge past `limit` bytes (read no further)."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise TooLarge
    body = bytearray()
    async for chunk in request.stream():  # a chunked body has no length to check up front
        body += chunk
        if len(body) > limit:
            raise TooLarge
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


def too_large() -> Response:
    return JSONResponse({"error": f"a request body is at most {MAX_BODY} bytes"}, status_code=413)
