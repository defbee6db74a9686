"""Read and validate the SLA file (`config/sla.yaml`, or the path in OMNI_SLA_CONFIG)."""

from __future__ import annotations

from pathlib import Path

import yaml

from omni_sla.domain.policies import ConfigError, SlaConfig, load_config


class SlaConfigError(RuntimeError):
    """The SLA file is missing or invalid; the message names the file and the place in it."""


def resolve_path(path: str | Path, *, root: Path) -> Path:
    candidate = Path(path)
    if candidate.is_absolute() or candidate.exists():
        return candidate
    return root / candidate


def read_sla_config(path: Path) -> SlaConfig:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SlaConfigError(f"{path}: cannot read the SLA file: {exc.strerror or exc}") from exc
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SlaConfigError(f"{path}: not valid YAML: {exc}") from exc
    try:
        return load_config(doc)
    except ConfigError as exc:
        raise SlaConfigError(f"{path}: {exc}") from exc
