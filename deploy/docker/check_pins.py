"""Fail an image build when the virtualenv holds a distribution that requirements.lock does not pin.

Run by deploy/docker/Dockerfile with the image's own interpreter: `python check_pins.py LOCK`.
"""

from __future__ import annotations

import importlib.metadata
import re
import sys
from collections.abc import Iterable

_IGNORED = {"pip", "setuptools", "wheel"}


def normalize(name: str) -> str:
    """The PEP 503 normal form of a distribution name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(text: str) -> dict[str, str]:
    """`name==version` lines of a lock file, by normalised name."""
    pins = {}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            name, sep, version = line.partition("==")
            if not sep:
                raise ValueError(f"not an exact pin: {raw!r}")
            pins[normalize(name)] = version.strip()
    return pins


def unpinned(pins: dict[str, str], installed: Iterable[tuple[str, str]]) -> list[str]:
    """Installed (name, version) pairs that differ from the pins; our own omni-* packages excepted."""
    problems = []
    for name, version in installed:
        key = normalize(name)
        if key.startswith("omni-") or key in _IGNORED:
            continue
        if pins.get(key) != version:
            problems.append(f"{name} {version} (lock: {pins.get(key, 'absent')})")
    return sorted(problems)


def main(lock_path: str) -> int:
    with open(lock_path, encoding="utf-8") as lock:
        pins = read_pins(lock.read())
    installed = [(d.metadata["Name"], d.version) for d in importlib.metadata.distributions()]
    problems = unpinned(pins, installed)
    for problem in problems:
        print(f"not pinned by {lock_path}: {problem}; run deploy/docker/lock.sh", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
