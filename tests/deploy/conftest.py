"""Fixtures for the Helm chart tests: a pinned helm (built on first use) and a renderer."""

from __future__ import annotations

import functools
import subprocess
from collections.abc import Sequence

import pytest
from chart_render import CHART, INSTALL_HELM, KUBE_VERSION, NAMESPACE, RELEASE, VALUES, Render, Rendered


@pytest.fixture(scope="session")
def helm() -> str:
    """The pinned helm binary; deploy/tools/install-helm.sh builds it once per machine (cached)."""
    done = subprocess.run([str(INSTALL_HELM)], capture_output=True, text=True, check=False, timeout=1800)
    assert done.returncode == 0, f"install-helm.sh failed:\n{done.stderr}"
    return done.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def render(helm: str) -> Render:
    """`helm template` of the chart with the named values files of tests/deploy/values and --set pairs."""

    @functools.cache
    def _cached(values: tuple[str, ...], sets: tuple[str, ...], extra: tuple[str, ...]) -> Rendered:
        cmd = [helm, "template", RELEASE, str(CHART), "--namespace", NAMESPACE, "--kube-version", KUBE_VERSION]
        cmd += ["--api-versions", "monitoring.coreos.com/v1", "--api-versions", "keda.sh/v1alpha1"]
        for name in values:
            cmd += ["--values", str(VALUES / name)]
        for pair in sets:
            cmd += ["--set", pair]
        cmd += list(extra)
        done = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)
        return Rendered(done.returncode, done.stdout, done.stderr)

    def _render(*values: str, sets: Sequence[str] = (), extra: Sequence[str] = ()) -> Rendered:
        return _cached(values, tuple(sets), tuple(extra))

    return _render
