"""The images, checked statically (no Docker engine here): the Dockerfile's shape and the dependency lock."""

from __future__ import annotations

import importlib.util
import re
import tomllib
from dataclasses import dataclass, field
from types import ModuleType

import pytest
from chart_render import ROOT
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

DOCKER = ROOT / "deploy" / "docker"
SERVICES = ["ingest_email", "ingest_chat", "ingest_social", "router", "sla", "analytics"]
SECRETISH = re.compile(r"(TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|SIGNING|PRIVATE|CREDENTIAL)", re.IGNORECASE)


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def parse_dockerfile(text: str) -> tuple[list[tuple[str, str]], list[Stage]]:
    """(global instructions before the first FROM, stages): continuation lines joined, comments dropped."""
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, "dangling line continuation"
    preamble: list[tuple[str, str]] = []
    stages: list[Stage] = []
    for line in logical:
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            parts = args.split()
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(base=parts[0], name=name))
        elif stages:
            stages[-1].instructions.append((keyword, args.strip()))
        else:
            preamble.append((keyword, args.strip()))
    return preamble, stages


@pytest.fixture(scope="module")
def dockerfile() -> tuple[list[tuple[str, str]], list[Stage]]:
    return parse_dockerfile((DOCKER / "Dockerfile").read_text(encoding="utf-8"))


def load_check_pins() -> ModuleType:
    spec = importlib.util.spec_from_file_location("omni_check_pins", DOCKER / "check_pins.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_dockerfile_is_multi_stage_on_a_slim_python_base(dockerfile: tuple[list[tuple[str, str]], list[Stage]]) -> None:
    preamble, stages = dockerfile
    assert len(stages) >= 2
    base_arg = dict(a.split("=", 1) for kw, a in preamble if kw == "ARG" and "=" in a)["PYTHON_IMAGE"]
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+", base_arg), base_arg
    assert {s.base for s in stages} == {"${PYTHON_IMAGE}"}
    final = stages[-1]
    copies_from = [c for c in final.all("COPY") if c.startswith("--from=")]
    assert copies_from == [f"--from={stages[0].name} /opt/omni /opt/omni"]


def test_final_stage_runs_as_a_numeric_non_root_user(dockerfile: tuple[list[tuple[str, str]], list[Stage]]) -> None:
    _, stages = dockerfile
    users = stages[-1].all("USER")
    assert users, "the final stage must set USER"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) > 0 and (not gid or int(gid) > 0)
    # nothing after the last USER may run a command (as that user) or switch users again
    keywords = [kw for kw, _ in stages[-1].instructions]
    last_user = len(keywords) - 1 - keywords[::-1].index("USER")
    assert not {"RUN", "USER"} & set(keywords[last_user + 1 :])


def test_final_stage_has_no_build_tools_package_installs_or_healthcheck(
    dockerfile: tuple[list[tuple[str, str]], list[Stage]],
) -> None:
    _, stages = dockerfile
    final = stages[-1]
    runs = " ".join(final.all("RUN"))
    for forbidden in ["apt-get", "apk ", "pip ", "gcc", "build-essential", "make ", "curl", "wget"]:
        assert forbidden not in runs, forbidden
    assert all(kw != "HEALTHCHECK" for s in stages for kw, _ in s.instructions)
    assert all(kw != "ADD" for s in stages for kw, _ in s.instructions), "ADD fetches or unpacks; COPY only"
    (entrypoint,) = final.all("ENTRYPOINT")
    assert entrypoint.startswith("["), "exec form, so the process gets SIGTERM"


