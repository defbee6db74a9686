"""The fault suite: under simulator load, kill or restart each piece in turn, then check the books.

After each fault the simulator drains, reads what the topics hold since the fault's run began,
and checks it against its ground truth (omni_sim.domain.check). Recovery time is measured from
the fault until every service answers `/readyz` 200 again.

For the suite's duration the sla service runs on the drill policies (config/sla-drill.yaml:
deadlines of seconds), so deadlines come due around every fault and "every deadline that passed
produced exactly one breach" is checked on real breaches; it is restarted on its usual policies
(OMNI_SLA_CONFIG, else config/sla.yaml) at the end. Clocks started before keep their deadlines.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from omni_schemas import CloudEvent
from omni_sim import metrics as prom
from omni_sim.domain.agents import make_roster
from omni_sim.domain.check import CheckResult, RunView, build_view, check_run, sla_deadlines
from omni_sim.domain.scenario import ScenarioConfig, generate
from omni_sim.domain.truth import GroundTruth
from omni_sim.endpoints import SERVICES, Endpoints, from_env
from omni_sim.probe import problems, wait_ready
from omni_sim.simulation import Simulation
from omni_sim.topics import Positions, end_positions, read_since

ROOT = Path(__file__).resolve().parents[4]
SERVICES_SH = ROOT / "deploy/local/services.sh"
INFRA_SH = ROOT / "deploy/local/infra.sh"
FAULTS = (*SERVICES, "kafka", "redis", "postgres")
DRILL_SLA = ROOT / "config/sla-drill.yaml"


@dataclass(slots=True)
class FaultOutcome:
    fault: str
    recovery_s: float | None
    sent: int = 0
    accepted: int = 0
    result: CheckResult = field(default_factory=CheckResult)
    open_threads: int = 0


def _sh(*args: str, env: dict[str, str] | None = None) -> None:
    done = subprocess.run([*args], capture_output=True, text=True, timeout=180, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}): {done.stderr[-2000:]}")


def _drill_env() -> dict[str, str]:
    """The environment services.sh starts the sla service with during the suite."""
    return {**os.environ, "OMNI_SLA_CONFIG": str(DRILL_SLA)}


async def restart_sla(env: dict[str, str] | None) -> None:
    """Restart the sla service (graceful stop, start, wait for /readyz) with `env` (None: ours)."""
    await asyncio.to_thread(_sh, str(SERVICES_SH), "down", "sla", env=env)
    await asyncio.to_thread(_sh, str(SERVICES_SH), "up", "sla", env=env)


async def inject(fault: str, endpoints: Endpoints) -> None:
    """Break one piece and bring it back the way an operator (or a supervisor) would."""
    if fault in SERVICES:
        await asyncio.to_thread(_sh, str(SERVICES_SH), "kill9", fault)
        await asyncio.sleep(1.0)  # down long enough for clients and the group coordinator to notice
        await asyncio.to_thread(_sh, str(SERVICES_SH), "up", fault, env=_drill_env())
    elif fault == "kafka":
        await asyncio.to_thread(_sh, str(INFRA_SH), "restart-kafka")
    elif fault == "redis":
        import redis.asyncio as aioredis

        client = aioredis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
        try:
            await client.flushall()
        finally:
            await client.aclose()
        await asyncio.to_thread(_sh, str(INFRA_SH), "restart-redis")
    elif fault == "postgres":
        await asyncio.to_thread(_sh, str(INFRA_SH), "restart-postgres")
    else:
        raise ValueError(f"unknown fault {fault!r}; one of {', '.join(FAULTS)}")


async def _analytics_counters(client: httpx.AsyncClient, endpoints: Endpoints) -> dict[str, float] | None:
    try:
        return (await prom.scrape(client, endpoints.url("analytics") + "/metrics")).counters()
    except (httpx.HTTPError, ValueError):
        return None


async def _sla_states(
    client: httpx.AsyncClient, endpoints: Endpoints, conversations: list[str]
) -> dict[str, dict[str, Any] | None]:
    """The SLA service's record of each conversation (None where it answers 404)."""
    gate = asyncio.Semaphore(16)
    out: dict[str, dict[str, Any] | None] = {}

    async def one(conv: str) -> None:
        async with gate:
            answer = await client.get(f"{endpoints.url('sla')}/v1/sla/conversations/{conv}")
        if answer.status_code == 404:
            out[conv] = None
        else:
            answer.raise_for_status()
            out[conv] = answer.json()

    await asyncio.gather(*(one(c) for c in conversations))
    return out


