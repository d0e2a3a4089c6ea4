"""Static checks of compose.yaml and the Dockerfile: Docker is not needed, so drift is caught anywhere.

They fail when, e.g., broker/pom.xml moves to another Kafka version and compose.yaml does not follow,
when a service loses its scalability or binds a port on every interface, or when the topic layout the
init service creates disagrees with the partition count the workers are told to expect.
"""

from __future__ import annotations

import re
import shlex
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
POM = ROOT / "broker" / "pom.xml"

PYTHON_SERVICES = ("stream", "app", "loadgen")  # service name == package run with `python -m`
ALL_SERVICES = ("kafka", "topics", *PYTHON_SERVICES)
TOPICS = ("orders", "orders.aggregates", "orders.dlq")
UNLIMITED_RETENTION = ("orders.aggregates", "orders.dlq")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    assert COMPOSE.is_file(), f"{COMPOSE} is missing"
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict), "compose.yaml must be a mapping at the top level"
    assert isinstance(data.get("services"), dict), "compose.yaml has no `services:` mapping"
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def _pom_kafka_version() -> str:
    root = ET.parse(POM).getroot()
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    node = root.find("m:properties/m:kafka.version", ns)
    if node is None:  # a POM written without the Maven namespace
        node = root.find("properties/kafka.version")
    assert node is not None and (node.text or "").strip(), f"no <kafka.version> property in {POM}"
    return node.text.strip()


def _image_tag(image: str) -> str | None:
    """The tag of an image reference ("repo/name:tag"), "" for a digest-pinned one, None if untagged."""
    name = image.split("@", 1)[0]
    if "@" in image and ":" not in name.rsplit("/", 1)[-1]:
        return ""  # pinned by digest only: immutable, acceptable
    last = name.rsplit("/", 1)[-1]  # a ":" before the last "/" is a registry port, not a tag
    return last.split(":", 1)[1] if ":" in last else None


def _command(service: dict[str, Any]) -> list[str]:
    command = service.get("command")
    if command is None:
        return []
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(key): "" if value is None else str(value) for key, value in env.items()}


