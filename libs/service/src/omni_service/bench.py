"""Benchmark reporting: one line per result, and `.run/bench.json` (contract section 1)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
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


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_http_ready(port: int, proc: subprocess.Popen[bytes], *, name: str, timeout_s: float = 30.0) -> None:
    """Wait until a service started as `proc` answers 200 on `/readyz`; exit the benchmark if it dies."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{name} exited during start-up")
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            answer = await reader.read()
            writer.close()
            if answer.startswith(b"HTTP/1.1 200"):
                return
        except OSError:
            pass
        await asyncio.sleep(0.2)
    raise SystemExit(f"{name} not ready after {timeout_s:g} s")


async def post_all(port: int, requests: list[bytes], *, concurrency: int, expect: bytes = b"200") -> float:
    """Send raw HTTP/1.1 requests over `concurrency` keep-alive connections; the rate of `expect` answers.

    Each sender waits for its answer before the next request, as a provider's webhook does.
    """
    queue = list(reversed(requests))
    ok = 0
    failures: list[bytes] = []

    async def worker() -> None:
        nonlocal ok
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while queue:
                writer.write(queue.pop())
                status_line = await reader.readline()
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length)
                if status_line.split()[1] == expect:
                    ok += 1
                else:
                    failures.append(status_line + body)
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    if ok != len(requests):
        raise SystemExit(f"only {ok} of {len(requests)} requests were accepted: {failures[:3]!r}")
    return ok / elapsed


Record = tuple[str, bytes | None, bytes, list[tuple[str, bytes]]]


async def raw_produce(producer: Any, records: list[Record], *, concurrency: int) -> float:
    """The baseline: the same records sent by `concurrency` senders each waiting for its ack (records/s)."""
    queue = list(reversed(records))

    async def worker() -> None:
        while queue:
            topic, key, value, headers = queue.pop()
            await (await producer.send(topic, value, key=key, headers=headers))

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(records) / (time.perf_counter() - started)


@dataclass(frozen=True, slots=True)
class ServiceUnderTest:
    """A service started by `run_service`: where it listens and the topic suffix of its fresh topics."""

    name: str
    port: int
    suffix: str
    proc: subprocess.Popen[bytes]

    def cpu_seconds(self) -> float:
        """User plus system CPU time the service process has used so far (Linux `/proc`; 0.0 elsewhere)."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.asynccontextmanager
async def run_service(
    module: str, *, kafka: str, redis_url: str, env: Mapping[str, str] | None = None, timeout_s: float = 30.0
) -> AsyncIterator[ServiceUnderTest]:
    """Run a service as in production (`python -m <module>`: uvicorn, uvloop, httptools) for a benchmark.

    It gets fresh topics (a random suffix, deleted afterwards), a free loopback port, `redis_url`,
    `LOG_LEVEL=WARNING` and `env` on top of this process's environment; it is ready (200 on
    `/readyz`) when the block starts and terminated when it ends.
    """
    from omni_service.kafka import delete_topics, ensure_topics

    name = module.removeprefix("omni_")
    suffix = f".bench{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka, suffix=suffix)
    port = free_port()
    full_env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "REDIS_URL": redis_url,
        "OMNI_TOPIC_SUFFIX": suffix,
        "HTTP_HOST": "127.0.0.1",
        "HTTP_PORT": str(port),
        "LOG_LEVEL": "WARNING",
        **(env or {}),
    }
    proc = subprocess.Popen(  # noqa: ASYNC220 - started once, before anything is measured
        [sys.executable, "-m", module],
        env=full_env,
        cwd=_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        await wait_http_ready(port, proc, name=name, timeout_s=timeout_s)
        yield ServiceUnderTest(name=name, port=port, suffix=suffix, proc=proc)
    finally:
        proc.terminate()
        await asyncio.to_thread(proc.wait, 20)
        with contextlib.suppress(Exception):
            await delete_topics(kafka, suffix=suffix)


async def start_raw_producer(kafka: str) -> Any:
    """The baseline's producer: a bare idempotent `AIOKafkaProducer` (acks=all, linger 2 ms, as the services')."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=kafka, enable_idempotence=True, acks="all", linger_ms=2)
    await producer.start()
    return producer
