"""Settings -> how every client connects: TLS, SASL, acks, idempotence, topic settings."""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path
from typing import Any

import faust
import pytest
from aiokafka.errors import UnknownError
from pydantic import ValidationError

from schemas.owned_topics import faust_topics
from schemas.topics import AUDIT, DAY_MS, FOREVER, JAIL_BOOKING, REGISTRY
from services.kafka.admin.retention import JAIL_TOPICS, bounded
from services.kafka.admin.topics import plan
from services.kafka.client.security import (
    SecurityConfigError,
    as_client,
    client_options,
    consumer_options,
    explain_failure,
    faust_credentials,
    producer_options,
)
from services.kafka.client.tuning import (
    flavor_problem,
    idempotent_producers,
    single_record_batches,
    tuning_of,
)
from services.settings import Settings
from services.streams.app import create_app

URL = "kafka://broker-1:9093;broker-2:9093"


def settings(**values: Any) -> Settings:
    """The memory store: the app is only built here, and RocksDB's slot would ask a broker
    for its cluster id."""
    return Settings.model_validate({"broker_url": URL, "store": "memory", **values})


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "client.pem", folder / "client.key"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=releasewatch", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_plaintext_is_the_default_and_carries_no_secrets() -> None:
    options = client_options(settings())
    assert options == {
        "bootstrap_servers": "broker-1:9093,broker-2:9093",
        "security_protocol": "PLAINTEXT",
    }
    assert faust_credentials(settings()) is None


def test_sasl_scram_over_tls_reaches_aiokafka_and_faust(certificate: tuple[Path, Path]) -> None:
    cert, _ = certificate
    chosen = settings(
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-256",
        sasl_username="releasewatch",
        sasl_password="s3cret",
        ssl_cafile=cert,
    )
    options = client_options(chosen)
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-256"
    assert options["sasl_plain_username"] == "releasewatch"
    assert options["sasl_plain_password"] == "s3cret"
    assert isinstance(options["ssl_context"], ssl.SSLContext)
    assert options["ssl_context"].check_hostname is True
    credentials = faust_credentials(chosen)
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.protocol.value == "SASL_SSL"
    assert credentials.mechanism.value == "SCRAM-SHA-256"
    assert "s3cret" not in repr(chosen)  # a logged settings object shows no password


def test_sasl_plain_without_tls() -> None:
    chosen = settings(
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="PLAIN",
        sasl_username="u",
        sasl_password="p",
    )
    options = client_options(chosen)
    assert "ssl_context" not in options
    credentials = faust_credentials(chosen)
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.protocol.value == "SASL_PLAINTEXT"


def test_mutual_tls_loads_the_client_certificate(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    chosen = settings(security_protocol="SSL", ssl_cafile=cert, ssl_certfile=cert, ssl_keyfile=key)
    assert isinstance(client_options(chosen)["ssl_context"], ssl.SSLContext)
    assert isinstance(faust_credentials(chosen), faust.SSLCredentials)


def test_a_missing_or_broken_tls_file_is_named(tmp_path: Path) -> None:
    missing = settings(security_protocol="SSL", ssl_cafile=tmp_path / "nope.pem")
    with pytest.raises(SecurityConfigError, match=r"RELEASEWATCH_SSL_CAFILE=.*no such file"):
        client_options(missing)
    broken = tmp_path / "broken.pem"
    broken.write_text("not a certificate")
    with pytest.raises(SecurityConfigError, match="cannot load the TLS files"):
        client_options(settings(security_protocol="SSL", ssl_cafile=broken))


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"security_protocol": "SASL_SSL"}, "needs RELEASEWATCH_SASL_USERNAME"),
        ({"security_protocol": "SASL_PLAINTEXT", "sasl_username": "u"}, "SASL_PASSWORD"),
        ({"ssl_certfile": "/x.pem"}, "go together"),
        ({"processing_guarantee": "exactly_once", "producer_acks": "1"}, "PRODUCER_ACKS=all"),
        ({"producer_idempotence": True, "producer_acks": "1"}, "IDEMPOTENCE=true needs .*ACKS=all"),
        ({"min_insync_replicas": 2, "replication_factor": 1}, "cannot exceed"),
        ({"security_protocol": "SASL_SSL ", "sasl_username": "u"}, "security_protocol"),
    ],
)
def test_inconsistent_settings_are_refused_with_the_reason(
    values: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        settings(**values)


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"processing_guarantee": "exactly_once"}, "PROCESSING_GUARANTEE=exactly_once"),
        ({"producer_idempotence": True}, "PRODUCER_IDEMPOTENCE=true"),
    ],
)
def test_apache_only_switches_on_tansu_are_named(values: dict[str, Any], named: str) -> None:
    problem = flavor_problem(settings(broker_flavor="tansu", **values))
    assert problem is not None and named in problem and "Apache Kafka only" in problem
    assert flavor_problem(settings(**values)) is None  # on Apache Kafka
    assert flavor_problem(settings(broker_flavor="tansu")) is None


