"""Benchmark reporting: one line per result, and `.run/bench.json` (contract section 1)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parents[4]


def bench_file() -> Path:
    return Path(os.environ.get("OMNI_BENCH_FILE", _ROOT / ".run" / "bench.json"))


def report(
    name: str,
    value: float,
    unit: str,
    *,
    baseline: float,
    target: float,
    higher_is_better: bool = True,
    target_on: str = "ratio",
    note: str | None = None,
) -> dict[str, Any]:
    """Print `bench <name>: <value> <unit> (baseline <b>, ratio <r>, target <t>)` and record it.

    `ratio` is value / baseline. `target` applies to the ratio (default) or to the value
    (`target_on="value"`); `higher_is_better` says which way it is met.
    """
    ratio = value / baseline if baseline else float("inf")
    measured = ratio if target_on == "ratio" else value
    met = measured >= target if higher_is_better else measured <= target
    op = ">=" if higher_is_better else "<="
    target_text = f"{op}{target:g}" + ("" if target_on == "ratio" else f" {unit}")
    line = (
        f"bench {name}: {value:.6g} {unit} (baseline {baseline:.6g}, ratio {ratio:.4g}, "
        f"target {target_text}){'' if met else '  [target not met]'}"
    )
    print(line, flush=True)
    entry = {
        "name": name,
        "value": value,
        "unit": unit,
        "baseline": baseline,
        "ratio": ratio,
        "target": target_text,
        "met": met,
    }
    if note:
        entry["note"] = note
    path = bench_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    results = json.loads(path.read_text()) if path.exists() and path.stat().st_size else []
    results = [r for r in results if r.get("name") != name] + [entry]
    path.write_text(json.dumps(results, indent=2) + "\n")
    return entry
