"""The only package that imports confluent_kafka: clients built from Settings, one reader, one writer,
topic administration and the log's time index. Everything else talks to Kafka through it."""

from confluent_kafka import OFFSET_END, KafkaError, KafkaException, Message

__all__ = ["OFFSET_END", "KafkaError", "KafkaException", "Message"]
