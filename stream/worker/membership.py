"""The worker's group membership, the one module that uses faust: faust runs the consumer group, and
owning partition p of `<orders>.owners` means counting partition p of `orders`.

`<orders>.owners` is an always-empty topic with as many partitions as `orders`. faust handles membership,
assignment and rebalancing, and calls back here. `orders` may grow while the group runs: every worker
grows the owners topic (and the other topics that follow `orders`) to match within GROW_EVERY_S, and
aiokafka's next metadata refresh sees the new partitions and rebalances, so they are owned too. The
counting itself runs in `stream.worker.counter.OrdersConsumer`, because faust's per-message pipeline
tops out near 12k events/s on this machine (see docs/exactness.md).
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import faust

from stream.config import FaustLogin, Settings
from stream.kafka.admin import grow_topics
from stream.worker.counter import OrdersConsumer

log = logging.getLogger("salesdash.stream")
GROW_EVERY_S = 2.0  # how soon a grown `orders` has its owners topic grown to match


def _credentials(login: FaustLogin) -> Any:
    if login.sasl is not None:
        username, password, mechanism = login.sasl
        return faust.SASLCredentials(username=username, password=password, mechanism=mechanism,
                                     ssl_context=login.ssl_context)
    return None if login.ssl_context is None else faust.SSLCredentials(login.ssl_context)


def _datadir(settings: Settings) -> Path:
    settings.faust_datadir.mkdir(parents=True, exist_ok=True)  # faust makes only the last folder
    return settings.faust_datadir


def worker_app(settings: Settings, hold_first_publish: Path | None = None) -> faust.App:
    """A faust app whose only agent holds `<orders>.owners`, wired to one OrdersConsumer
    (`hold_first_publish`: its test hook, see OrdersConsumer)."""
    login = settings.kafka.faust()
    app = faust.App(
        settings.stream_group,
        broker=login.broker,
        broker_credentials=_credentials(login),
        value_serializer="raw",
        key_serializer="raw",
        topic_partitions=settings.orders_partitions,
        topic_replication_factor=settings.replication_factor,  # its own topics survive a lost broker too
        web_enabled=False,
        datadir=_datadir(settings),
        broker_session_timeout=settings.session_timeout_s,
        # A rebalance starts for this worker at its next heartbeat: often, so handovers start at once.
        broker_heartbeat_interval=min(1.0, settings.session_timeout_s / 4),
        # A grown owners topic is seen (and its partitions assigned) at the next refresh: within seconds.
        consumer_metadata_max_age_ms=min(5_000, settings.session_timeout_s * 500),
    )
    owners = app.topic(settings.owners_topic, key_type=bytes, value_type=bytes,
                       partitions=settings.orders_partitions)
    counter = OrdersConsumer(settings, hold_first_publish)

    def ours(tps: Any) -> set[int]:
        return {tp.partition for tp in tps if tp.topic == settings.owners_topic}

    @app.agent(owners)
    async def hold(stream: faust.StreamT[bytes]) -> None:
        # Nothing is ever written to the owners topic: subscribing is what gives this worker partitions.
        async for _ in stream:
            pass

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]  # faust types receivers as taking signal=
    async def _pause(sender: Any, revoked: Any, **kwargs: Any) -> None:
        # faust waits for this: the batch in flight is published before anyone else may take over.
        await asyncio.wrap_future(counter.pause(ours(revoked)))

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def _own(sender: Any, assigned: Any, **kwargs: Any) -> None:
        counter.own(ours(assigned))  # recovery can take a while; the group must not wait for it

    last = [0, time.monotonic()]

    @app.timer(interval=10.0)  # type: ignore[untyped-decorator]
    async def _report() -> None:
        if counter.failed is not None:
            log.critical("orders consumer died: %r; stopping the worker", counter.failed)
            await app.crash(counter.failed)
            return
        now = time.monotonic()
        if now > last[1]:
            log.info("counted %d events (%.0f/s) from partitions %s", counter.counted,
                     (counter.counted - last[0]) / (now - last[1]), sorted(counter.reading))
        last[:] = [counter.counted, now]

    @app.timer(interval=GROW_EVERY_S)  # type: ignore[untyped-decorator]
    async def _grow() -> None:
        try:
            await asyncio.to_thread(grow_topics, settings)
        except Exception as exc:  # Kafka away or a refusal: counting goes on, the next tick tries again
            log.warning("cannot grow the topics that follow %s: %s", settings.orders_topic, exc)

    @app.on_before_shutdown.connect  # type: ignore[arg-type]
    async def _stop(sender: Any, **kwargs: Any) -> None:
        await asyncio.to_thread(counter.stop)

    return app
