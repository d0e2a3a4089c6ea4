"""The access token never reaches a log line: uvicorn's access and websocket lines carry the raw query."""

from __future__ import annotations

import io
import logging
import logging.config

import pytest

from app.logs import REDACTED, RedactToken, config, redact

SECRET = "s3cret-wall-token"


@pytest.mark.parametrize(("path", "shown"), [
    (f"/?token={SECRET}", f"/?token={REDACTED}"),
    (f"/ws?day=2025-11-28&token={SECRET}&speed=600", f"/ws?day=2025-11-28&token={REDACTED}&speed=600"),
    (f"/ws?token={SECRET}&token={SECRET}", f"/ws?token={REDACTED}&token={REDACTED}"),
    (f"/api/snapshot?%74oken={SECRET}", f"/api/snapshot?%74oken={REDACTED}"),  # Starlette decodes names
    (f"/?tok%65n={SECRET}%26x", f"/?tok%65n={REDACTED}"),
    ("/api/snapshot?day=2025-11-28", "/api/snapshot?day=2025-11-28"),
    (f"/?tokens={SECRET}", f"/?tokens={SECRET}"),  # another parameter: the app never reads it as the token
    ("/healthz", "/healthz"),
])
def test_the_token_parameter_is_redacted_and_nothing_else(path: str, shown: str) -> None:
    assert redact(path) == shown


def test_uvicorns_own_lines_come_out_redacted() -> None:
    conf = config()
    out = io.StringIO()
    for handler in conf["handlers"].values():
        handler["stream"] = out
    logging.config.dictConfig(conf)
    try:
        logging.getLogger("uvicorn.access").info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "GET",
                                                 f"/?token={SECRET}", "1.1", 200)
        logging.getLogger("uvicorn.error").info('%s - "WebSocket %s" [accepted]', "127.0.0.1:6",
                                                f"/ws?token={SECRET}")
        logging.getLogger("uvicorn.error").info('%s - "WebSocket %s" %d', "127.0.0.1:7",
                                                f"/ws?token={SECRET}", 401)
    finally:
        logging.config.dictConfig({"version": 1, "disable_existing_loggers": False,
                                   "loggers": {"uvicorn": {"handlers": [], "propagate": True},
                                               "uvicorn.access": {"handlers": [], "propagate": True}}})
    text = out.getvalue()
    assert SECRET not in text
    assert f'"GET /?token={REDACTED} HTTP/1.1" 200' in text
    assert f'"WebSocket /ws?token={REDACTED}" [accepted]' in text and f"/ws?token={REDACTED}\" 401" in text


def test_a_record_without_arguments_is_redacted_too() -> None:
    record = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1, f"GET /?token={SECRET}", None,
                               None)
    assert RedactToken().filter(record) and record.getMessage() == f"GET /?token={REDACTED}"
