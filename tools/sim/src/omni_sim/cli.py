"""`python -m omni_sim demo | faults | plan`: the simulator's command line."""

from __future__ import annotations

import asyncio
import logging
import math
import os
import secrets as _secrets
import statistics
import sys
from pathlib import Path

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from omni_sim import metrics as prom
from omni_sim.domain.agents import make_roster
from omni_sim.domain.check import CheckResult, RunView, build_view, check_run
from omni_sim.domain.scenario import ScenarioConfig, generate
from omni_sim.endpoints import Endpoints, from_env
from omni_sim.probe import problems
from omni_sim.simulation import Simulation
from omni_sim.topics import read_since

app = typer.Typer(add_completion=False, no_args_is_help=True, help="omni's traffic simulator.")


@app.callback()
def _quiet() -> None:
    # aiokafka logs every failed reconnect while a broker restarts; the suite reports outcomes itself
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)


# a log or CI page is not a terminal: rich would fall back to 80 columns and cut the tables' names
console = Console() if sys.stdout.isatty() else Console(width=int(os.environ.get("COLUMNS", "132")))
ROOT = Path(__file__).resolve().parents[4]


def new_run_id() -> str:
    return _secrets.token_hex(3)


def _fmt(value: float | None, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}"


async def check_up(endpoints: Endpoints) -> bool:
    wrong = await problems(endpoints)
    if wrong:
        console.print("[bold red]omni is not (fully) up:[/]")
        for name, why in sorted(wrong.items()):
            console.print(f"  [red]✗[/] {name}: {why}")
        console.print("Start it with [bold]make up[/] (logs in .run/<name>.log), then run this again.")
        return False
    return True


async def run_with_progress(sim: Simulation, *, seconds: float, label: str) -> None:
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[counts]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task(label, total=seconds, counts="")
        play = asyncio.create_task(sim.play())
        loop = asyncio.get_running_loop()
        start = loop.time()
        while not play.done():
            s = sim.stats
            progress.update(
                task,
                completed=min(seconds, loop.time() - start),
                counts=f"sent {s.sent} accepted {s.accepted} opened {s.opened} assigned {s.assigned} "
                f"resolved {s.resolved} abandoned {s.abandoned}",
            )
            await asyncio.sleep(0.25)
        await play
        progress.update(task, completed=seconds)


async def _demo(seconds: float, rate: float, seed: int, agents: int, drain_s: float) -> int:
    endpoints, signing = from_env()
    if not await check_up(endpoints):
        return 2
    analytics_url = endpoints.url("analytics") + "/metrics"
    async with httpx.AsyncClient(timeout=5) as client:
        before = await prom.scrape(client, analytics_url)
        run_id = new_run_id()
        plan = generate(ScenarioConfig(seconds=seconds, rate=rate), seed=seed, run_id=run_id)
        roster = make_roster(seed, count=agents, seconds=seconds)
        console.print(
            f"run [bold]{run_id}[/] seed {seed}: {len(plan.contacts)} messages in {len(plan.threads)} threads "
            f"from {len(plan.customers)} customers over {seconds:.0f} s, {len(roster)} agents"
        )
        try:
            sim = Simulation(plan, roster, endpoints=endpoints, secrets=signing, seed=seed)
            await sim.__aenter__()
        except RuntimeError as exc:
            console.print(f"[bold red]cannot start the simulation:[/] {exc}")
            return 2
        try:
            await run_with_progress(sim, seconds=seconds, label="traffic")
            with console.status("draining: waiting for agents to finish and conversations to end"):
                left = await sim.drain(timeout_s=drain_s)
                topics = await read_since(endpoints.kafka_bootstrap, sim.positions)
            view = build_view(
                sim.truth,
                topics.get(endpoints.topic("omni.messages.v1"), []),
                topics.get(endpoints.topic("omni.conversations.v1"), []),
            )
            # analytics folds the topics asynchronously: wait until it has counted what the topic holds
            after = before
            with console.status("waiting for analytics to count this run"):
                for _ in range(60):
                    after = await prom.scrape(client, analytics_url)
                    d = prom.delta(after.counters(), before.counters())
                    if all(
                        d[k] >= view.window_counts.get(k, 0) for k in ("opened", "assigned", "resolved", "abandoned")
                    ):
                        break
                    await asyncio.sleep(0.5)
            d = prom.delta(after.counters(), before.counters())
            result = check_run(sim.truth, view, capacities=sim.capacities, analytics_delta=d)
            _print_kpis(sim, view, before, after, d, left)
            _print_checks(result)
            await sim.set_presence("offline")
        finally:
            await sim.__aexit__(None, None, None)
    _print_next(endpoints)
    return 0 if result.ok else 1


