"""Write deploy/helm/omni/values.schema.json, the JSON Schema Helm checks values against at install time.

.venv/bin/python deploy/tools/values_schema.py          # rewrite the schema
.venv/bin/python deploy/tools/values_schema.py --check  # exit 1 if the committed schema differs
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "helm" / "omni" / "values.schema.json"
Schema = dict[str, Any]

DNS1123_SUBDOMAIN = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
SERVICES = ["ingest_email", "ingest_chat", "ingest_social", "router", "sla", "analytics"]
ENV_NAME = "^[A-Za-z_][A-Za-z0-9_]*$"


def obj(props: dict[str, Any], required: tuple[str, ...] | list[str] = (), **extra: Any) -> dict[str, Any]:
    """A closed object: unknown keys are errors, which catches typos in values files."""
    d: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False}
    if required:
        d["required"] = list(required)
    d.update(extra)
    return d


string: Schema = {"type": "string"}
boolean: Schema = {"type": "boolean"}
anyobj: Schema = {"type": "object"}
anylist: Schema = {"type": "array"}
strmap: Schema = {"type": "object", "additionalProperties": {"type": "string"}}
port: Schema = {"type": "integer", "minimum": 1, "maximum": 65535}
quantity: Schema = {
    "oneOf": [
        {"type": "string", "pattern": "^[0-9]+(\\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti)?$"},
        {"type": "number", "minimum": 0},
    ]
}
resources: Schema = obj(
    {
        "requests": {"type": "object", "additionalProperties": quantity},
        "limits": {"type": "object", "additionalProperties": quantity},
    },
    description="Container resources, as in a Pod spec.",
)
probe: Schema = obj(
    {
        k: {"type": "integer", "minimum": 1}
        for k in ["periodSeconds", "failureThreshold", "timeoutSeconds", "initialDelaySeconds", "successThreshold"]
    }
)
component_props: Schema = {
    "enabled": boolean,
    "singleton": {"type": "boolean", "description": "Exactly one pod, replaced with Recreate, never autoscaled."},
    "replicas": {"type": "integer", "minimum": 0, "description": "Pods when autoscaling.mode is none."},
    "port": {**port, "description": "The HTTP port of the contract (API, webhooks, /healthz, /readyz, /metrics)."},
    "smtpPort": port,
    "smtpService": obj(
        {
            "enabled": boolean,
            "type": {"enum": ["ClusterIP", "NodePort", "LoadBalancer"]},
            "port": port,
            "annotations": strmap,
            "loadBalancerSourceRanges": {"type": "array", "items": {"type": "string"}},
        }
    ),
    "image": obj(
        {"repository": string, "tag": string, "digest": {"type": "string", "pattern": "^$|^sha256:[a-f0-9]{64}$"}}
    ),
    "resources": resources,
    "podAnnotations": strmap,
    "podLabels": strmap,
    "nodeSelector": strmap,
    "tolerations": anylist,
    "affinity": anyobj,
    "priorityClassName": string,
    "terminationGracePeriodSeconds": {"type": "integer", "minimum": 0},
    "env": {
        "type": "object",
        "propertyNames": {"pattern": ENV_NAME},
        "additionalProperties": {"type": ["string", "number", "boolean"]},
    },
    "extraEnvFrom": anylist,
    "secretKeys": {"type": "array", "items": {"type": "string", "pattern": ENV_NAME}, "uniqueItems": True},
    "configFiles": {"type": "array", "items": {"enum": ["routing", "sla"]}, "uniqueItems": True},
    "ingressPaths": {"type": "array", "items": {"type": "string", "pattern": "^/"}},
    "consumer": obj(
        {
            "group": {"type": "string", "minLength": 1},
            "topics": {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1},
        },
        required=["group", "topics"],
        description="The consumer group and topics KEDA watches for lag.",
    ),
    "podSecurityContext": anyobj,
    "securityContext": anyobj,
    "probes": obj({"startup": probe, "liveness": probe, "readiness": probe}),
    "topologySpread": obj(
        {
            "enabled": boolean,
            "maxSkew": {"type": "integer", "minimum": 1},
            "whenUnsatisfiable": {"enum": ["ScheduleAnyway", "DoNotSchedule"]},
        }
    ),
    "pdb": obj(
        {
            "enabled": boolean,
            "maxUnavailable": {
                "oneOf": [{"type": "integer", "minimum": 1}, {"type": "string", "pattern": "^[0-9]+%$"}]
            },
        }
    ),
    "autoscaling": obj(
        {
            "minReplicas": {"type": "integer", "minimum": 1},
            "maxReplicas": {"type": "integer", "minimum": 1},
            "targetCPUUtilizationPercentage": {"type": "integer", "minimum": 1, "maximum": 100},
            "lagThreshold": {"type": "integer", "minimum": 1},
        }
    ),
    "service": obj({"type": {"enum": ["ClusterIP", "NodePort", "LoadBalancer"]}, "annotations": strmap}),
}
defaults_required = [
    "replicas",
    "resources",
    "podSecurityContext",
    "securityContext",
    "probes",
    "topologySpread",
    "pdb",
    "autoscaling",
    "service",
    "terminationGracePeriodSeconds",
]
peers: Schema = {
    "type": "array",
    "items": {"type": "object"},
    "description": "NetworkPolicy peers (podSelector, namespaceSelector, ipBlock).",
}
schema: Schema = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "Values of the omni chart",
    "type": "object",
    "additionalProperties": False,
    "required": ["image", "kafka", "secrets", "services", "defaults", "autoscaling"],
    "definitions": {
        "component": obj(component_props),
    },
    "properties": {
        "global": anyobj,
        "image": obj(
            {
                "repository": {"type": "string", "minLength": 1},
                "tag": string,
                "pullPolicy": {"enum": ["Always", "IfNotPresent", "Never"]},
            },
            required=["repository"],
        ),
        "imagePullSecrets": {
            "type": "array",
            "items": obj({"name": {"type": "string", "minLength": 1}}, required=["name"]),
        },
        "nameOverride": string,
        "fullnameOverride": string,
        "commonLabels": strmap,
        "kafka": obj(
            {
                "bootstrapServers": {"type": "string", "minLength": 1, "description": "host:port[,host:port...]"},
                "topicSuffix": {"type": "string", "pattern": "^[A-Za-z0-9._-]*$"},
            },
            required=["bootstrapServers"],
        ),
        "secrets": obj(
            {
                "existingSecret": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 253,
                    "pattern": DNS1123_SUBDOMAIN,
                    "description": "Name of the Secret holding DATABASE_URL, REDIS_URL, OMNI_API_TOKEN and the channel secrets; the chart never renders secret values.",
                },
            },
            required=["existingSecret"],
        ),
        "publicBaseUrl": {"type": "string", "pattern": "^$|^https?://"},
        "config": obj({"routing": string, "sla": string}),
        "logLevel": {"enum": ["DEBUG", "INFO", "WARNING", "ERROR"]},
        "logFormat": {"enum": ["json", "console"]},
        "defaults": {"allOf": [{"$ref": "#/definitions/component"}], "required": defaults_required},
        "services": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                name: {"allOf": [{"$ref": "#/definitions/component"}], "required": ["enabled", "port"]}
                for name in SERVICES
            },
            "required": SERVICES,
        },
        "serviceAccount": obj({"create": boolean, "name": string, "annotations": strmap}),
        "autoscaling": obj(
            {
                "mode": {
                    "enum": ["none", "hpa", "keda"],
                    "description": "none: fixed replicas; hpa: CPU; keda: consumer-group lag.",
                },
                "keda": obj(
                    {
                        "pollingInterval": {"type": "integer", "minimum": 1},
                        "cooldownPeriod": {"type": "integer", "minimum": 0},
                        "offsetResetPolicy": {"enum": ["earliest", "latest"]},
                        "authenticationRef": string,
                    }
                ),
            },
            required=["mode"],
        ),
        "migrations": obj(
            {
                "enabled": boolean,
                "backoffLimit": {"type": "integer", "minimum": 0},
                "activeDeadlineSeconds": {"type": "integer", "minimum": 1},
                "ttlSecondsAfterFinished": {"type": "integer", "minimum": 0},
                "serviceAccountName": string,
                "resources": resources,
            }
        ),
        "ingress": obj(
            {
                "enabled": boolean,
                "className": string,
                "annotations": strmap,
                "host": {"type": "string", "pattern": DNS1123_SUBDOMAIN.replace("^[a-z0-9]", "^(\\*\\.)?[a-z0-9]", 1)},
                "tls": obj({"enabled": boolean, "secretName": string}),
            }
        ),
        "networkPolicy": obj(
            {
                "enabled": boolean,
                "ingressControllers": peers,
                "prometheus": peers,
                "extraFrom": peers,
                "smtpFrom": peers,
                "egress": obj({"enabled": boolean, "to": peers}),
            }
        ),
        "serviceMonitor": obj(
            {
                "enabled": boolean,
                "interval": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"},
                "scrapeTimeout": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"},
                "labels": strmap,
            }
        ),
        "prometheusRule": obj({"enabled": boolean, "labels": strmap}),
        "grafanaDashboard": obj({"enabled": boolean, "labels": strmap, "annotations": strmap, "namespace": string}),
        "strimzi": obj(
            {
                "topics": obj(
                    {
                        "enabled": boolean,
                        "apiVersion": {"enum": ["kafka.strimzi.io/v1beta2", "kafka.strimzi.io/v1"]},
                        "clusterName": {"type": "string", "minLength": 1},
                        "namespace": string,
                        "replicas": {"type": "integer", "minimum": 1},
                        "keep": boolean,
                        "config": {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}},
                        "topics": {
                            "type": "object",
                            "additionalProperties": obj(
                                {
                                    "partitions": {"type": "integer", "minimum": 1},
                                    "replicas": {"type": "integer", "minimum": 1},
                                    "config": {
                                        "type": "object",
                                        "additionalProperties": {"type": ["string", "number", "boolean"]},
                                    },
                                },
                                required=["partitions"],
                            ),
                        },
                    }
                ),
            }
        ),
    },
}


def render() -> str:
    """The schema as the committed file holds it."""
    return json.dumps(schema, indent=2) + "\n"


def main(argv: list[str]) -> int:
    if "--check" in argv:
        if SCHEMA_PATH.read_text(encoding="utf-8") != render():
            print(f"{SCHEMA_PATH} is out of date: run deploy/tools/values_schema.py", file=sys.stderr)
            return 1
        return 0
    SCHEMA_PATH.write_text(render(), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
