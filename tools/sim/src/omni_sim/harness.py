"""Run omni's services as real subprocesses on given resources (tests and benchmarks).

Each service gets a free HTTP port (never the contract ports, so a running `make up` does not
collide), the test's Kafka topic suffix, database and Redis database, and the dev secrets.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from omni_sim.domain.payloads import Secrets
from omni_sim.endpoints import Endpoints

ROOT = Path(__file__).resolve().parents[4]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def present(name: str) -> bool:
    """Whether a service has been built (has its `python -m omni_<name>` entry point)."""
    return (ROOT / "services" / name / "src" / f"omni_{name}" / "__main__.py").is_file()


@dataclass(slots=True)
class ServiceProcess:
    name: str
    port: int
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", f"omni_{self.name}"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
        )
        log.close()

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill9()

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    async def wait_ready(self, *, timeout_s: float = 60.0) -> float:
        """Seconds until `/readyz` answered 200; raises with the log's tail otherwise."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        async with httpx.AsyncClient(timeout=2) as client:
            while loop.time() - start < timeout_s:
                if self.proc is not None and self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
                try:
                    if (await client.get(f"http://127.0.0.1:{self.port}/readyz")).status_code == 200:
                        return loop.time() - start
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
        raise TimeoutError(f"{self.name} not ready after {timeout_s}s:\n{self.log_tail()}")


@dataclass(slots=True)
class Stack:
    """Some of omni's services, started on one set of resources."""

    names: tuple[str, ...]
    kafka: str
    database_url: str
    redis_url: str
    topic_suffix: str
    log_dir: Path
    api_token: str = "test-token"
    secrets: Secrets = field(default_factory=Secrets)
    smtp_port: int = field(default_factory=free_port)
    sla_config: Path = ROOT / "config/sla.yaml"
    services: dict[str, ServiceProcess] = field(default_factory=dict)

    def __post_init__(self) -> None:
        ports = {name: free_port() for name in self.names}
        for name in self.names:
            self.services[name] = ServiceProcess(
                name=name, port=ports[name], env=self._env(name, ports), log_path=self.log_dir / f"{name}.log"
            )

    def _env(self, name: str, ports: dict[str, int]) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OMNI_", "HTTP_"))}
        s = self.secrets
        env.update(
            {
                "KAFKA_BOOTSTRAP_SERVERS": self.kafka,
                "DATABASE_URL": self.database_url,
                "REDIS_URL": self.redis_url,
                "OMNI_TOPIC_SUFFIX": self.topic_suffix,
                "OMNI_API_TOKEN": self.api_token,
                "HTTP_PORT": str(ports[name]),
                "HTTP_HOST": "127.0.0.1",
                "SERVICE_NAME": name,
                "LOG_FORMAT": "console",
                "OMNI_ROUTING_CONFIG": str(ROOT / "config/routing.yaml"),
                "OMNI_SLA_CONFIG": str(self.sla_config),
                "TWILIO_AUTH_TOKEN": s.twilio_auth_token,
                "META_APP_SECRET": s.meta_app_secret,
                "META_VERIFY_TOKEN": "dev-meta-verify",
                "LINE_CHANNEL_SECRET": s.line_channel_secret,
                "TELEGRAM_SECRET_TOKEN": s.telegram_secret_token,
                "X_CONSUMER_SECRET": s.x_consumer_secret,
                "MAILGUN_SIGNING_KEY": s.mailgun_signing_key,
                "SENDGRID_INBOUND_USER": s.sendgrid_inbound_user,
                "SENDGRID_INBOUND_PASSWORD": s.sendgrid_inbound_password,
                "SMTP_PORT": str(self.smtp_port),
                "SMTP_HOST": "127.0.0.1",
            }
        )
        if "router" in ports:
            env["ROUTER_URL"] = f"http://127.0.0.1:{ports['router']}"
        return env

    async def start(self, *, timeout_s: float = 90.0) -> None:
        for proc in self.services.values():
            proc.start()
        await asyncio.gather(*(p.wait_ready(timeout_s=timeout_s) for p in self.services.values()))

    def stop(self) -> None:
        for proc in self.services.values():
            proc.stop()

    async def restart(self, name: str, *, timeout_s: float = 90.0) -> float:
        """kill -9 one service, start it again on the same port; seconds until ready again."""
        proc = self.services[name]
        proc.kill9()
        proc.start()
        return await proc.wait_ready(timeout_s=timeout_s)

    def endpoints(self) -> Endpoints:
        ports = {name: p.port for name, p in self.services.items()}
        return Endpoints(
            ports=ports,
            smtp_port=self.smtp_port,
            kafka_bootstrap=self.kafka,
            topic_suffix=self.topic_suffix,
            api_token=self.api_token,
        )