def test_apache_only_switches_are_allowed_on_apache() -> None:
    chosen = settings(processing_guarantee="exactly_once", producer_idempotence=True)
    assert producer_options(chosen) == {"acks": "all", "enable_idempotence": True}
    assert producer_options(settings(producer_acks="1")) == {
        "acks": 1,
        "enable_idempotence": False,
    }


@pytest.mark.parametrize(
    ("values", "idempotent"),
    [
        ({}, True),  # Apache Kafka, acks all: on, as Kafka's Java producer since 3.0
        ({"producer_idempotence": False}, False),
        ({"producer_idempotence": True}, True),
        ({"producer_acks": "1"}, False),  # an idempotent producer needs acks all
        ({"producer_acks": "1", "producer_idempotence": False}, False),
        ({"broker_flavor": "tansu"}, False),  # Tansu has none
        ({"broker_flavor": "tansu", "producer_idempotence": False}, False),
        ({"processing_guarantee": "exactly_once"}, True),
        ({"processing_guarantee": "exactly_once", "producer_idempotence": False}, False),
    ],
)
def test_idempotence_unless_set_follows_the_broker_and_acks(
    values: dict[str, Any], idempotent: bool
) -> None:
    chosen = settings(**values)
    assert idempotent_producers(chosen) is idempotent
    assert producer_options(chosen)["enable_idempotence"] is idempotent
    assert tuning_of(chosen).idempotent is idempotent


def test_as_client_accepts_a_bootstrap_string_or_options() -> None:
    assert as_client("127.0.0.1:9092") == {"bootstrap_servers": "127.0.0.1:9092"}
    options = {"bootstrap_servers": "b:1", "security_protocol": "SSL"}
    assert as_client(options) == options and as_client(options) is not options


def test_faust_app_gets_credentials_acks_and_guarantee(tmp_path: Path) -> None:
    chosen = settings(
        security_protocol="SASL_PLAINTEXT",
        sasl_username="releasewatch",
        sasl_password="p",
        producer_acks="1",
        data_dir=tmp_path,
    )
    app = create_app("booking", chosen, web_port=18080)
    assert isinstance(app.conf.broker_credentials, faust.SASLCredentials)
    assert app.conf.producer_acks == 1
    assert app.conf.processing_guarantee.value == "at_least_once"
    assert app.conf.producer_max_batch_size == 16384  # the Tansu workaround is off
    tansu = create_app("scheduling", settings(broker_flavor="tansu", data_dir=tmp_path), 18081)
    assert tansu.conf.producer_max_batch_size == 16
    assert tansu.conf.producer_acks == -1


def test_one_record_batches_follow_the_broker_unless_set() -> None:
    assert single_record_batches(settings(broker_flavor="tansu"))
    assert not single_record_batches(settings())
    assert not single_record_batches(settings(broker_flavor="tansu", one_record_batches=False))
    assert single_record_batches(settings(one_record_batches=True))


def test_topic_plan_carries_retention_replication_and_min_isr() -> None:
    plans = {p.name: p for p in plan([JAIL_BOOKING, AUDIT, *faust_topics()], 8, 3, 2)}
    assert plans["jail.booking.v1"].config == {
        "cleanup.policy": "delete",
        "retention.ms": str(JAIL_BOOKING.retention_ms),
        "min.insync.replicas": "2",
    }
    assert plans["notice.audit.v1"].config["retention.ms"] == str(FOREVER)
    changelog = plans["releasewatch-scheduling-bookings-changelog"]
    assert changelog.config["cleanup.policy"] == "compact"
    assert (changelog.partitions, changelog.replication_factor) == (8, 3)
    assert plans["releasewatch-booking-__assignor-__leader"].partitions == 1


