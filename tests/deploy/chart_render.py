"""Rendering the Helm chart for the tests: paths, the pinned Kubernetes version, parsed output."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "omni"
VALUES = Path(__file__).resolve().parent / "values"
INSTALL_HELM = ROOT / "deploy" / "tools" / "install-helm.sh"
# The Kubernetes version the chart is rendered for and validated against (kubernetes-validate's schemas).
KUBE_VERSION = "1.33.0"
RELEASE = "omni"
NAMESPACE = "support"


@dataclass(frozen=True)
class Rendered:
    returncode: int
    stdout: str
    stderr: str

    @functools.cached_property
    def objects(self) -> list[dict[str, Any]]:
        assert self.returncode == 0, self.stderr
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        return [doc for doc in yaml.load_all(self.stdout, Loader=loader) if doc]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] == kind]

    def one(self, kind: str, name: str) -> dict[str, Any]:
        found = [o for o in self.of_kind(kind) if o["metadata"]["name"] == name]
        assert len(found) == 1, f"{kind}/{name}: found {len(found)}"
        return found[0]


Render = Callable[..., Rendered]
