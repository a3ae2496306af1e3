"""No Docker engine or Kubernetes here: the compose file, the Dockerfile and the manifests are
checked statically against the code (the CLI, the settings, the topic registry)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from schemas.owned_topics import faust_topics
from schemas.topics import REGISTRY
from services.access import OPS, service_principal_name
from services.cli import SERVICES, build_parser
from services.core import agencies
from services.kafka.admin import strimzi as deployment
from services.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
SETTINGS = {f"RELEASEWATCH_{name.upper()}" for name in Settings.model_fields}
RUNNABLE = {*SERVICES}  # `service NAME` for each; the topics job runs `topics create`


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's ${VAR:-default} substitution, enough for our file."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if isinstance(value, str):
        return re.sub(
            r"\$\{(\w+)(?::-([^}]*))?\}", lambda m: env.get(m.group(1), m.group(2) or ""), value
        )
    return value


def read_env_file(path: Path) -> dict[str, str]:
    pairs = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, value = line.split("=", 1)
            pairs[key] = value
    return pairs


def compose(env: dict[str, str]) -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return interpolate(loaded, env)  # type: ignore[no-any-return]


def active(services: dict[str, Any], profiles: set[str]) -> dict[str, Any]:
    return {
        name: spec
        for name, spec in services.items()
        if not spec.get("profiles") or set(spec["profiles"]) & profiles
    }


def settings_from(env: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Settings:
    for key in list(SETTINGS):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, str(value))
    return Settings()


@pytest.mark.parametrize("variant", ["single", "cluster"])
def test_compose_runs_real_commands_with_real_settings(
    variant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = read_env_file(ROOT / "deploy" / "cluster.env") if variant == "cluster" else {}
    profiles = set(env.get("COMPOSE_PROFILES", "").split(",")) - {""}
    document = compose(env)
    services = active(document["services"], profiles)
    parser = build_parser()
    ours = {name: spec for name, spec in services.items() if "command" in spec}
    assert set(SERVICES) | {"topics", "keys"} == set(ours)
    made = {"condition": "service_completed_successfully"}
    for name, spec in ours.items():
        args = parser.parse_args(spec["command"])  # the command exists in the CLI
        if name == "topics":
            assert spec["command"][:2] == ["topics", "create"]
            assert spec["restart"] == "no"
        elif name == "keys":  # the development KEK file, made once (#46)
            assert spec["command"][:2] == ["keys", "rotate"] and args.if_missing
            assert spec["restart"] == "no"
            assert spec["depends_on"] == {"topics": made}  # recorded on ops.access.v1
        elif name in ("booking", "notification", "intake"):  # they seal person data under it
            assert args.name == name
            assert spec["depends_on"] == {"topics": made, "keys": made}
            kek = spec["environment"]["RELEASEWATCH_KEK_FILE"]
            assert any(v.endswith(f":{Path(kek).parent}:ro") for v in spec["volumes"])
        else:
            assert args.name == name
            assert spec["depends_on"] == {"topics": made}
        assert set(spec["environment"]) <= SETTINGS, set(spec["environment"]) - SETTINGS
        settings = settings_from(spec["environment"], monkeypatch)
        assert settings.broker_flavor.value == "apache"
        for volume in spec.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):  # a file of the repository
                assert (ROOT / source).exists(), volume
            else:  # a named volume: declared
                assert source in document["volumes"], volume
        if name in ("booking", "scheduling", "notification"):  # tables kept across restarts
            data_dir = spec["environment"]["RELEASEWATCH_DATA_DIR"]
            assert f"{name}-state:{data_dir}" in spec["volumes"]
    assert services["scheduling"]["deploy"]["replicas"] == 2
    assert services["board"]["ports"] == ["6096:8080"]
    assert services["intake"]["ports"] == ["6097:8080"]


def test_compose_cluster_profile_is_three_brokers_rf3_min_isr2(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = read_env_file(ROOT / "deploy" / "cluster.env")
    assert env["COMPOSE_PROFILES"] == "cluster"
    services = active(compose(env)["services"], {"cluster"})
    brokers = {name: spec for name, spec in services.items() if "kafka" in spec["image"]}
    assert len(brokers) == 3
    node_ids = {spec["environment"]["KAFKA_NODE_ID"] for spec in brokers.values()}
    assert node_ids == {"1", "2", "3"}
    voters = brokers["kafka"]["environment"]["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")
    assert {voter.split("@")[1].split(":")[0] for voter in voters} == set(brokers)
    for spec in brokers.values():
        kafka_env = spec["environment"]
        assert kafka_env["KAFKA_MIN_INSYNC_REPLICAS"] == "2"
        assert kafka_env["KAFKA_DEFAULT_REPLICATION_FACTOR"] == "3"
        assert kafka_env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
        assert len({spec["environment"]["CLUSTER_ID"] for spec in brokers.values()}) == 1
    settings = settings_from(services["topics"]["environment"], monkeypatch)
    assert settings.replication_factor == 3
    assert settings.min_insync_replicas == 2
    assert settings.bootstrap_servers == "kafka:9092,kafka-2:9092,kafka-3:9092"

    single = active(compose({})["services"], set())
    assert [name for name, spec in single.items() if "kafka" in spec["image"]] == ["kafka"]
    assert single["kafka"]["environment"]["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@kafka:9093"


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (ROOT / "deploy" / "Dockerfile").read_text().replace("\\\n", " ")
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
        for line in (raw.strip() for raw in text.splitlines())
        if line and not line.startswith("#")
    ]


def test_dockerfile_is_multi_stage_non_root_pinned_with_a_healthcheck() -> None:
    instructions = dockerfile_instructions()
    stages = [arg for op, arg in instructions if op == "FROM"]
    assert len(stages) == 2 and "slim" in (ROOT / "deploy" / "Dockerfile").read_text()
    final = instructions[[op for op, _ in instructions].index("FROM", 1) :]
    users = [arg for op, arg in final if op == "USER"]
    assert users and not users[-1].startswith(("root", "0"))
    installs = [arg for op, arg in instructions if op == "RUN" and "pip install" in arg]
    assert installs and all("-c constraints.txt" in arg for arg in installs)
    for op, arg in instructions:
        if op == "COPY" and "--from" not in arg:
            for source in arg.split()[:-1]:
                assert (ROOT / source).exists(), source
    health = next(arg for op, arg in final if op == "HEALTHCHECK")
    command = yaml.safe_load(health.split("CMD", 1)[1])
    assert command[0] == "releasewatch"
    build_parser().parse_args(command[1:])
    env_names = set()
    for op, arg in final:
        if op == "ENV":
            env_names |= {pair.split("=")[0] for pair in shlex.split(arg)}
    released = {name for name in env_names if name.startswith("RELEASEWATCH_")}
    assert released <= SETTINGS, released - SETTINGS
    assert "RELEASEWATCH_WEB_PORT" in released  # what `releasewatch health` checks
    assert ("ENTRYPOINT", '["releasewatch"]') in final


def k8s_documents(name: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all((K8S / name).read_text()) if doc]


def test_kustomization_lists_files_that_exist() -> None:
    kustomization = k8s_documents("kustomization.yaml")[0]
    for resource in kustomization["resources"]:
        assert (K8S / resource).is_file(), resource
    assert kustomization["images"][0]["name"] == "releasewatch"


def test_every_service_has_probes_resources_a_pdb_and_real_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    docs = [d for path in sorted(K8S.glob("service-*.yaml")) for d in k8s_documents(path.name)]
    config = k8s_documents("config.yaml")[0]
    config_maps = {
        config["metadata"]["name"],
        *(d["metadata"]["name"] for d in k8s_documents("policies.yaml")),
    }
    workloads = ("Deployment", "StatefulSet")
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] in workloads}
    budgets = {d["metadata"]["name"]: d for d in docs if d["kind"] == "PodDisruptionBudget"}
    assert set(deployments) == set(SERVICES) == set(budgets)
    # The services with tables keep them on a volume of their own per pod (RocksDB state).
    data_dir = config["data"]["RELEASEWATCH_DATA_DIR"]
    for name in ("booking", "scheduling", "notification"):
        stateful = deployments[name]
        assert stateful["kind"] == "StatefulSet", name
        [claim] = stateful["spec"]["volumeClaimTemplates"]
        (container,) = stateful["spec"]["template"]["spec"]["containers"]
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        assert mounts[claim["metadata"]["name"]] == data_dir, name
        headless = [d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == name]
        assert headless and headless[0]["spec"]["clusterIP"] == "None"
        assert stateful["spec"]["serviceName"] == name
    parser = build_parser()
    for name, deployment_doc in deployments.items():
        pod = deployment_doc["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert parser.parse_args(container["args"]).name == name
        assert container["livenessProbe"]["httpGet"]["path"] == "/health"
        assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
        assert container["resources"]["requests"]["memory"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        for source in container["envFrom"]:
            assert source["configMapRef"]["name"] in config_maps
        secret_env = {item["name"] for item in container["env"]}
        assert secret_env <= SETTINGS
        for volume in pod["volumes"]:
            if "configMap" in volume:
                assert volume["configMap"]["name"] in config_maps
        selector = budgets[name]["spec"]["selector"]["matchLabels"]
        labels = deployment_doc["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items()
        mounts = [m["mountPath"] for m in container["volumeMounts"]]
        for path_setting in ("RELEASEWATCH_POLICY_FILE", "RELEASEWATCH_SSL_CAFILE"):
            assert any(config["data"][path_setting].startswith(m + "/") for m in mounts), name
    assert set(config["data"]) <= SETTINGS, set(config["data"]) - SETTINGS
    for name, deployment_doc in deployments.items():
        (container,) = deployment_doc["spec"]["template"]["spec"]["containers"]
        values = {item["name"]: item["value"] for item in container["env"] if "value" in item}
        settings = settings_from(
            {**config["data"], **values, "RELEASEWATCH_SASL_PASSWORD": "from-the-secret"},
            monkeypatch,
        )
        assert settings.security_protocol.value == "SASL_SSL"
        assert settings.replication_factor == 3 and settings.min_insync_replicas == 2
        # Each logs in as its own principal, with that principal's Secret.
        principal = OPS if name == "board" else service_principal_name(name)
        assert settings.sasl_username == principal, name
        secrets = {
            i["name"]: i["valueFrom"]["secretKeyRef"] for i in container["env"] if "valueFrom" in i
        }
        assert secrets.pop("RELEASEWATCH_SASL_PASSWORD")["name"] == principal
        if name == "board":  # people sign in to it (#46); its sessions' secret is shared
            assert (
                secrets.pop("RELEASEWATCH_SESSION_SECRET")["name"] == "releasewatch-board-session"
            )
            assert values["RELEASEWATCH_USERS_FILE"].startswith("/etc/releasewatch/users/")
        assert secrets == {}, name


def test_policy_config_map_is_the_policy_file() -> None:
    (config_map,) = k8s_documents("policies.yaml")
    assert config_map["data"]["policies.yaml"] == (ROOT / "deploy" / "policies.yaml").read_text()
    assert config_map["data"]["agencies.yaml"] == (ROOT / "deploy" / "agencies.yaml").read_text()
    assert config_map["data"]["jails.yaml"] == (ROOT / "deploy" / "jails.yaml").read_text()


def test_strimzi_topics_match_the_registry() -> None:
    resources = k8s_documents("kafka-topics.yaml")
    assert resources == deployment.kafka_topics("releasewatch", 8, 3, 2), (
        "stale: run `releasewatch k8s topics > deploy/k8s/kafka-topics.yaml`"
    )
    names = {resource["spec"]["topicName"] for resource in resources}
    assert names == {spec.name for spec in REGISTRY} | {topic.name for topic in faust_topics()}
    for resource in resources:
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", resource["metadata"]["name"])


def test_strimzi_users_are_current_and_agencies_get_least_privilege() -> None:
    resources = k8s_documents("kafka-users.yaml")
    registry = agencies.load().slugs  # every agency of deploy/agencies.yaml
    assert "dhs-ice" in registry
    expected = deployment.kafka_users("releasewatch", registry, ("hennepin-adc",))
    assert resources == expected, (
        "stale: run `releasewatch k8s users --jail hennepin-adc > deploy/k8s/kafka-users.yaml`"
    )
    agency = next(r for r in resources if r["metadata"]["name"] == "agency-dhs-ice")
    grants = {
        (acl["resource"]["type"], acl["resource"]["name"], acl["resource"]["patternType"]): set(
            acl["operations"]
        )
        for acl in agency["spec"]["authorization"]["acls"]
    }
    assert grants == {
        ("topic", "notices.dhs-ice.v1", "literal"): {"Read", "Describe"},
        ("group", "agency-dhs-ice", "literal"): {"Read", "Describe"},
        ("topic", "agency.requests.v1", "literal"): {"Write", "Describe"},
        ("topic", "notice.acks.v1", "literal"): {"Write", "Describe"},
    }
    jail = next(r for r in resources if r["metadata"]["name"] == "jail-hennepin-adc")
    (only,) = jail["spec"]["authorization"]["acls"]
    assert only["resource"]["name"] == "jail.booking.v1" and "Read" not in only["operations"]


def test_k8s_users_default_to_the_registrys_agencies(capsys: pytest.CaptureFixture[str]) -> None:
    from services import cli

    assert cli.main(["k8s", "users", "--jail", "hennepin-adc"]) == 0
    printed = list(yaml.safe_load_all(capsys.readouterr().out))
    assert [d for d in printed if d] == k8s_documents("kafka-users.yaml")


def test_agency_user_refuses_a_slug_that_is_not_one() -> None:
    with pytest.raises(ValueError, match="not an agency slug"):
        deployment.kafka_users("releasewatch", ("DHS ICE",))
    with pytest.raises(ValueError, match="not an agency slug"):
        deployment.kafka_users("releasewatch", ("subject-copies",))