async def settled_read(
    client: httpx.AsyncClient, endpoints: Endpoints, truth: GroundTruth, start: Positions, *, attempts: int = 8
) -> tuple[dict[str, list[CloudEvent]], RunView, datetime, dict[str, dict[str, Any] | None]]:
    """Read the topics since `start` and the SLA service's record of this run's conversations.

    Services that were just restarted may still be catching up after the drain (the SLA service
    consumes the conversations the router published while it was down), so the read is repeated,
    a few seconds apart, until the SLA deadlines check holds or the attempts run out; the last
    read is what gets checked.
    """
    sla_topic = endpoints.topic("omni.sla.v1")
    for attempt in range(attempts):
        read_at = datetime.now(UTC)
        topics = await read_since(endpoints.kafka_bootstrap, start)
        view = build_view(
            truth,
            topics.get(endpoints.topic("omni.messages.v1"), []),
            topics.get(endpoints.topic("omni.conversations.v1"), []),
        )
        states = await _sla_states(client, endpoints, sorted(view.conversation_events))
        if attempt == attempts - 1 or not sla_deadlines(view, topics.get(sla_topic, []), states, read_at=read_at):
            return topics, view, read_at, states
        await asyncio.sleep(4.0)
    raise AssertionError("unreachable")


async def run_one(
    fault: str, *, endpoints: Endpoints, signing: object, seconds: float, rate: float, seed: int, console: Console
) -> FaultOutcome:
    from omni_sim.cli import new_run_id

    run_id = new_run_id()
    plan = generate(ScenarioConfig(seconds=seconds, rate=rate, burst_every_s=10.0), seed=seed, run_id=run_id)
    roster = make_roster(seed, count=8, seconds=seconds, handle_s=(1.0, 4.0))
    async with httpx.AsyncClient(timeout=5) as client:
        before = await _analytics_counters(client, endpoints)
        sla_start = await end_positions(endpoints.kafka_bootstrap, [endpoints.topic("omni.sla.v1")])
        async with Simulation(plan, roster, endpoints=endpoints, secrets=signing, seed=seed, retry_for_s=90.0) as sim:  # type: ignore[arg-type]
            play = asyncio.create_task(sim.play())
            await asyncio.sleep(seconds * 0.3)
            start = time.monotonic()
            await inject(fault, endpoints)
            recovered = await wait_ready(endpoints, timeout_s=120)
            recovery = None if recovered is None else time.monotonic() - start
            await play
            left = await sim.drain(timeout_s=60)
            topics, view, read_at, sla_states = await settled_read(
                client, endpoints, sim.truth, {**sim.positions, **sla_start}
            )
            delta = None
            if before is not None:
                # analytics folds the topic asynchronously; give it time to count this run
                for _ in range(40):
                    after = await _analytics_counters(client, endpoints)
                    if after is not None:
                        delta = prom.delta(after, before)
                        if all(
                            delta[k] >= view.window_counts.get(k, 0)
                            for k in ("opened", "assigned", "resolved", "abandoned")
                        ):
                            break
                    await asyncio.sleep(0.5)
            result = check_run(
                sim.truth,
                view,
                capacities=sim.capacities,
                analytics_delta=delta,
                sla_events=topics.get(endpoints.topic("omni.sla.v1"), []),
                now=read_at,
                sla_states=sla_states,
            )
            if before is None:
                result.notes.append("analytics /metrics was unreadable before the run; totals not compared")
            if not result.counts.get("sla_breached"):
                result.notes.append(
                    "no SLA deadline of this run passed: the exactly-one-breach check had nothing to check"
                )
            await sim.set_presence("offline")
            return FaultOutcome(
                fault=fault,
                recovery_s=recovery,
                sent=sim.truth.attempts,
                accepted=len(sim.truth.accepted),
                result=result,
                open_threads=len(left),
            )