def _print_kpis(
    sim: Simulation, view: RunView, before: prom.Snapshot, after: prom.Snapshot, d: dict[str, float], left: list[str]
) -> None:
    truth = sim.truth
    expected = truth.expected()
    table = Table(
        title=f"run {truth.run_id}: analytics /metrics (change during the run) vs what the topics hold vs ground truth"
    )
    for col, justify in (
        ("KPI", "left"),
        ("analytics", "right"),
        ("topic", "right"),
        ("ground truth", "right"),
        ("", "center"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]

    def mark(*values: float | None) -> str:
        known = [v for v in values if v is not None and not math.isnan(v)]
        if len(known) < 2:
            return ""
        return "[green]✓[/]" if max(known) - min(known) < 1e-9 else "[red]✗[/]"

    def row(name: str, analytics: float | None, topic: float | None, want: float | None, digits: int = 0) -> None:
        table.add_row(
            name, _fmt(analytics, digits), _fmt(topic, digits), _fmt(want, digits), mark(analytics, topic, want)
        )

    row("messages sent", None, None, float(truth.attempts))
    row(
        "messages accepted (2xx) / on omni.messages.v1",
        None,
        float(len(view.message_of_ref)),
        float(len(truth.accepted)),
    )
    for label, kind, want in (
        ("conversations opened", "opened", expected["conversations"]),
        ("assignments", "assigned", None),
        ("conversations resolved", "resolved", expected["resolved"]),
        ("conversations abandoned", "abandoned", expected["abandoned"]),
    ):
        ours, window = view.events_of(kind), view.window_counts.get(kind, 0)
        topic = f"{ours}" + (f" (+{window - ours} of earlier runs)" if window != ours else "")
        ok = d[kind] == window and (want is None or want == ours)
        table.add_row(label, _fmt(d[kind]), topic, _fmt(want), "[green]✓[/]" if ok else "[red]✗[/]")
    # analytics exposes CSAT per channel; compare the unweighted mean over channels on both sides
    csat = [v for v in after.by_label("omni_csat_average", "channel").values() if not math.isnan(v)]
    by_channel: dict[str, list[int]] = {}
    for conv, score in truth.csat.items():
        state = sim.conversations.get(conv)
        by_channel.setdefault(state.channel if state else "?", []).append(score)
    truth_csat = statistics.fmean(statistics.fmean(v) for v in by_channel.values()) if by_channel else None
    table.add_row(
        "CSAT average, mean over channels (analytics: its rolling window, earlier runs included)",
        _fmt(statistics.fmean(csat) if csat else None, 2),
        "",
        f"{_fmt(truth_csat, 2)} ({len(truth.csat)} answers)",
        "",
    )
    lat = sim.assign_latency_s
    name = "omni_time_to_assign_seconds"
    count = after.total(name + "_count") - before.total(name + "_count")
    total = after.total(name + "_sum") - before.total(name + "_sum")
    table.add_row(
        "mean time to assign, s (analytics: opened -> assigned; sim: webhook 2xx -> assigned event seen)",
        _fmt(total / count if count else None, 2),
        "",
        _fmt(statistics.fmean(lat) if lat else None, 2),
        "",
    )
    breaches = after.total("omni_sla_breaches_total") - before.total("omni_sla_breaches_total")
    table.add_row("SLA breaches during the run", _fmt(breaches), "", "", "")
    table.add_row("queue depth now", _fmt(after.total("omni_queue_depth")), "", f"{len(left)} threads still open", "")
    agents = after.by_label("omni_agents", "status")
    table.add_row(
        "agents by status", ", ".join(f"{k} {v:.0f}" for k, v in sorted(agents.items()) if v) or "-", "", "", ""
    )
    table.add_row("offers accepted / declined", "", "", f"{truth.accepted_offers} / {truth.declined_offers}", "")
    console.print(table)
    if truth.errors:
        console.print("simulator errors: " + ", ".join(f"{k} x{v}" for k, v in truth.errors.most_common(8)))
    statuses = sorted((k, v) for k, v in sim.stats.statuses.items() if not k.startswith("api 2"))
    console.print("responses: " + ", ".join(f"{k}: {v}" for k, v in statuses))


def _print_checks(result: CheckResult) -> None:
    if result.ok:
        console.print(
            "[bold green]checks passed:[/] every accepted message is on the topic once and in one conversation; "
            "no double assignment; no agent over capacity; analytics equals the topic"
        )
        return
    console.print("[bold red]checks failed:[/]")
    for v in result.violations:
        console.print(f"  [red]✗[/] {v}")


def _print_next(endpoints: Endpoints) -> None:
    console.print("\n[bold]Where to look next[/]")
    for name in ("ingest_email", "ingest_chat", "ingest_social", "router", "sla", "analytics"):
        console.print(f"  {name:14s} {endpoints.url(name)}/metrics")
    console.print(
        f"  Grafana dashboard: {ROOT / 'deploy/grafana/omni-dashboard.json'} (import it, Prometheus data source)"
    )
    console.print(
        "  topics: omni.messages.v1, omni.conversations.v1, omni.agents.v1, omni.sla.v1, omni.deadletter.v1 on "
        + endpoints.kafka_bootstrap
    )
    console.print("  logs: .run/<service>.log    agent API: " + endpoints.url("router") + "/docs")
    console.print("  everything keeps running; stop it with [bold]make down[/]")


@app.command()
def demo(
    seconds: float = typer.Option(60.0, help="How long customers write."),
    rate: float = typer.Option(1.0, help="New conversations per second outside bursts."),
    seed: int = typer.Option(7, help="Seed of the scenario; the same seed tells the same story."),
    agents: int = typer.Option(8, help="Simulated agents."),
    drain: float = typer.Option(45.0, help="Seconds to wait for the last conversations to end."),
) -> None:
    """Drive traffic on every channel against running services, then print KPIs next to ground truth."""
    raise typer.Exit(asyncio.run(_demo(seconds, rate, seed, agents, drain)))


@app.command()
def faults(
    seconds: float = typer.Option(20.0, help="Traffic per fault."),
    rate: float = typer.Option(1.0, help="New conversations per second."),
    seed: int = typer.Option(11, help="Seed of the first fault's scenario."),
    only: list[str] = typer.Option([], help="Run only these faults (e.g. router, kafka)."),
) -> None:
    """Kill and restart every service and server under load; check nothing was lost or double-assigned."""
    from omni_sim.faults import run_faults

    raise typer.Exit(asyncio.run(run_faults(console, seconds=seconds, rate=rate, seed=seed, only=only)))


@app.command()
def plan(seconds: float = 60.0, rate: float = 1.0, seed: int = 7, run_id: str = "demo0") -> None:
    """Print the plan a seed gives (no traffic is sent)."""
    p = generate(ScenarioConfig(seconds=seconds, rate=rate), seed=seed, run_id=run_id)
    for step in p.steps:
        contact = getattr(step, "contact", None)
        if contact is not None:
            sys.stdout.write(
                f"{step.at:8.2f} send    {contact.route.value:10s} {contact.language} {contact.intent:12s} {contact.ref} {contact.text[:60]}\n"
            )
        else:
            sys.stdout.write(f"{step.at:8.2f} abandon {getattr(step, 'thread', '')}\n")
