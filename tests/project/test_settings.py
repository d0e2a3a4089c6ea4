"""Settings: one module reads the environment (stream.config), with one error line for a bad value."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from stream import config

ROOT = Path(__file__).resolve().parents[2]
# A read of the environment: os.environ.get/[...]/setdefault, os.getenv. A copy for a child ({**os.environ})
# is not a read of a setting.
READ = re.compile(r"os\.environ\s*(\.get|\[|\.setdefault)|os\.getenv|environ\.get")


def test_no_module_but_stream_config_reads_the_environment() -> None:
    readers = [str(path.relative_to(ROOT)) for package in ("app", "stream", "loadgen", "broker")
               for path in sorted((ROOT / package).rglob("*.py"))
               if path != ROOT / "stream" / "config.py" and READ.search(path.read_text())]
    assert readers == []


@pytest.mark.parametrize(("name", "raw", "says"), [
    ("ORDERS_PARTITIONS", "x", "error: ORDERS_PARTITIONS must be an integer ≥ 1, got 'x'"),
    ("ORDERS_PARTITIONS", "0", "error: ORDERS_PARTITIONS must be an integer ≥ 1, got '0'"),
    ("ORDERS_PARTITIONS", "1_000", "error: ORDERS_PARTITIONS must be an integer ≥ 1, got '1_000'"),
    ("ORDERS_PARTITIONS", "٣", "error: ORDERS_PARTITIONS must be an integer ≥ 1, got '٣'"),
    ("STREAM_GRACE_S", "-1", "error: STREAM_GRACE_S must be an integer ≥ 0, got '-1'"),
    ("STREAM_BATCH_MAX", "2.5", "error: STREAM_BATCH_MAX must be an integer ≥ 1, got '2.5'"),
])
def test_a_bad_integer_is_one_error_line_naming_the_setting_the_rule_and_the_value(
        monkeypatch: pytest.MonkeyPatch, name: str, raw: str, says: str) -> None:
    monkeypatch.setenv(name, raw)
    with pytest.raises(SystemExit) as stopped:
        config.load()
    assert str(stopped.value) == says


@pytest.mark.parametrize("raw", ["0", "-4", "nan", "inf", "fast"])
def test_a_push_rate_must_be_a_finite_number_above_zero(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("PUSH_HZ", raw)
    with pytest.raises(SystemExit) as stopped:
        config.AppSettings(kafka=config.load())
    assert str(stopped.value) == f"error: PUSH_HZ must be a number above 0, got {raw!r}"


def test_unset_or_empty_means_the_default_and_a_good_value_is_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERS_PARTITIONS", "")
    monkeypatch.setenv("STREAM_GRACE_S", " 7 ")
    monkeypatch.delenv("STREAM_BATCH_MAX", raising=False)
    settings = config.load()
    assert (settings.orders_partitions, settings.rules.grace_ms, settings.batch_max) == (8, 7000, 5000)


def test_one_connection_gives_librdkafka_faust_and_a_child_process_the_same_cluster() -> None:
    kafka = config.KafkaConnection("a:1,b:2", "SASL_SSL", "SCRAM-SHA-512", "user", "secret", "/ca.pem")
    assert kafka.librdkafka() == {"bootstrap.servers": "a:1,b:2", "security.protocol": "SASL_SSL",
                                  "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "user",
                                  "sasl.password": "secret", "ssl.ca.location": "/ca.pem"}
    assert kafka.environment() == {"KAFKA_BOOTSTRAP": "a:1,b:2", "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
                                   "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "KAFKA_SASL_USERNAME": "user",
                                   "KAFKA_SASL_PASSWORD": "secret", "KAFKA_SSL_CA_LOCATION": "/ca.pem"}
    faust = config.KafkaConnection("a:1, b:2", "SASL_PLAINTEXT", "", "user", "secret").faust()
    assert (faust.broker, faust.sasl, faust.ssl_context) == (["kafka://a:1", "kafka://b:2"],
                                                             ("user", "secret", "PLAIN"), None)
    assert config.KafkaConnection("a:1").faust().sasl is None
    assert "secret" not in repr(kafka) and "secret" not in repr(faust)
