"""The replay registry as the app uses it: what sessions exist, which one holds a closed day for good, and
which old ones go when a new one is prepared (their topic deleted, their entry tombstoned).

The registry is `<AGGREGATES_TOPIC>.replays`, compacted, one JSON document per session id (written by
stream.replay.session); a tombstone (no value) for a session id removes its entry at the next compaction.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from stream.config import Settings
from stream.kafka import admin
from stream.kafka.reader import END, Reader
from stream.kafka.writer import Writer
from stream.replay.session import VERSION as SESSION_VERSION
from stream.replay.session import registry_topic, valid_id

log = logging.getLogger("salesdash.app")
READ_WITHIN_S = 10.0  # the registry is small: reading it to its end takes well under this
ENDED = ("finished", "failed")  # a running session is never deleted: its child is still writing


@dataclass
class Registry:
    docs: dict[str, dict[str, Any]] = field(default_factory=dict)  # session id -> its latest document
    topics: set[str] = field(default_factory=set)  # every topic on the broker


def read(settings: Settings) -> Registry:
    """Every session document in the registry, and the topics the broker has."""
    reader = Reader.open(settings, "app-registry", missing_is_empty=True)
    try:
        registry = registry_topic(settings)
        found = Registry(topics=set(reader.topics()))
        if registry not in found.topics:
            return found
        reader.assign({(registry, 0): 0}, {(registry, 0): END})
        deadline = time.monotonic() + READ_WITHIN_S
        while not reader.done and time.monotonic() < deadline:
            for message in reader.take(500, 0.5):
                key, value = message.key(), message.value()
                if not key:
                    continue
                doc = _doc(value)
                if doc is None:
                    found.docs.pop(key.decode(errors="replace"), None)  # a tombstone, or not a document
                else:
                    found.docs[key.decode(errors="replace")] = doc
        return found
    finally:
        reader.close()


def _doc(value: bytes | None) -> dict[str, Any] | None:
    # Anything may have been written to the registry: what is not a session document is not a session.
    try:
        doc = orjson.loads(value) if value else None
    except orjson.JSONDecodeError:
        return None
    return doc if isinstance(doc, dict) and isinstance(doc.get("session"), str) else None


def closed_session(registry: Registry, day: str, orders_topic: str) -> str | None:
    """The newest finished session of `day` from `orders_topic` that closed the day in every partition:
    no record can change that day any more, so it is as good as a new one."""
    kept = [doc for doc in registry.docs.values()
            if doc.get("v") == SESSION_VERSION and doc.get("day") == day
            and doc.get("state") == "finished" and doc.get("closed")
            and doc.get("source_topic") == orders_topic and doc.get("topic") in registry.topics]
    return str(max(kept, key=lambda doc: _ms(doc, "updated_ms"))["session"]) if kept else None


def session_topic(settings: Settings, session: str) -> str:
    return f"{settings.aggregates_topic}.replay.{session}"


def victims(settings: Settings, registry: Registry, keep: int, protected: set[str],
            last_used_ms: dict[str, int]) -> list[str]:
    """The sessions to forget so that `keep` session topics remain once one more is made: the ended ones
    least recently used (by this app, else started), never one in `protected`; plus ended entries whose
    topic is gone already (they hold nothing any more)."""
    live, stale = [], []
    for session, doc in registry.docs.items():
        # Only a topic named as a session's own is ever deleted, whatever a document says.
        if not valid_id(session) or doc.get("topic") != session_topic(settings, session):
            continue
        if doc["topic"] in registry.topics:
            live.append(session)
        elif doc.get("state") in ENDED:
            stale.append(session)
    excess = len(live) + 1 - keep
    if excess <= 0:
        return stale
    ended = [s for s in live if registry.docs[s].get("state") in ENDED and s not in protected]
    ended.sort(key=lambda s: max(last_used_ms.get(s, 0), _ms(registry.docs[s], "started_ms")))
    return ended[:excess] + stale


def forget(settings: Settings, sessions: list[str]) -> list[str]:
    """Delete each session's topic, then tombstone its registry entry; returns the sessions forgotten
    (a session whose topic could not be deleted keeps its entry, so a later call tries again)."""
    gone = []
    for session in sessions:
        try:
            admin.delete_topics(settings, [session_topic(settings, session)])
        except Exception as exc:  # a failed clean-up must not stop the replay that asked for it
            log.warning("replay session %s: %s", session, exc)
            continue
        gone.append(session)
    if gone:
        writer = Writer(settings)
        for session in gone:
            writer.send(registry_topic(settings), None, session.encode(), partition=0)
        left = writer.flush(10)
        if left or writer.errors:
            log.warning("tombstoning replay sessions %s failed: %s", gone,
                        writer.errors[0] if writer.errors else f"{left} unacknowledged")
        else:
            log.info("deleted replay sessions %s (topics and registry entries)", gone)
    return gone


def _ms(doc: dict[str, Any], key: str) -> int:
    value = doc.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
