"""Is omni up? Each service's `/readyz` and the SMTP port, named one by one."""

from __future__ import annotations

import asyncio

import httpx

from omni_sim.endpoints import SERVICES, Endpoints


async def _smtp_open(host: str, port: int) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout=2)
    except (OSError, TimeoutError):
        return False
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass
    return True


async def problems(endpoints: Endpoints, services: tuple[str, ...] = SERVICES) -> dict[str, str]:
    """Service name -> what is wrong with it; empty when everything answers ready."""
    out: dict[str, str] = {}
    async with httpx.AsyncClient(timeout=3) as client:

        async def one(name: str) -> None:
            url = endpoints.url(name) + "/readyz"
            try:
                response = await client.get(url)
            except httpx.HTTPError as exc:
                out[name] = f"not reachable at {url} ({type(exc).__name__})"
                return
            if response.status_code != 200:
                out[name] = f"not ready: {url} answered {response.status_code} {response.text[:200]}"

        await asyncio.gather(*(one(n) for n in services))
    smtp_expected = "ingest_email" in services and "ingest_email" not in out
    if smtp_expected and not await _smtp_open(endpoints.host, endpoints.smtp_port):
        out["ingest_email"] = f"SMTP not listening on {endpoints.host}:{endpoints.smtp_port}"
    return out


async def wait_ready(endpoints: Endpoints, *, timeout_s: float, services: tuple[str, ...] = SERVICES) -> float | None:
    """Seconds until every service is ready, or None when `timeout_s` passed first."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while loop.time() - start < timeout_s:
        if not await problems(endpoints, services):
            return loop.time() - start
        await asyncio.sleep(0.2)
    return None