def test_no_secret_enters_any_layer(dockerfile: tuple[list[tuple[str, str]], list[Stage]]) -> None:
    preamble, stages = dockerfile
    instructions = preamble + [i for s in stages for i in s.instructions]
    for keyword, args in instructions:
        if keyword in {"ARG", "ENV", "LABEL"}:
            names = re.findall(r"(?:^|\s)([A-Za-z_][A-Za-z0-9_.]*)=", args) or [args.split("=")[0]]
            for name in names:
                assert not SECRETISH.search(name), f"{keyword} {name}: pass secrets at run time, never at build time"
        if keyword == "COPY":
            assert not re.search(r"\.env\b|\.pem\b|id_rsa|\.netrc|\.pypirc", args), args
    ignore = (DOCKER / "Dockerfile.dockerignore").read_text(encoding="utf-8").splitlines()
    assert "**" in ignore and "**/.env" in ignore, "the build context is an allow-list"


@pytest.mark.parametrize("service", SERVICES)
def test_every_copied_path_exists_for_each_service(
    dockerfile: tuple[list[tuple[str, str]], list[Stage]], service: str
) -> None:
    _, stages = dockerfile
    build = stages[0]
    assert any("SERVICE" in a for a in build.all("ARG"))
    for args in build.all("COPY"):
        sources = args.split()[:-1]
        for source in sources:
            path = ROOT / source.replace("${SERVICE}", service)
            assert path.exists(), f"COPY {source}: {path} is missing"


def test_build_installs_binary_wheels_pinned_by_the_lock(dockerfile: tuple[list[tuple[str, str]], list[Stage]]) -> None:
    _, stages = dockerfile
    build = stages[0]
    runs = " ".join(build.all("RUN"))
    assert "--only-binary=:all:" in runs
    assert "check_pins.py /src/requirements.lock" in runs
    assert "pip check" in runs
    env = " ".join(build.all("ENV"))
    assert "PIP_CONSTRAINT=/src/requirements.lock" in env


def lock_pins() -> dict[str, str]:
    pins: dict[str, str] = load_check_pins().read_pins((DOCKER / "requirements.lock").read_text(encoding="utf-8"))
    return pins


def test_lock_pins_every_dependency_of_every_package() -> None:
    pins = lock_pins()
    packages = [ROOT / "libs" / "schemas", ROOT / "libs" / "service", *sorted((ROOT / "services").glob("*"))]
    missing = []
    for package in packages:
        pyproject = package / "pyproject.toml"
        if not pyproject.exists():
            continue
        project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
        for dependency in project.get("dependencies", []):
            name = canonicalize_name(Requirement(dependency).name)
            if not name.startswith("omni-") and name not in pins:
                missing.append(f"{package.relative_to(ROOT)}: {dependency}")
    assert not missing, f"not in deploy/docker/requirements.lock (run deploy/docker/lock.sh): {missing}"


def test_lock_agrees_with_the_versions_the_tests_run() -> None:
    check_pins = load_check_pins()
    constraints = {}
    for line in (ROOT / "requirements" / "constraints.txt").read_text(encoding="utf-8").splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split(";")[0].strip().split("==")
            constraints[check_pins.normalize(name)] = version
    disagree = {n: (v, constraints[n]) for n, v in lock_pins().items() if n in constraints and constraints[n] != v}
    assert not disagree, f"lock vs requirements/constraints.txt: {disagree}; run deploy/docker/lock.sh"


def test_check_pins_rejects_what_the_lock_does_not_pin() -> None:
    check_pins = load_check_pins()
    pins = check_pins.read_pins("# header\nFastAPI==0.1.0\npydantic_core==2.0  # comment\n")
    assert pins == {"fastapi": "0.1.0", "pydantic-core": "2.0"}
    installed = [("fastapi", "0.1.0"), ("pydantic-core", "2.0"), ("omni-router", "0.1.0"), ("pip", "24.0")]
    assert check_pins.unpinned(pins, installed) == []
    assert check_pins.unpinned(pins, [("fastapi", "0.2.0"), ("leftpad", "1.0")]) == [
        "fastapi 0.2.0 (lock: 0.1.0)",
        "leftpad 1.0 (lock: absent)",
    ]
    with pytest.raises(ValueError, match="not an exact pin"):
        check_pins.read_pins("fastapi>=0.1\n")
