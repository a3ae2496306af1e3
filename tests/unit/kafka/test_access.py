"""Who may do what (services/access.py), its ACL bindings, and the secured listener's settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas.topics import REGISTRY
from services import access
from services.access import Operation, Pattern, Resource
from services.kafka.admin import acls
from services.kafka.broker.secure import SecureListener


def grants_of(principal: access.Principal) -> dict[tuple[str, str, str], set[str]]:
    return {
        (g.resource.value, g.name, g.pattern.value): {o.value for o in g.operations}
        for g in principal.grants
    }


def topic_ops(principal: access.Principal, topic: str) -> set[str]:
    """What the principal may do to ``topic``, literal and prefix grants together."""
    allowed: set[str] = set()
    for grant in principal.grants:
        if grant.resource is not Resource.TOPIC:
            continue
        if grant.name == topic or (
            grant.pattern is Pattern.PREFIX and topic.startswith(grant.name)
        ):
            allowed |= {o.value for o in grant.operations}
    return allowed


@pytest.mark.parametrize("service", access.SERVICES)
def test_a_service_reads_its_inputs_and_writes_its_outputs_only(service: str) -> None:
    principal = access.service_principal(service)
    topics = access.SERVICE_TOPICS[service]
    for spec in topics.reads:
        assert {"Read", "Describe"} <= topic_ops(principal, spec.name)
    for spec in topics.writes:
        assert {"Write", "Describe"} <= topic_ops(principal, spec.name)
    used = {spec.name for spec in (*topics.reads, *topics.writes)}
    for spec in REGISTRY:
        if spec.name not in used and not spec.name.startswith("notices."):
            assert topic_ops(principal, spec.name) == set(), (service, spec.name)
    own = f"releasewatch-{service}"
    assert grants_of(principal)[("group", own, "literal")] == {"Read", "Describe"}
    assert "Create" not in topic_ops(principal, f"{own}-bookings-changelog")
    assert topic_ops(principal, f"releasewatch-other-{service}") == set()


def test_only_notification_may_create_and_write_agency_topics() -> None:
    for service in access.SERVICES:
        ops = topic_ops(access.service_principal(service), "notices.new-agency.v1")
        assert (ops == {"Create", "Write", "Describe"}) == (service == "notification"), service


@pytest.mark.parametrize(
    ("topic", "allowed"),
    [
        ("notices.dhs-ice.v1", {"Read", "Describe"}),
        ("agency.requests.v1", {"Write", "Describe"}),
        ("notice.acks.v1", {"Write", "Describe"}),
        ("notices.usms.v1", set()),
        ("jail.booking.v1", set()),
        ("notice.audit.v1", set()),
        ("booking.state.v1", set()),
        ("notices.subject-copies.v1", set()),
    ],
)
def test_an_agency_reads_its_notices_and_files_and_acknowledges(
    topic: str, allowed: set[str]
) -> None:
    assert topic_ops(access.agency_principal("dhs-ice"), topic) == allowed


def test_a_jail_writes_booking_events_and_nothing_else() -> None:
    principal = access.jail_principal("hennepin-adc")
    assert grants_of(principal) == {("topic", "jail.booking.v1", "literal"): {"Write", "Describe"}}
    with pytest.raises(ValueError, match="not a slug"):
        access.jail_principal("Hennepin ADC")


def test_ops_reads_every_public_topic_and_writes_only_who_looked() -> None:
    principal = access.ops_principal()
    for spec in REGISTRY:
        expected = set() if spec.internal else {"Read", "Describe"}
        if spec.name == "ops.access.v1":  # the board records each look (#46)
            expected.add("Write")
        assert topic_ops(principal, spec.name) == expected, spec.name
    writes = {g.name for g in principal.grants if Operation.WRITE in g.operations}
    assert writes == {"ops.access.v1"}


def test_bindings_are_one_per_operation_and_name_the_principal() -> None:
    found = acls.bindings([access.agency_principal("usms")])
    assert len(found) == 8
    assert str(found[0]).startswith("User:agency-usms ")
    assert all(b.operation in acls.OPERATIONS for b in found)
    prefixed = acls.bindings([access.service_principal("notification")])
    assert "User:releasewatch-notification Create topic:notices.*" in {str(b) for b in prefixed}


def test_every_principal_of_a_deployment_once() -> None:
    names = [p.name for p in access.deployment_principals(("dhs-ice", "usms"), ("hennepin-adc",))]
    assert names == [
        "releasewatch-booking",
        "releasewatch-scheduling",
        "releasewatch-notification",
        "releasewatch-intake",
        "releasewatch-sealer",
        "releasewatch-ops",
        "jail-hennepin-adc",
        "agency-dhs-ice",
        "agency-usms",
    ]


def test_the_intake_writes_jail_events_requests_and_dead_letters_and_nothing_else() -> None:
    grants = {
        (g.resource, g.name): set(g.operations) for g in access.service_principal("intake").grants
    }
    assert grants == {
        (access.Resource.TOPIC, "jail.booking.v1"): {
            access.Operation.WRITE,
            access.Operation.DESCRIBE,
        },
        (access.Resource.TOPIC, "agency.requests.v1"): {
            access.Operation.WRITE,
            access.Operation.DESCRIBE,
        },
        (access.Resource.TOPIC, "deadletter.v1"): {
            access.Operation.WRITE,
            access.Operation.DESCRIBE,
        },
        (access.Resource.CLUSTER, access.CLUSTER_NAME): {access.Operation.IDEMPOTENT_WRITE},
    }


def test_the_sealer_reads_the_logs_in_its_group_and_writes_only_their_seals() -> None:
    grants = {
        (g.resource, g.name): set(g.operations) for g in access.service_principal("sealer").grants
    }
    read = {access.Operation.READ, access.Operation.DESCRIBE}
    write = {access.Operation.WRITE, access.Operation.DESCRIBE}
    assert grants == {
        (access.Resource.TOPIC, "notice.audit.v1"): read,
        (access.Resource.TOPIC, "ops.access.v1"): read,
        (access.Resource.TOPIC, "notice.audit.seals.v1"): write,
        (access.Resource.TOPIC, "ops.access.seals.v1"): write,
        (access.Resource.GROUP, "releasewatch-sealer"): read,
        (access.Resource.CLUSTER, access.CLUSTER_NAME): {access.Operation.IDEMPOTENT_WRITE},
    }


def test_the_secured_listener_settings() -> None:
    listener = SecureListener(
        "SASL_SSL", (("admin", "pw-1"),), Path("/k.p12"), "kpw", Path("/ca.pem"), client_auth=True
    )
    settings = listener.properties()
    assert settings["listener.name.secure.sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert settings["listener.name.secure.ssl.keystore.location"] == "/k.p12"
    assert settings["listener.name.secure.ssl.client.auth"] == "required"
    assert settings["super.users"] == "User:ANONYMOUS;User:admin"
    assert listener.format_arguments() == [
        "--add-scram",
        "SCRAM-SHA-512=[name=admin,password=pw-1]",
    ]


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ({"protocol": "PLAINTEXT"}, "protocol"),
        ({"protocol": "SSL"}, "keystore"),
        ({"users": (("a,b", "pw"),)}, "letters, digits"),
        ({"users": (("a", "p]w"),)}, "letters, digits"),
        (
            {"protocol": "SSL", "keystore": Path("/k"), "client_auth": True},
            "truststore",
        ),
    ],
)
def test_a_listener_that_cannot_work_is_refused(arguments: dict, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        SecureListener(**arguments)
