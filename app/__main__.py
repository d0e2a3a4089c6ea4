"""`python -m app`: serve the dashboard with uvicorn."""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import NoReturn

MAX_WORKERS = 64


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (try: python -m app --help)\n")


def link(argv: list[str]) -> None:
    """`python -m app link --merchant M [--hours 72]`: print a private link to that merchant's view."""
    parser = _Parser(prog="python -m app link", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                     description="Print a URL signed with SALESDASH_TOKEN that opens one merchant's view "
                                 "and nothing else, until it expires.")
    parser.add_argument("--merchant", required=True, help="the merchant_id")
    parser.add_argument("--hours", type=float, default=72.0, help="how long the link works")
    parser.add_argument("--base", default="http://127.0.0.1:8000", help="the dashboard's address")
    args = parser.parse_args(argv)
    from stream.config import optional

    token = optional("SALESDASH_TOKEN")
    if not token:
        parser.error("SALESDASH_TOKEN is not set: links are signed with it")
    if not args.merchant or len(args.merchant) > 256:
        parser.error("--merchant must be a merchant_id (1 to 256 characters)")
    if not 0 < args.hours <= 24 * 366:
        parser.error(f"--hours must be above 0 and at most a year, got {args.hours}")

    from app.links import url

    print(url(args.base, token, args.merchant, int((time.time() + args.hours * 3600) * 1000)))


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["link"]:
        link(argv[1:])
        return
    parser = _Parser(prog="python -m app", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                     description="Serve the salesdash page, /api/snapshot, /healthz, /metrics and the "
                                 "/ws live feed. Kafka settings come from KAFKA_BOOTSTRAP and friends "
                                 "(see README).")
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind")
    parser.add_argument("--port", type=int, default=8000, help="TCP port")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    parser.add_argument("--workers", type=int, default=1,
                        help="app processes sharing the port (SO_REUSEPORT), each folding the aggregates")
    # One of --workers' processes: its own listener beside the others'.
    parser.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not 0 < args.port < 65536:
        parser.error(f"--port must be 1..65535, got {args.port}")
    if not 0 < args.workers <= MAX_WORKERS:
        parser.error(f"--workers must be 1..{MAX_WORKERS}, got {args.workers}")
    if args.workers > 1:
        from app.workers import listener, supervise

        try:
            listener(args.host, args.port).close()  # taken, or not an address: say so once, here
        except OSError as exc:
            parser.exit(1, f"error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}\n")
        print(f"salesdash: serving http://{args.host}:{args.port} with {args.workers} app processes",
              file=sys.stderr, flush=True)
        sys.exit(supervise(["--host", args.host, "--port", str(args.port), "--log-level", args.log_level,
                            "--reuse-port"], args.workers))

    import uvicorn

    from app import logs
    from app.routes import MAX_CLIENT_FRAME, create_app
    from app.server import AbortableWebSockets
    from stream.config import AppSettings, allowed_hosts

    settings = AppSettings(allowed_hosts=allowed_hosts(args.host))
    # No permessage-deflate: a zlib context per viewer would cost more memory than 5,000 viewers can have.
    config = uvicorn.Config(create_app(settings), host=args.host, port=args.port, ws=AbortableWebSockets,
                            ws_max_size=MAX_CLIENT_FRAME, ws_per_message_deflate=False,
                            log_level=args.log_level, log_config=logs.config(args.log_level), lifespan="on")
    server = uvicorn.Server(config)
    if args.reuse_port:
        from app.workers import listener

        print(f"salesdash: app process {os.getpid()} serving http://{args.host}:{args.port}",
              file=sys.stderr, flush=True)
        server.run(sockets=[listener(args.host, args.port)])
    else:
        print(f"salesdash: serving http://{args.host}:{args.port}", file=sys.stderr, flush=True)
        server.run()
    if not server.started:
        sys.exit(3)  # as uvicorn.run: it could not start (the port taken, the lifespan failed)


if __name__ == "__main__":
    main()
