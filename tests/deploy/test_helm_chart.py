"""The Helm chart: lint, render with default and realistic values, validate every object offline."""

from __future__ import annotations

import subprocess
import tarfile
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
from chart_render import CHART, KUBE_VERSION, NAMESPACE, VALUES, Render, Rendered

# helm is built from source on a fresh machine (a few minutes, once); that setup counts toward the
# first test's timeout. Every helm call has its own timeout in conftest.
pytestmark = pytest.mark.timeout(1800)

# The contract's services and HTTP ports (CONTRACT.md section 2).
CONTRACT_PORTS = {
    "ingest_email": 8001,
    "ingest_chat": 8002,
    "ingest_social": 8003,
    "router": 8004,
    "sla": 8005,
    "analytics": 8006,
}
CONSUMER_GROUPS = {"router", "sla"}  # scaled on lag under KEDA
SINGLETONS = {"analytics"}  # one pod, never autoscaled
OVERRIDES = ["keda.yaml", "strimzi.yaml", "ingress.yaml", "hpa.yaml", "fixed.yaml"]
# The PrometheusRule and dashboard render from copies of deploy/prometheus and deploy/grafana (see
# test_deploy_chart_files.py); validate them whenever the chart carries them.
if all((CHART / "files" / f).exists() for f in ["prometheus-rules.yaml", "omni-dashboard.json"]):
    OVERRIDES.append("monitoring.yaml")

# Required fields and types of the custom resources the chart renders, from their CRDs
# (Prometheus Operator v0.8x, KEDA v2.1x, Strimzi v0.4x); kubernetes-validate knows core kinds only.
_METADATA = {"type": "object", "required": ["name"], "properties": {"name": {"type": "string", "minLength": 1}}}
_DURATION = {"type": "string", "pattern": r"^(0|(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"}
CUSTOM_RESOURCES: dict[tuple[str, str], dict[str, Any]] = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): {
        "type": "object",
        "required": ["metadata", "spec"],
        "properties": {
            "metadata": _METADATA,
            "spec": {
                "type": "object",
                "required": ["selector", "endpoints"],
                "properties": {
                    "selector": {"type": "object", "required": ["matchLabels"]},
                    "namespaceSelector": {"type": "object"},
                    "endpoints": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["port", "path"],
                            "properties": {
                                "port": {"type": "string"},
                                "path": {"type": "string", "pattern": "^/"},
                                "scheme": {"enum": ["http", "https"]},
                                "interval": _DURATION,
                                "scrapeTimeout": _DURATION,
                                "relabelings": {"type": "array"},
                            },
                            "additionalProperties": False,
                        },
                    },
                },
                "additionalProperties": False,
            },
        },
    },
    ("monitoring.coreos.com/v1", "PrometheusRule"): {
        "type": "object",
        "required": ["metadata", "spec"],
        "properties": {
            "metadata": _METADATA,
            "spec": {
                "type": "object",
                "required": ["groups"],
                "properties": {
                    "groups": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["name", "rules"],
                            "properties": {
                                "name": {"type": "string", "minLength": 1},
                                "interval": _DURATION,
                                "rules": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "required": ["expr"],
                                        "oneOf": [{"required": ["alert"]}, {"required": ["record"]}],
                                        "properties": {
                                            "expr": {"type": ["string", "integer"]},
                                            "for": _DURATION,
                                            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                                            "annotations": {
                                                "type": "object",
                                                "additionalProperties": {"type": "string"},
                                            },
                                        },
                                    },
                                },
                            },
                        },
                    }
                },
            },
        },
    },
    ("keda.sh/v1alpha1", "ScaledObject"): {
        "type": "object",
        "required": ["metadata", "spec"],
        "properties": {
            "metadata": _METADATA,
            "spec": {
                "type": "object",
                "required": ["scaleTargetRef", "triggers"],
                "properties": {
                    "scaleTargetRef": {
                        "type": "object",
                        "required": ["name"],
                        "properties": {
                            "name": {"type": "string"},
                            "kind": {"type": "string"},
                            "apiVersion": {"type": "string"},
                        },
                        "additionalProperties": False,
                    },
                    "minReplicaCount": {"type": "integer", "minimum": 0},
                    "maxReplicaCount": {"type": "integer", "minimum": 1},
                    "pollingInterval": {"type": "integer", "minimum": 1},
                    "cooldownPeriod": {"type": "integer", "minimum": 0},
                    "advanced": {"type": "object"},
                    "triggers": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["type", "metadata"],
                            "properties": {
                                "type": {"type": "string"},
                                # trigger metadata is map[string]string in KEDA's API
                                "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
                                "authenticationRef": {"type": "object", "required": ["name"]},
                            },
                            "additionalProperties": False,
                        },
                    },
                },
                "additionalProperties": False,
            },
        },
    },
    ("kafka.strimzi.io/v1beta2", "KafkaTopic"): {
        "type": "object",
        "required": ["metadata", "spec"],
        "properties": {
            "metadata": {
                "type": "object",
                "required": ["name", "labels"],
                "properties": {
                    "name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"},
                    "labels": {"type": "object", "required": ["strimzi.io/cluster"]},
                },
            },
            "spec": {
                "type": "object",
                "required": ["partitions", "replicas"],
                "properties": {
                    "topicName": {"type": "string"},
                    "partitions": {"type": "integer", "minimum": 1},
                    "replicas": {"type": "integer", "minimum": 1, "maximum": 32767},
                    "config": {"type": "object"},
                },
                "additionalProperties": False,
            },
        },
    },
}


