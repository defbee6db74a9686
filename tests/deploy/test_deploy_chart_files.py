"""What the chart embeds from elsewhere in the repository: config, alert rules, dashboard, topic registry."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml
from chart_render import CHART, ROOT, Render

from omni_schemas.topics import TOPICS

pytestmark = pytest.mark.timeout(1800)  # the first helm use may build helm

RULES = ROOT / "deploy" / "prometheus" / "rules.yaml"
DASHBOARD = ROOT / "deploy" / "grafana" / "omni-dashboard.json"


def test_chart_copies_are_identical_to_their_sources() -> None:
    done = subprocess.run(
        [str(ROOT / "deploy" / "tools" / "sync-chart-files.sh"), "--check"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for source, copy in [
        (ROOT / "config" / "routing.yaml", "routing.yaml"),
        (ROOT / "config" / "sla.yaml", "sla.yaml"),
        (RULES, "prometheus-rules.yaml"),
        (DASHBOARD, "omni-dashboard.json"),
    ]:
        copied = CHART / "files" / copy
        assert copied.exists() == source.exists(), copy
        if source.exists():
            assert copied.read_bytes() == source.read_bytes(), copy


def test_default_config_map_carries_the_repository_config(render: Render) -> None:
    config = render().one("ConfigMap", "omni-config")["data"]
    for name in ["routing.yaml", "sla.yaml"]:
        source = ROOT / "config" / name
        assert yaml.safe_load(config[name]) == yaml.safe_load(source.read_text(encoding="utf-8"))


def test_prometheus_rule_carries_every_rule_group(render: Render) -> None:
    rendered = render("monitoring.yaml")
    if not RULES.exists():
        assert rendered.returncode != 0
        assert "no files/prometheus-rules.yaml" in rendered.stderr
        return
    (rule,) = rendered.of_kind("PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    source = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    groups = source.get("groups") or source["spec"]["groups"]
    assert rule["spec"]["groups"] == groups
    alerts = [r for g in groups for r in g["rules"] if "alert" in r]
    assert alerts, "rules.yaml should hold alerts as well as recording rules"


def test_grafana_dashboard_config_map_holds_the_dashboard(render: Render) -> None:
    rendered = render("monitoring.yaml")
    if not DASHBOARD.exists():
        assert rendered.returncode != 0
        assert "no files/omni-dashboard.json" in rendered.stderr
        return
    dashboard = rendered.one("ConfigMap", "omni-dashboard")
    assert dashboard["metadata"]["namespace"] == "monitoring"
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert dashboard["metadata"]["annotations"] == {"grafana_folder": "omni"}
    assert json.loads(dashboard["data"]["omni-dashboard.json"]) == json.loads(DASHBOARD.read_text(encoding="utf-8"))


def test_default_strimzi_topics_follow_the_topic_registry() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
    topics = values["strimzi"]["topics"]["topics"]
    assert set(topics) == set(TOPICS)
    for name, topic in TOPICS.items():
        wanted = topics[name]
        assert wanted["partitions"] == topic.partitions, name
        if topic.compacted:
            assert wanted["config"]["cleanup.policy"] == "compact", name
        else:
            assert wanted["config"]["retention.ms"] == str(topic.retention_ms), name


def test_keda_watches_the_topics_each_service_consumes() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
    groups = {service: settings for service, settings in values["services"].items() if "consumer" in settings}
    assert set(groups) == {"router", "sla"}  # analytics reads every partition itself, without a group
    for service, settings in groups.items():
        consumed = {name for name, topic in TOPICS.items() if service in topic.consumers}
        assert set(settings["consumer"]["topics"]) == consumed, service


def test_values_schema_is_generated_from_deploy_tools_values_schema() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "deploy" / "tools" / "values_schema.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


def test_default_values_satisfy_the_schema_and_every_key_is_described_by_it() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text(encoding="utf-8"))
    values = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
    jsonschema.validate(values, schema)
    values["defaults"]["replicsa"] = 2  # a typo must not pass silently
    with pytest.raises(jsonschema.ValidationError, match="replicsa"):
        jsonschema.validate(values, schema)


def registered_consumer_groups(app_module: Path) -> set[str]:
    """The literal `group=` of every `add_consumer(...)` call in a service's composition root."""
    groups = set()
    for node in ast.walk(ast.parse(app_module.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "add_consumer":
            for keyword in node.keywords:
                if keyword.arg == "group" and isinstance(keyword.value, ast.Constant):
                    groups.add(keyword.value.value)
    return groups


@pytest.mark.parametrize("service", ["router", "sla"])
def test_keda_watches_the_consumer_group_the_service_registers(service: str) -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
    app_module = ROOT / "services" / service / "src" / f"omni_{service}" / "app.py"
    if app_module.exists():  # until the service's composition root lands there is nothing to compare
        assert values["services"][service]["consumer"]["group"] in registered_consumer_groups(app_module)
