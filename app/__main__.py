"""`python -m app`: serve the dashboard with uvicorn."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (try: python -m app --help)\n")


def main(argv: list[str] | None = None) -> None:
    parser = _Parser(prog="python -m app", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                     description="Serve the salesdash page, /api/snapshot, /healthz, /metrics and the "
                                 "/ws live feed. Kafka settings come from KAFKA_BOOTSTRAP and friends "
                                 "(see README).")
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind")
    parser.add_argument("--port", type=int, default=8000, help="TCP port")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    args = parser.parse_args(argv)
    if not 0 < args.port < 65536:
        parser.error(f"--port must be 1..65535, got {args.port}")

    import uvicorn

    from app import logs
    from app.config import AppSettings, allowed_hosts
    from app.routes import MAX_CLIENT_FRAME, create_app
    from app.server import AbortableWebSockets

    settings = AppSettings(allowed_hosts=allowed_hosts(args.host))
    print(f"salesdash: serving http://{args.host}:{args.port}", file=sys.stderr, flush=True)
    # No permessage-deflate: a zlib context per viewer would cost more memory than 5,000 viewers can have.
    uvicorn.run(create_app(settings), host=args.host, port=args.port, ws=AbortableWebSockets,
                ws_max_size=MAX_CLIENT_FRAME, ws_per_message_deflate=False,
                log_level=args.log_level, log_config=logs.config(args.log_level), lifespan="on")


if __name__ == "__main__":
    main()
