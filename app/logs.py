"""uvicorn's logging with the access token taken out: its access lines (`GET /?token=... HTTP/1.1`) and
its websocket lines (`"WebSocket /ws?token=..." [accepted]`) carry the raw query string."""

from __future__ import annotations

import copy
import logging
import re
from typing import Any
from urllib.parse import unquote_plus

from uvicorn.config import LOGGING_CONFIG

REDACTED = "[redacted]"
_PARAM = re.compile(r"([?&])([^&=\s]*)=([^&\s]*)")


def redact(text: str) -> str:
    """`text` with the value of every `token` query parameter replaced, however its name is encoded."""

    def hide(match: re.Match[str]) -> str:
        # Starlette decodes a %-encoded name (%74oken) before it reads ?token=: so must this.
        if unquote_plus(match[2]) != "token":
            return match[0]
        return f"{match[1]}{match[2]}={REDACTED}"

    return _PARAM.sub(hide, text) if "=" in text else text


class RedactToken(logging.Filter):
    """Rewrites a record's arguments (uvicorn formats its request line from them) and its message."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(arg) if isinstance(arg, str) else arg for arg in record.args)
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def config(level: str = "info") -> dict[str, Any]:
    """uvicorn's own logging config, with the filter on both of its handlers (error and access), and the
    app's loggers at `level`."""
    conf = copy.deepcopy(LOGGING_CONFIG)
    conf["filters"] = {"redact_token": {"()": RedactToken}}
    for handler in conf["handlers"].values():
        handler["filters"] = ["redact_token"]
    # The app's own lines (a gap in a partition's chain, a replay being prepared) go where uvicorn's do.
    conf["loggers"]["salesdash"] = {"handlers": ["default"], "level": level.upper(), "propagate": False}
    return conf
