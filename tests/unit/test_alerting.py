"""The Prometheus alerting rules (deploy/prometheus/), checked by the real promtool (Debian's
prometheus package, installed by make test): the rules load, their unit tests pass, a rule
changed the wrong way fails them, the operator's PrometheusRule holds the same groups, and
every metric they use is one the services expose."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import yaml

from services.ops.metrics import Metrics

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "rules.yml"
TESTS = ROOT / "deploy" / "prometheus" / "rules.test.yml"
OPERATOR = ROOT / "deploy" / "k8s" / "prometheus-rule.yaml"


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("promtool")
    assert tool, "promtool is missing: `make test` installs Debian's prometheus package"
    return subprocess.run(
        [tool, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def test_the_rules_load() -> None:
    result = promtool("check", "rules", RULES.name, cwd=RULES.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 9 rules found" in result.stdout


def test_the_rules_unit_tests_pass() -> None:
    result = promtool("test", "rules", TESTS.name, cwd=TESTS.parent)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_rule_changed_the_wrong_way_fails_its_unit_test(tmp_path: Path) -> None:
    broken = RULES.read_text().replace(
        '{service="scheduling"}) > 60', '{service="scheduling"}) > 600'
    )
    assert broken != RULES.read_text()
    (tmp_path / RULES.name).write_text(broken)
    (tmp_path / TESTS.name).write_text(TESTS.read_text())
    result = promtool("test", "rules", TESTS.name, cwd=tmp_path)
    assert result.returncode != 0
    assert "ReleasewatchNoticeOverdue" in result.stdout + result.stderr


def test_the_operator_resource_holds_the_same_rules() -> None:
    rules = yaml.safe_load(RULES.read_text())
    resource = yaml.safe_load(OPERATOR.read_text())
    assert resource["apiVersion"] == "monitoring.coreos.com/v1"
    assert resource["kind"] == "PrometheusRule"
    assert resource["spec"]["groups"] == rules["groups"]


def exposed_metrics() -> set[str]:
    metrics = Metrics("any")
    metrics.watch_consumer_lag()
    names = {"up"}  # Prometheus' own, per scraped target
    for family in metrics.registry.collect():
        names.add(family.name + ("_total" if family.type == "counter" else ""))
    return names


def test_every_metric_the_rules_use_is_exposed() -> None:
    rules = yaml.safe_load(RULES.read_text())
    used = {
        name
        for group in rules["groups"]
        for rule in group["rules"]
        for name in re.findall(r"\b(releasewatch_[a-z_]+|up)\b", rule["expr"])
    }
    assert len(used) == 9  # deadline lag twice (overdue, late)
    assert used <= exposed_metrics(), used - exposed_metrics()


def test_every_metric_the_grafana_dashboard_uses_is_exposed() -> None:
    import json

    dashboard = json.loads((ROOT / "deploy" / "grafana" / "releasewatch.json").read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    used = {name for expr in exprs for name in re.findall(r"\b(releasewatch_[a-z_]+|up)\b", expr)}
    assert len(used) == 10  # rates, lag, deadlines, alerts, notices, dead letters, escalations
    assert used <= exposed_metrics(), used - exposed_metrics()
    titles = " ".join(panel["title"] for panel in dashboard["panels"]).lower()
    for topic in ("per second", "lag", "deadlines armed", "notices", "dead letters"):
        assert topic in titles, topic
