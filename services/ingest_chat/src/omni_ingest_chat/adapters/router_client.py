"""The router's agent/admin API, as far as ingest_chat needs it: abandoning a chat thread."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx


class RouterUnavailable(RuntimeError):
    """The router could not be reached or failed; the caller answers 503 so the widget retries."""


@dataclass(frozen=True, slots=True)
class AbandonOutcome:
    """What the router said: `status` is its HTTP status, `body` its JSON answer (or None)."""

    status: int
    body: Any


class RouterClient:
    def __init__(
        self,
        *,
        base_url: str,
        token: str,
        timeout_s: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout_s,
            transport=transport,
        )

    async def abandon_thread(self, thread_key: str, *, reason: str) -> AbandonOutcome:
        """`POST /v1/conversations/by-thread/{thread_key}/abandon`; RouterUnavailable on 5xx or no answer."""
        path = f"/v1/conversations/by-thread/{quote(thread_key, safe='')}/abandon"
        try:
            response = await self._client.post(path, json={"reason": reason})
        except httpx.HTTPError as exc:
            raise RouterUnavailable(f"router unreachable: {type(exc).__name__}: {exc}") from exc
        if response.status_code >= 500:
            raise RouterUnavailable(f"router answered {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            body = None
        return AbandonOutcome(status=response.status_code, body=body)

    async def aclose(self) -> None:
        await self._client.aclose()