@pytest.mark.parametrize("days", [1, 30, 365, 36500])
def test_the_jail_retention_setting_bounds_the_jails_topic_and_its_placed_copies(
    days: int,
) -> None:
    every = [*REGISTRY, *faust_topics()]
    plans = {
        p.name: p
        for p in plan(bounded(every, settings(jail_retention_days=days).jail_retention_days), 8)
    }
    placed = "releasewatch-booking-jail.booking.v1-placed"
    assert {"jail.booking.v1", placed} == JAIL_TOPICS
    for name in JAIL_TOPICS:
        assert plans[name].config["retention.ms"] == str(days * DAY_MS), name
    unbounded = {p.name: p for p in plan(every, 8)}
    for name, topic in plans.items():
        if name not in JAIL_TOPICS:
            assert topic == unbounded[name], name
    # unset: as registered, kept forever (the source every table can be rebuilt from)
    assert plan(bounded(every, None), 8) == plan(every, 8)
    assert unbounded[placed].config["retention.ms"] == str(FOREVER)


@pytest.mark.parametrize("value", ["0", "-3", "36501", "a month"])
def test_a_bad_jail_retention_is_refused_naming_it(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RELEASEWATCH_JAIL_RETENTION_DAYS", value)
    with pytest.raises(ValidationError, match="jail_retention_days"):
        Settings()


def test_registry_names_the_changelogs_faust_really_uses(tmp_path: Path) -> None:
    from services.notification.app import build as notification
    from services.scheduling.app import build as scheduling

    chosen = settings(data_dir=tmp_path)
    names = set()
    for build, port in ((scheduling, 18082), (notification, 18083)):
        app = build(chosen, port)
        names |= {table.changelog_topic.get_topic_name() for table in app.tables.values()}
    assert names <= {topic.name for topic in faust_topics()}
    assert len(names) == 2


def test_consumers_wait_briefly_on_the_embedded_broker_only() -> None:
    tansu = settings(broker_flavor="tansu")
    assert consumer_options(tansu)["fetch_max_wait_ms"] == 50
    assert "fetch_max_wait_ms" not in consumer_options(settings())  # Apache: client default
    assert "fetch_max_wait_ms" not in client_options(tansu)  # producers refuse the key
    options = consumer_options(tansu)
    assert "fetch_max_wait_ms" not in as_client(options)
    assert as_client(options, consumer=True)["fetch_max_wait_ms"] == 50


async def test_faust_worker_consumer_gets_the_short_wait(tmp_path: Path) -> None:
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    from services.kafka import patches

    patches.apply()  # as `releasewatch` does at every start
    app = create_app("notification", settings(broker_flavor="tansu", data_dir=tmp_path), 18084)
    thread = AIOKafkaConsumerThread(app.consumer)
    consumer = thread._create_worker_consumer(app.transport)  # built, not started
    assert consumer._fetch_max_wait_ms == 50
    assert consumer._client._releasewatch_wait.ceiling_ms == 2000  # adapts (fetchwait)
    apache = create_app("booking", settings(data_dir=tmp_path), 18085)
    default = AIOKafkaConsumerThread(apache.consumer)._create_worker_consumer(apache.transport)
    assert default._fetch_max_wait_ms == 1500  # faust's own, fine where fetches are woken
    assert not hasattr(default._client, "_releasewatch_wait")


def _do_init_pid() -> None:  # named as aiokafka's sender's step that asks for a producer id
    raise UnknownError()


def _elsewhere() -> None:
    raise UnknownError()


@pytest.mark.parametrize(
    ("values", "raised_by", "hinted"),
    [
        ({}, _do_init_pid, True),  # idempotent as shipped: Tansu without its flavor set
        ({"producer_idempotence": False}, _do_init_pid, False),
        ({}, _elsewhere, False),  # the same error from another request: no guess
    ],
)
def test_a_broker_refusing_an_idempotent_producer_names_the_settings_to_check(
    values: dict[str, Any], raised_by: Any, hinted: bool
) -> None:
    try:
        raised_by()
    except UnknownError as exc:
        said = explain_failure(exc, settings(**values))
    assert ("RELEASEWATCH_BROKER_FLAVOR=tansu" in said) is hinted
    assert ("RELEASEWATCH_PRODUCER_IDEMPOTENCE=false" in said) is hinted
    assert said.startswith("the broker refused an idempotent producer") is hinted
