"""A real Apache Kafka (KRaft) on 127.0.0.1, run from Maven-fetched jars: a single node (`Broker`) or a
3-node SASL_SSL cluster (`Cluster`).

Used by `make demo`, by the test suite (each session starts its own on free ports) and by the benchmarks.
"""

from broker.cluster import Cluster
from broker.kafka import Broker, fetch_jars, free_port

__all__ = ["Broker", "Cluster", "fetch_jars", "free_port"]
