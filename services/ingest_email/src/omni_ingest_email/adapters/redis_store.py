"""Redis edges: the thread of every accepted Message-ID, and Mailgun's used tokens, in one round trip."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis
import structlog
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError

from omni_service.redis_client import SharedPipeline

log = structlog.get_logger(__name__)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class ReplayStoreUnavailable(RuntimeError):
    """Redis is away while a Mailgun token must be checked: answer 503 so Mailgun retries."""


@dataclass(frozen=True, slots=True)
class Prepared:
    known: Mapping[str, str]
    """Threads of the referenced Message-IDs that were seen before."""
    token_ok: bool
    """The token is new, or was first used for this same mail (a redelivery)."""


class MailStore:
    """Message-ID -> thread key (so a reply whose References were dropped still finds its thread),
    and Mailgun tokens already used (a token may carry only the one mail it was first seen with)."""

    def __init__(self, redis: aioredis.Redis, *, thread_ttl_s: int, token_ttl_s: int = 2 * 3600) -> None:
        self.redis = redis
        self._shared = SharedPipeline(redis)  # concurrent mails share one round trip
        self.thread_ttl_s = thread_ttl_s
        self.token_ttl_s = token_ttl_s

    @staticmethod
    def _thread(message_id: str) -> str:
        return f"omni:email:thread:{message_id}"

    @staticmethod
    def _token(token: str) -> str:
        return f"omni:email:mailgun-token:{token[:200]}"

    async def prepare(
        self,
        referenced: Sequence[str],
        *,
        token: tuple[str, str] | None = None,
        remember: tuple[str, str | None] | None = None,
    ) -> Prepared:
        """One round trip, shared with the mails of the same loop turn: look up the referenced ids'
        threads; with `token=(token, owner)`, claim the token; with `remember=(thread_key, own id)`,
        record the mail on the thread its headers name (the caller corrects that with `remember` in
        the rare case the lookup finds another thread)."""
        if not referenced and token is None and (remember is None or not remember[1]):
            return Prepared(known={}, token_ok=True)

        def build(pipe: Pipeline) -> None:
            if referenced:
                pipe.mget([self._thread(m) for m in referenced])
            if token is not None:
                pipe.set(self._token(token[0]), token[1], ex=self.token_ttl_s, nx=True)
                pipe.get(self._token(token[0]))
            if remember is not None:
                thread_key, own_id = remember
                if own_id:
                    pipe.set(self._thread(own_id), thread_key, ex=self.thread_ttl_s)
                for ref in referenced:
                    pipe.set(self._thread(ref), thread_key, ex=self.thread_ttl_s, nx=True)

        try:
            results = await self._shared.execute(build)
        except (RedisError, OSError) as exc:
            if token is not None:
                raise ReplayStoreUnavailable(str(exc)) from exc
            log.warning("thread memory unavailable; threading on headers alone", error=str(exc))
            return Prepared(known={}, token_ok=True)
        known: dict[str, str] = {}
        if referenced:
            values = results[0]
            known = {m: _text(v) for m, v in zip(referenced, values, strict=True) if v is not None}
        token_ok = True
        if token is not None:
            offset = 1 if referenced else 0
            claimed, current = results[offset], results[offset + 1]
            token_ok = bool(claimed) or (current is not None and _text(current) == token[1])
        return Prepared(known=known, token_ok=token_ok)

    async def remember(self, thread_key: str, *, own_id: str | None, referenced: Sequence[str]) -> None:
        """Record the mail's own id (and, where still unknown, the ids it references) on its thread."""
        if not own_id and not referenced:
            return
        try:
            pipe = self.redis.pipeline(transaction=False)
            if own_id:
                pipe.set(self._thread(own_id), thread_key, ex=self.thread_ttl_s)
            for ref in referenced:
                pipe.set(self._thread(ref), thread_key, ex=self.thread_ttl_s, nx=True)
            await pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning("could not remember the thread of a mail", error=str(exc))

    async def release(self, token: str, owner: str) -> None:
        """Forget a claim whose mail was not accepted, so the provider's retry is not taken for a replay."""
        try:
            current = await self.redis.get(self._token(token))
            if current is not None and _text(current) == owner:
                await self.redis.delete(self._token(token))
        except (RedisError, OSError) as exc:
            log.warning("could not release a mailgun token", error=str(exc))