def _published_ports(service: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(host_ip, published, target) for every port mapping; host_ip "" means every interface."""
    result = []
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            result.append((str(port.get("host_ip", "")), str(port.get("published", "")),
                           str(port.get("target", ""))))
            continue
        spec = str(port).split("/", 1)[0]  # drop "/tcp"
        parts = spec.rsplit(":", 2)
        if len(parts) == 3:
            result.append((parts[0].strip("[]"), parts[1], parts[2]))
        elif len(parts) == 2:
            result.append(("", parts[0], parts[1]))
        else:  # container port only: published on a random port of every interface
            result.append(("", "", parts[0]))
    return result


def _depends_on(service: dict[str, Any]) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):  # short syntax means only "started"
        return dict.fromkeys(deps, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def _topic_creations(service: dict[str, Any]) -> dict[str, list[str]]:
    """topic -> argv of each `kafka-topics.sh ... --create` invocation in the service's command."""
    script = " ".join(str(part) for part in (service.get("entrypoint") or []) + _command(service))
    creations: dict[str, list[str]] = {}
    for line in re.split(r"\n|&&|;", script.replace("\\\n", " ")):
        if "kafka-topics.sh" not in line or "--create" not in line:
            continue
        argv = shlex.split(line[line.index("kafka-topics.sh"):])
        assert "--topic" in argv, f"kafka-topics.sh --create without --topic in the topics service: {line!r}"
        creations[argv[argv.index("--topic") + 1]] = argv
    return creations


def _option(argv: list[str], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv and argv.index(name) + 1 < len(argv) else None


def _configs(argv: list[str]) -> dict[str, str]:
    return dict(argv[i + 1].split("=", 1) for i, arg in enumerate(argv[:-1]) if arg == "--config")


def test_every_service_is_defined(services: dict[str, Any]) -> None:
    missing = [name for name in ALL_SERVICES if name not in services]
    assert not missing, f"compose.yaml lacks services {missing}; it defines {sorted(services)}"


def test_kafka_image_matches_the_pom_version(services: dict[str, Any]) -> None:
    version = _pom_kafka_version()
    for name in ("kafka", "topics"):
        image = services[name].get("image", "")
        assert image.split(":", 1)[0] == "apache/kafka", (
            f"{name}: expected the apache/kafka image, got {image!r}"
        )
        assert _image_tag(image) == version, (
            f"{name}: image {image!r} does not match <kafka.version>{version}</kafka.version> in "
            f"broker/pom.xml; bump both together (expected apache/kafka:{version})"
        )


def test_no_image_is_untagged_or_latest(services: dict[str, Any]) -> None:
    images = {name: svc["image"] for name, svc in services.items() if "image" in svc}
    assert images, "no service names an image (kafka should use apache/kafka:<version>)"
    for name, image in images.items():
        tag = _image_tag(str(image))
        assert tag is not None, f"{name}: image {image!r} has no tag; pin a version"
        assert tag != "latest", f"{name}: image {image!r} uses the moving `latest` tag; pin a version"


def test_services_that_build_do_not_share_an_image_name(services: dict[str, Any]) -> None:
    # Compose's bake builder exports concurrently; two builds tagging one name fail with "already exists".
    names = [svc["image"] for svc in services.values() if "build" in svc and "image" in svc]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    assert not duplicates, f"several built services tag the same image {duplicates}; builds would race"


def test_dockerfile_base_images_are_tagged() -> None:
    assert DOCKERFILE.is_file(), f"{DOCKERFILE} is missing"
    stages: set[str] = set()
    bases = []
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        words = line.split()
        if not words or words[0].upper() != "FROM":
            continue
        args = [word for word in words[1:] if not word.startswith("--")]  # drop --platform=...
        assert args, f"Dockerfile: FROM without an image: {line!r}"
        image = args[0]
        if len(args) >= 3 and args[1].upper() == "AS":
            stages.add(args[2].lower())
        if image.lower() in stages or image == "scratch":
            continue
        bases.append(image)
        tag = _image_tag(image)
        assert tag is not None, f"Dockerfile: base image {image!r} has no tag; pin e.g. python:3.11-slim"
        assert tag != "latest", f"Dockerfile: base image {image!r} uses `latest`; pin a version"
    assert bases, "Dockerfile has no FROM line"
    assert any(base.startswith("python:3.11") for base in bases), (
        f"Dockerfile should build on python:3.11 (pyproject requires 3.11); it uses {bases}"
    )


def test_dockerfile_runs_as_a_non_root_user() -> None:
    users = [line.split()[1] for line in DOCKERFILE.read_text(encoding="utf-8").splitlines()
             if line.split()[:1] == ["USER"] and len(line.split()) > 1]
    assert users, "Dockerfile never switches to a non-root USER"
    assert users[-1] not in ("root", "0", "0:0"), f"Dockerfile's final USER is {users[-1]!r}, i.e. root"


@pytest.mark.parametrize("name", PYTHON_SERVICES)
def test_python_services_build_the_dockerfile_and_run_their_package(
    services: dict[str, Any], name: str
) -> None:
    service = services[name]
    build = service.get("build")
    assert build is not None, f"{name}: has no `build:`; every Python service builds from ./Dockerfile"
    context, dockerfile = (build, "Dockerfile") if isinstance(build, str) else (
        build.get("context", "."), build.get("dockerfile", "Dockerfile"))
    built = (COMPOSE.parent / context / dockerfile).resolve()
    assert built == DOCKERFILE, f"{name}: builds {built}, expected {DOCKERFILE}"
    command = _command(service)
    assert command[:3] == ["python", "-m", name], (
        f"{name}: command should start with `python -m {name}`, got {command!r}"
    )


def test_app_listens_on_all_container_interfaces(services: dict[str, Any]) -> None:
    command = _command(services["app"])
    assert _option(command, "--host") == "0.0.0.0", (
        f"app must listen on 0.0.0.0 inside its container or published ports cannot reach it; "
        f"command is {command!r}"
    )
    assert _option(command, "--port") == "8000", f"app should listen on port 8000; command is {command!r}"


def test_app_publishes_8000_on_loopback_only(services: dict[str, Any]) -> None:
    ports = _published_ports(services["app"])
    assert ("127.0.0.1", "8000", "8000") in ports, (
        f"app must publish \"127.0.0.1:8000:8000\" (dashboard on the host's loopback); it publishes {ports}"
    )


def test_no_port_is_published_on_every_interface(services: dict[str, Any]) -> None:
    for name, service in services.items():
        for host_ip, published, target in _published_ports(service):
            assert host_ip in ("127.0.0.1", "::1", "localhost"), (
                f"{name}: port {published or '<random>'}->{target} is published on "
                f"{host_ip or 'every interface (0.0.0.0)'}; bind it to 127.0.0.1"
            )


def test_stream_can_be_scaled(services: dict[str, Any]) -> None:
    stream = services["stream"]
    assert "container_name" not in stream, (
        f"stream sets container_name {stream['container_name']!r}, so `--scale stream=3` cannot start copies"
    )
    assert not stream.get("ports"), (
        f"stream publishes host ports {stream['ports']}; a second replica could not bind them"
    )


def test_topics_init_creates_every_topic_with_the_configured_partitions(services: dict[str, Any]) -> None:
    topics = services["topics"]
    creations = _topic_creations(topics)
    missing = [topic for topic in TOPICS if topic not in creations]
    assert not missing, f"topics service does not create {missing}; it creates {sorted(creations)}"
    for topic, argv in creations.items():
        assert "--if-not-exists" in argv, f"topics: creating {topic!r} must use --if-not-exists (re-runs)"
    partitions = {topic: _option(creations[topic], "--partitions") for topic in TOPICS}
    assert len(set(partitions.values())) == 1 and None not in partitions.values(), (
        f"topics service must give every topic the same --partitions; got {partitions}"
    )
    count = partitions["orders"]
    for name in PYTHON_SERVICES:
        expected = _environment(services[name]).get("ORDERS_PARTITIONS")
        assert expected == count, (
            f"{name}: ORDERS_PARTITIONS={expected!r} but the topics service creates {count} partitions"
        )
    for topic in UNLIMITED_RETENTION:
        retention = _configs(creations[topic]).get("retention.ms")
        assert retention == "-1", f"topics: {topic!r} needs --config retention.ms=-1, has {retention!r}"


def test_startup_order(services: dict[str, Any]) -> None:
    assert services["kafka"].get("healthcheck", {}).get("test"), (
        "kafka needs a healthcheck so the topics service starts only once the broker answers"
    )
    assert _depends_on(services["topics"]).get("kafka") == "service_healthy", (
        "topics must depend_on kafka with condition: service_healthy"
    )
    for name in PYTHON_SERVICES:
        condition = _depends_on(services[name]).get("topics")
        assert condition == "service_completed_successfully", (
            f"{name}: must depend_on topics with condition: service_completed_successfully, got {condition!r}"
        )


def test_python_services_reach_kafka_on_its_advertised_internal_listener(services: dict[str, Any]) -> None:
    advertised = _environment(services["kafka"]).get("KAFKA_ADVERTISED_LISTENERS", "")
    endpoints = {entry.split("://", 1)[1] for entry in advertised.split(",") if "://" in entry}
    for name in PYTHON_SERVICES:
        bootstrap = _environment(services[name]).get("KAFKA_BOOTSTRAP")
        assert bootstrap in endpoints, (
            f"{name}: KAFKA_BOOTSTRAP={bootstrap!r} is not one of kafka's advertised listeners "
            f"{sorted(endpoints)}"
        )


def test_kafka_broker_settings(services: dict[str, Any], compose: dict[str, Any]) -> None:
    env = _environment(services["kafka"])
    expected = {
        "KAFKA_PROCESS_ROLES": "broker,controller",
        "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "false",
        "KAFKA_LOG_RETENTION_MS": "-1",
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
        "KAFKA_LOG_MESSAGE_TIMESTAMP_AFTER_MAX_MS": "9223372036854775807",
        "KAFKA_LOG_MESSAGE_TIMESTAMP_BEFORE_MAX_MS": "9223372036854775807",
        "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
    }
    wrong = {key: env.get(key) for key, value in expected.items() if env.get(key) != value}
    assert not wrong, f"kafka environment differs from what salesdash needs: {wrong} (expected {expected})"
    volumes = [str(v).split(":", 1)[0] if not isinstance(v, dict) else v.get("source")
               for v in services["kafka"].get("volumes") or []]
    declared = set(compose.get("volumes") or {})
    assert any(v in declared for v in volumes), (
        f"kafka should keep its data in a named volume declared under top-level `volumes:`; "
        f"it mounts {volumes}"
    )
