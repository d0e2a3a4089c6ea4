"""`python -m stream`: run the faust worker (one process of the consumer group)."""

from __future__ import annotations

import sys


def main() -> None:
    from stream import config
    from stream.kafka import ensure_topics

    args = sys.argv[1:]
    if args[:1] in (["-h"], ["--help"]):
        print("usage: python -m stream [--loglevel LEVEL]\n\n"
              "Runs one salesdash worker. Start more processes to share the partitions of `orders`.\n"
              "Configuration comes from environment variables (see README): KAFKA_BOOTSTRAP, ...")
        return
    level = "info"
    if args[:1] == ["--loglevel"] and len(args) == 2:
        level = args[1]
    elif args:
        sys.exit(f"error: unknown arguments {' '.join(args)!r} (try --help)")
    try:
        ensure_topics(config.load())
    except Exception as exc:  # KafkaException, TopicError: the reason is in the message
        sys.exit(f"error: cannot prepare Kafka topics: {exc}")
    from stream.worker import app

    sys.argv = ["stream", "worker", "--loglevel", level, "--without-web"]
    app.main()


if __name__ == "__main__":
    main()
