"""Private merchant links: a URL signed with SALESDASH_TOKEN that opens one merchant's view and nothing else.

The signature is an HMAC-SHA256 over the merchant id and the expiry (ms since the epoch), keyed by the
dashboard's token, so only whoever holds the token can make one and no link can be stretched to another
merchant or a later expiry. Links carry `merchant`, `exp` and `sig` as query parameters.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
from urllib.parse import quote, urlencode

from starlette.requests import HTTPConnection


class Grant(enum.Enum):
    NONE = "none"  # no link offered
    MERCHANT = "merchant"  # a valid link: that merchant's view only
    EXPIRED = "expired"
    ALTERED = "altered"  # not signed by this token (another merchant, expiry or signature)


def signature(token: str, merchant: str, expires_ms: int) -> str:
    message = _message(merchant, expires_ms)
    return hmac.new(token.encode(), message, hashlib.sha256).hexdigest()


def _message(merchant: str, expires_ms: int) -> bytes:
    # Length-prefixed, so no (merchant, expiry) pair can be made to read as another.
    raw = merchant.encode()
    return f"{len(raw)}:".encode() + raw + f":{expires_ms}".encode()


def url(base: str, token: str, merchant: str, expires_ms: int) -> str:
    sig = signature(token, merchant, expires_ms)
    query = urlencode({"merchant": merchant, "exp": expires_ms, "sig": sig})
    return f"{base.rstrip('/')}/m/{quote(merchant, safe='')}?{query}"


def grant(connection: HTTPConnection, token: str | None, now_ms: int) -> tuple[Grant, str | None]:
    """What the link on this request grants, and for which merchant."""
    params = connection.query_params
    merchant, expires, offered = params.get("merchant"), params.get("exp"), params.get("sig")
    if token is None or offered is None:
        return Grant.NONE, None
    if merchant is None or expires is None or not expires.isascii() or not expires.isdigit() \
            or len(expires) > 16:
        return Grant.ALTERED, None
    # Constant-time comparison: a signature must not be guessable one character at a time.
    if not hmac.compare_digest(offered.encode(), signature(token, merchant, int(expires)).encode()):
        return Grant.ALTERED, None
    if int(expires) <= now_ms:
        return Grant.EXPIRED, merchant
    return Grant.MERCHANT, merchant
