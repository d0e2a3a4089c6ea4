"""The faust-streaming worker: faust runs the consumer group, this module turns ownership into counting.

Every worker's agent subscribes to `<orders>.owners`, an always-empty topic with as many partitions as
`orders`: owning partition p of it means counting partition p of `orders`. faust handles membership,
assignment and rebalancing; the counting itself runs in `stream.consumer.OrdersConsumer`, because
faust's per-message pipeline tops out near 12k events/s on this machine (see docs/exactness.md).
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
import time
from pathlib import Path
from typing import Any

import faust

from stream import config
from stream.consumer import OrdersConsumer

log = logging.getLogger("salesdash.stream")
settings = config.load()


def _credentials() -> Any:
    protocol = settings.security_protocol.upper()
    if protocol == "PLAINTEXT":
        return None
    context = ssl.create_default_context(cafile=settings.ssl_ca_location or None)
    if protocol.startswith("SASL"):
        return faust.SASLCredentials(
            username=settings.sasl_username, password=settings.sasl_password,
            mechanism=settings.sasl_mechanism or "PLAIN",
            ssl_context=context if protocol == "SASL_SSL" else None,
        )
    return faust.SSLCredentials(context)


app = faust.App(
    settings.stream_group,
    broker=[f"kafka://{host.strip()}" for host in settings.bootstrap.split(",")],
    broker_credentials=_credentials(),
    value_serializer="raw",
    key_serializer="raw",
    topic_partitions=settings.orders_partitions,
    web_enabled=False,
    datadir=os.environ.get("FAUST_DATADIR") or Path(__file__).resolve().parent.parent / "var" / "faust",
    broker_session_timeout=settings.session_timeout_s,
    broker_heartbeat_interval=max(1, settings.session_timeout_s // 4),
)

owners = app.topic(settings.owners_topic, key_type=bytes, value_type=bytes,
                   partitions=settings.orders_partitions)
orders_consumer = OrdersConsumer(settings)


def _ours(tps: Any) -> set[int]:
    return {tp.partition for tp in tps if tp.topic == settings.owners_topic}


@app.agent(owners)
async def hold(stream: faust.StreamT) -> None:
    # Nothing is ever written to the owners topic: subscribing is what gives this worker partitions.
    async for _ in stream:
        pass


@app.on_partitions_revoked.connect
async def _pause(sender: Any, revoked: Any, **kwargs: Any) -> None:
    # faust waits for this: the batch in flight is published before anyone else may take over.
    await asyncio.wrap_future(orders_consumer.pause(_ours(revoked)))


@app.on_partitions_assigned.connect
async def _own(sender: Any, assigned: Any, **kwargs: Any) -> None:
    orders_consumer.own(_ours(assigned))  # recovery can take a while; the group must not wait for it


@app.timer(interval=10.0)
async def _report() -> None:
    if orders_consumer.failed is not None:
        log.critical("orders consumer died: %r; stopping the worker", orders_consumer.failed)
        await app.crash(orders_consumer.failed)  # type: ignore[arg-type]
        return
    now = time.monotonic()
    last_count, last_time = _report.__dict__.get("last", (0, now))
    _report.__dict__["last"] = (orders_consumer.counted, now)
    if now > last_time:
        log.info("counted %d events (%.0f/s) from partitions %s", orders_consumer.counted,
                 (orders_consumer.counted - last_count) / (now - last_time), sorted(orders_consumer.reading))


@app.on_before_shutdown.connect
async def _stop(sender: Any, **kwargs: Any) -> None:
    await asyncio.to_thread(orders_consumer.stop)
