"""A real single-node Apache Kafka (KRaft) broker on 127.0.0.1, run from Maven-fetched jars.

Used by `make demo`, by the test suite (each session starts its own on free ports) and by the benchmarks.
"""

from broker.kafka import Broker, fetch_jars, free_port

__all__ = ["Broker", "fetch_jars", "free_port"]