async def run_faults(console: Console, *, seconds: float, rate: float, seed: int, only: list[str]) -> int:
    endpoints, signing = from_env()
    wrong = await problems(endpoints)
    if wrong:
        console.print("[bold red]omni is not (fully) up:[/]")
        for name, why in sorted(wrong.items()):
            console.print(f"  [red]✗[/] {name}: {why}")
        console.print("Start it with [bold]make up[/], then run this again.")
        return 2
    chosen = [f for f in FAULTS if not only or f in only]
    with console.status("restarting the sla service on the drill policies (config/sla-drill.yaml)"):
        await restart_sla(_drill_env())
    try:
        outcomes = await _run_chosen(console, chosen, endpoints, signing, seconds=seconds, rate=rate, seed=seed)
    finally:
        with console.status("restarting the sla service on its usual policies"):
            await restart_sla(None)
    _print_table(console, outcomes)
    failed = [o.fault for o in outcomes if not o.result.ok]
    if failed:
        console.print(f"[bold red]violations after: {', '.join(failed)}[/]")
        return 1
    console.print("[bold green]every fault passed: nothing lost, duplicated or double-assigned[/]")
    return 0


async def _run_chosen(
    console: Console,
    chosen: list[str],
    endpoints: Endpoints,
    signing: object,
    *,
    seconds: float,
    rate: float,
    seed: int,
) -> list[FaultOutcome]:
    outcomes = []
    for i, fault in enumerate(chosen):
        console.rule(f"fault {i + 1}/{len(chosen)}: {fault}")
        with console.status(
            f"{fault}: traffic for {seconds:.0f} s, fault at {seconds * 0.3:.0f} s, then drain and check"
        ):
            try:
                outcome = await run_one(
                    fault,
                    endpoints=endpoints,
                    signing=signing,
                    seconds=seconds,
                    rate=rate,
                    seed=seed + i,
                    console=console,
                )
            except Exception as exc:  # a fault that breaks the harness is a failed fault, not a crash
                outcome = FaultOutcome(fault=fault, recovery_s=None)
                outcome.result.violations.append(f"harness error: {type(exc).__name__}: {exc}")
        outcomes.append(outcome)
        _print_outcome(console, outcome)
        if outcome.recovery_s is None:
            await wait_ready(endpoints, timeout_s=120)
    return outcomes


def _print_table(console: Console, outcomes: list[FaultOutcome]) -> None:
    table = Table(title="fault suite")
    for col in ("fault", "recovery s", "sent", "2xx", "on topic", "convs", "open", "breached", "met", "violations"):
        table.add_column(col, justify="right" if col not in ("fault", "violations") else "left")
    for o in outcomes:
        table.add_row(
            o.fault,
            "-" if o.recovery_s is None else f"{o.recovery_s:.1f}",
            str(o.sent),
            str(o.accepted),
            f"{o.result.counts.get('messages', 0):.0f}",
            f"{o.result.counts.get('conversations', 0):.0f}",
            str(o.open_threads),
            f"{o.result.counts.get('sla_breached', 0):.0f}",
            f"{o.result.counts.get('sla_met', 0):.0f}",
            "[green]none[/]" if o.result.ok else f"[red]{len(o.result.violations)}[/]",
        )
    console.print(table)


def _print_outcome(console: Console, o: FaultOutcome) -> None:
    rec = "did not recover within 120 s" if o.recovery_s is None else f"recovered in {o.recovery_s:.1f} s"
    console.print(f"{o.fault}: {rec}; {o.accepted}/{o.sent} accepted; counts {o.result.counts}")
    for v in o.result.violations:
        console.print(f"  [red]✗ {v}[/]")
    for n in o.result.notes:
        console.print(f"  · {n}")
    if o.open_threads:
        console.print(f"  · {o.open_threads} thread(s) still open after the drain")