CUSTOM_RESOURCES["kafka.strimzi.io/v1", "KafkaTopic"] = CUSTOM_RESOURCES["kafka.strimzi.io/v1beta2", "KafkaTopic"]


def validate_object(obj: dict[str, Any]) -> None:
    """Core kinds against the pinned Kubernetes schemas (strict: no unknown fields); CRs by their CRD."""
    key = (obj["apiVersion"], obj["kind"])
    if key in CUSTOM_RESOURCES:
        jsonschema.validate(obj, CUSTOM_RESOURCES[key])
    else:
        kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)


def component(name: str) -> str:
    return "omni-" + name.replace("_", "-")


def container_of(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


@pytest.mark.parametrize("values", [None, *OVERRIDES])
def test_helm_lint_passes_strict(helm: str, values: str | None) -> None:
    extra = ["--values", str(VALUES / values)] if values else []
    done = subprocess.run(
        [helm, "lint", "--strict", str(CHART), "--kube-version", KUBE_VERSION, *extra],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 chart(s) failed" in done.stdout
    # lint reports a template's `fail` only as [INFO]; a default or realistic values file must not hit one
    assert "Fail:" not in done.stdout + done.stderr, done.stderr


@pytest.mark.parametrize(
    "values",
    [[], *([name] for name in OVERRIDES), OVERRIDES],
    ids=lambda values: "+".join(v.removesuffix(".yaml") for v in values) or "defaults",
)
def test_every_rendered_object_validates(render: Render, values: list[str]) -> None:
    rendered = render(*values)
    objects = rendered.objects
    assert objects
    for obj in objects:
        try:
            validate_object(obj)
        except (jsonschema.ValidationError, kubernetes_validate.ValidationError) as exc:
            pytest.fail(f"{obj['kind']}/{obj['metadata']['name']} with {values or 'default values'}: {exc}")


def test_every_contract_service_is_a_deployment_probed_on_its_contract_port(render: Render) -> None:
    rendered = render()
    deployments = {d["metadata"]["name"]: d for d in rendered.of_kind("Deployment")}
    assert set(deployments) == {component(name) for name in CONTRACT_PORTS}
    for name, port in CONTRACT_PORTS.items():
        container = container_of(deployments[component(name)])
        assert container["command"] == ["python", "-m", f"omni_{name}"]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports["http"] == port
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["HTTP_PORT"] == str(port)
        for probe, path in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz"), ("startupProbe", "/healthz")]:
            get = container[probe]["httpGet"]
            assert get["path"] == path
            assert ports[get["port"]] == port if isinstance(get["port"], str) else get["port"] == port


def test_ingest_email_also_listens_for_smtp(render: Render) -> None:
    rendered = render()
    container = container_of(rendered.one("Deployment", "omni-ingest-email"))
    assert {"name": "smtp", "containerPort": 2525, "protocol": "TCP"} in container["ports"]
    assert {"name": "SMTP_PORT", "value": "2525"} in container["env"]
    service = rendered.one("Service", "omni-ingest-email")
    assert {"name": "smtp", "port": 2525, "targetPort": "smtp", "protocol": "TCP"} in service["spec"]["ports"]


def test_pods_run_hardened(render: Render) -> None:
    rendered = render()
    for deployment in rendered.of_kind("Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] != 0
        assert pod["automountServiceAccountToken"] is False
        assert len(pod["topologySpreadConstraints"]) == 2
        sc = container_of(deployment)["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"]["drop"] == ["ALL"]
        resources = container_of(deployment)["resources"]
        assert resources["requests"]["cpu"] and resources["limits"]["memory"]


def test_secrets_are_referenced_by_name_never_rendered(render: Render) -> None:
    rendered = render("keda.yaml", "strimzi.yaml", "ingress.yaml", "hpa.yaml")
    assert rendered.of_kind("Secret") == []
    for deployment in rendered.of_kind("Deployment"):
        for env in container_of(deployment)["env"]:
            if env["name"] in {"DATABASE_URL", "REDIS_URL", "OMNI_API_TOKEN"} or env["name"].endswith(
                ("_SECRET", "_TOKEN", "_KEY", "_PASSWORD", "_USER")
            ):
                assert "value" not in env, env["name"]
                assert env["valueFrom"]["secretKeyRef"]["name"] == "omni-secrets"
    social = {e["name"]: e for e in container_of(rendered.one("Deployment", "omni-ingest-social"))["env"]}
    assert social["LINE_CHANNEL_SECRET"]["valueFrom"]["secretKeyRef"] == {
        "name": "omni-secrets",
        "key": "LINE_CHANNEL_SECRET",
        "optional": True,
    }


def test_pdb_and_service_select_each_deployments_pods(render: Render) -> None:
    rendered = render()
    for name in CONTRACT_PORTS:
        deployment = rendered.one("Deployment", component(name))
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
        pdb = rendered.one("PodDisruptionBudget", component(name))
        assert pdb["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
        service = rendered.one("Service", component(name))
        assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]


def test_config_maps_roll_the_pods_that_read_them(render: Render) -> None:
    before = render()
    after = render(sets=["config.sla=policies: []"])
    config = before.one("ConfigMap", "omni-config")
    assert set(config["data"]) == {"routing.yaml", "sla.yaml"}
    assert after.one("ConfigMap", "omni-config")["data"]["sla.yaml"] == "policies: []"

    def checksums(rendered: Rendered, name: str) -> dict[str, str]:
        annotations = rendered.one("Deployment", component(name))["spec"]["template"]["metadata"]["annotations"]
        return {k: v for k, v in annotations.items() if k.startswith("checksum/")}

    assert checksums(before, "sla") != checksums(after, "sla")
    assert checksums(before, "router") == checksums(after, "router")
    assert checksums(before, "ingest_chat") == {}
    sla = container_of(before.one("Deployment", "omni-sla"))
    assert {"name": "OMNI_SLA_CONFIG", "value": "/etc/omni/sla.yaml"} in sla["env"]
    assert {"name": "config", "mountPath": "/etc/omni", "readOnly": True} in sla["volumeMounts"]


def test_service_monitor_scrapes_metrics_on_every_service(render: Render) -> None:
    rendered = render("hpa.yaml")
    (monitor,) = rendered.of_kind("ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"
    selected = [s for s in rendered.of_kind("Service") if selector.items() <= s["metadata"]["labels"].items()]
    selected = [s for s in selected if any(p["name"] == "http" for p in s["spec"]["ports"])]
    assert {s["metadata"]["name"] for s in selected} == {component(name) for name in CONTRACT_PORTS}
    for service in selected:
        name = service["metadata"]["labels"]["app.kubernetes.io/component"].replace("-", "_")
        (port,) = [p for p in service["spec"]["ports"] if p["name"] == endpoint["port"]]
        assert port["port"] == CONTRACT_PORTS[name]
        container = container_of(rendered.one("Deployment", service["metadata"]["name"]))
        assert {p["name"]: p["containerPort"] for p in container["ports"]}[port["targetPort"]] == CONTRACT_PORTS[name]


def test_keda_scales_consumers_on_lag_and_ingest_on_cpu(render: Render) -> None:
    rendered = render("keda.yaml")
    scaled = {s["metadata"]["name"]: s for s in rendered.of_kind("ScaledObject")}
    assert set(scaled) == {component(name) for name in CONSUMER_GROUPS}
    hpas = {h["metadata"]["name"] for h in rendered.of_kind("HorizontalPodAutoscaler")}
    assert hpas == {component(name) for name in set(CONTRACT_PORTS) - CONSUMER_GROUPS - SINGLETONS}
    router = scaled["omni-router"]["spec"]
    assert router["scaleTargetRef"]["name"] == "omni-router"
    assert (router["minReplicaCount"], router["maxReplicaCount"]) == (2, 12)
    topics = set()
    for trigger in router["triggers"]:
        assert trigger["type"] == "kafka"
        assert trigger["authenticationRef"] == {"name": "kafka-sasl"}
        meta = trigger["metadata"]
        assert meta["consumerGroup"] == "omni.router"
        assert meta["lagThreshold"] == "50"
        assert meta["bootstrapServers"] == "prod-kafka-kafka-bootstrap.kafka.svc:9093"
        topics.add(meta["topic"])
    assert topics == {"omni.messages.v1", "omni.agents.v1", "omni.sla.v1"}
    for deployment in rendered.of_kind("Deployment"):
        if deployment["metadata"]["name"] != "omni-analytics":
            assert "replicas" not in deployment["spec"], "an autoscaled Deployment leaves replicas to the autoscaler"


def test_hpa_mode_scales_every_service_on_cpu(render: Render) -> None:
    rendered = render("hpa.yaml")
    assert rendered.of_kind("ScaledObject") == []
    hpas = {h["metadata"]["name"]: h["spec"] for h in rendered.of_kind("HorizontalPodAutoscaler")}
    assert set(hpas) == {component(name) for name in set(CONTRACT_PORTS) - SINGLETONS}
    router = hpas["omni-router"]
    assert (router["minReplicas"], router["maxReplicas"]) == (3, 10)
    assert router["metrics"][0]["resource"]["target"]["averageUtilization"] == 60
    assert hpas["omni-sla"]["maxReplicas"] == 10


def test_fixed_mode_sets_replicas_and_honours_disabled_parts(render: Render) -> None:
    rendered = render("fixed.yaml")
    assert rendered.of_kind("HorizontalPodAutoscaler") == rendered.of_kind("ScaledObject") == []
    assert rendered.of_kind("PodDisruptionBudget") == rendered.of_kind("NetworkPolicy") == []
    replicas = {d["metadata"]["name"]: d["spec"]["replicas"] for d in rendered.of_kind("Deployment")}
    assert replicas == {
        "omni-ingest-email": 1,
        "omni-ingest-chat": 1,
        "omni-router": 3,
        "omni-sla": 1,
        "omni-analytics": 1,
    }
    image = container_of(rendered.one("Deployment", "omni-router"))["image"]
    assert image == "ghcr.io/omni/omni-router@sha256:" + "0123456789abcdef" * 4


def test_strimzi_topics_cover_the_contract(render: Render) -> None:
    rendered = render("strimzi.yaml")
    topics = {t["spec"]["topicName"]: t for t in rendered.of_kind("KafkaTopic")}
    assert set(topics) == {
        "omni.messages.v1",
        "omni.conversations.v1",
        "omni.agents.v1",
        "omni.sla.v1",
        "omni.deadletter.v1",
    }
    for topic in topics.values():
        assert topic["metadata"]["namespace"] == "kafka"
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == "omni-kafka"
        assert topic["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
        assert topic["spec"]["replicas"] == 3
        assert topic["spec"]["config"]["min.insync.replicas"] == "2"
    assert topics["omni.messages.v1"]["spec"]["partitions"] == 24
    assert {t["apiVersion"] for t in topics.values()} == {"kafka.strimzi.io/v1beta2"}
    assert topics["omni.agents.v1"]["spec"]["config"]["cleanup.policy"] == "compact"


def test_ingress_routes_webhooks_to_their_services(render: Render) -> None:
    rendered = render("ingress.yaml")
    (ingress,) = rendered.of_kind("Ingress")
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"] == [{"hosts": ["support.example.com"], "secretName": "support-example-com-tls"}]
    paths = {p["path"]: p["backend"]["service"]["name"] for p in ingress["spec"]["rules"][0]["http"]["paths"]}
    assert paths["/webhooks/email"] == "omni-ingest-email"
    assert paths["/webhooks/sms"] == paths["/v1/chat"] == "omni-ingest-chat"
    for provider in ["meta", "line", "telegram", "x"]:
        assert paths[f"/webhooks/{provider}"] == "omni-ingest-social"
    assert paths["/v1/agents"] == "omni-router"
    smtp = rendered.one("Service", "omni-ingest-email-smtp")["spec"]
    assert smtp["type"] == "LoadBalancer"
    assert smtp["ports"] == [{"name": "smtp", "port": 25, "targetPort": "smtp", "protocol": "TCP"}]
    assert smtp["loadBalancerSourceRanges"] == ["203.0.113.0/24"]
    assert rendered.one("Service", "omni-ingest-email")["spec"]["type"] == "ClusterIP"
    chat = container_of(rendered.one("Deployment", "omni-ingest-chat"))
    assert {"name": "OMNI_PUBLIC_BASE_URL", "value": "https://support.example.com"} in chat["env"]
    # the ingress controller may reach the webhook services, not the others
    for name, reachable in [("ingest_chat", True), ("sla", False)]:
        policy = rendered.one("NetworkPolicy", component(name))
        peers = policy["spec"]["ingress"][0]["from"]
        controller = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}
        assert (controller in peers) is reachable


def test_migration_job_is_a_pre_install_and_pre_upgrade_hook(render: Render) -> None:
    rendered = render()
    job = rendered.one("Job", "omni-migrate")
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert "before-hook-creation" in annotations["helm.sh/hook-delete-policy"]
    pod = job["spec"]["template"]["spec"]
    containers = pod["initContainers"] + pod["containers"]
    assert {c["name"] for c in containers} == {f"migrate-{n.replace('_', '-')}" for n in CONTRACT_PORTS}
    for container in containers:
        assert container["command"] == ["python", "-m", "omni_service.migrate"]
        assert container["env"][0]["valueFrom"]["secretKeyRef"] == {"name": "omni-secrets", "key": "DATABASE_URL"}
        assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_network_policy_admits_prometheus_and_smtp(render: Render) -> None:
    rendered = render()
    email = rendered.one("NetworkPolicy", "omni-ingest-email")["spec"]
    assert email["policyTypes"] == ["Ingress"]
    http_rule, smtp_rule = email["ingress"]
    assert http_rule["ports"] == [{"port": "http", "protocol": "TCP"}]
    assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}} in http_rule["from"]
    assert smtp_rule == {"ports": [{"port": "smtp", "protocol": "TCP"}], "from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}
    locked = render("hpa.yaml").one("NetworkPolicy", "omni-router")["spec"]
    assert locked["policyTypes"] == ["Ingress", "Egress"]
    assert len(locked["egress"]) == 2


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ("bad-negative-replicas.yaml", "at '/services/router/replicas': minimum: got -1, want 0"),
        ("bad-missing-secret.yaml", "at '/secrets': missing property 'existingSecret'"),
        ("bad-empty-secret.yaml", "at '/secrets/existingSecret': minLength: got 0, want 1"),
        ("bad-autoscaling-mode.yaml", "at '/autoscaling/mode'"),
        ("bad-unknown-service.yaml", "mailer"),
    ],
)
def test_bad_values_fail_with_helms_schema_error(render: Render, values: str, expected: str) -> None:
    rendered = render(values)
    assert rendered.returncode != 0
    assert "values don't meet the specifications of the schema(s)" in rendered.stderr
    assert expected in rendered.stderr


def test_autoscaling_bounds_must_be_ordered(render: Render) -> None:
    rendered = render(sets=["services.router.autoscaling.minReplicas=5", "services.router.autoscaling.maxReplicas=2"])
    assert rendered.returncode != 0
    assert "router: autoscaling.minReplicas (5) exceeds autoscaling.maxReplicas (2)" in rendered.stderr


def test_a_services_false_or_zero_overrides_the_defaults(render: Render) -> None:
    rendered = render(
        sets=[
            "autoscaling.mode=none",
            "services.router.replicas=0",
            "services.router.pdb.enabled=false",
            "services.sla.topologySpread.enabled=false",
        ]
    )
    assert rendered.one("Deployment", "omni-router")["spec"]["replicas"] == 0
    assert "omni-router" not in {p["metadata"]["name"] for p in rendered.of_kind("PodDisruptionBudget")}
    assert "topologySpreadConstraints" not in rendered.one("Deployment", "omni-sla")["spec"]["template"]["spec"]
    assert rendered.one("Deployment", "omni-ingest-chat")["spec"]["replicas"] == 2


def test_analytics_runs_as_exactly_one_pod_in_every_mode(render: Render) -> None:
    for values in ["keda.yaml", "hpa.yaml", "fixed.yaml"]:
        rendered = render(values)
        analytics = rendered.one("Deployment", "omni-analytics")["spec"]
        assert analytics["replicas"] == 1
        assert analytics["strategy"] == {"type": "Recreate"}
        scalers = rendered.of_kind("HorizontalPodAutoscaler") + rendered.of_kind("ScaledObject")
        assert "omni-analytics" not in {s["metadata"]["name"] for s in scalers}


def test_keda_consumer_group_carries_the_topic_suffix_like_the_service(render: Render) -> None:
    rendered = render("keda.yaml", sets=["kafka.topicSuffix=.staging"])
    triggers = rendered.one("ScaledObject", "omni-sla")["spec"]["triggers"]
    assert [t["metadata"]["consumerGroup"] for t in triggers] == ["sla.staging"]
    assert [t["metadata"]["topic"] for t in triggers] == ["omni.conversations.v1.staging"]


def test_packaged_chart_renders_the_same_as_the_directory(helm: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [helm, "package", str(CHART), "--destination", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    (package,) = tmp_path.glob("omni-*.tgz")
    with tarfile.open(package) as archive:
        names = set(archive.getnames())
    assert {"omni/values.schema.json", "omni/files/routing.yaml", "omni/files/sla.yaml"} <= names
    extra = ["--values", str(VALUES / "monitoring.yaml")] if "monitoring.yaml" in OVERRIDES else []

    def template(chart: Path) -> str:
        cmd = [helm, "template", "omni", str(chart), "--namespace", NAMESPACE, "--kube-version", KUBE_VERSION, *extra]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert template(package) == template(CHART)
