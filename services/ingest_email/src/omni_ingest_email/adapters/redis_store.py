"""Redis edges: the thread of every accepted Message-ID, and Mailgun's used tokens."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

log = structlog.get_logger(__name__)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class ThreadMemory:
    """Message-ID -> thread key, so a reply whose References were dropped still finds its thread."""

    def __init__(self, redis: aioredis.Redis, *, ttl_s: int) -> None:
        self.redis = redis
        self.ttl_s = ttl_s

    @staticmethod
    def _key(message_id: str) -> str:
        return f"omni:email:thread:{message_id}"

    async def lookup(self, message_ids: Sequence[str]) -> Mapping[str, str]:
        """The known threads of these ids; empty when Redis is away (threading then uses the headers alone)."""
        if not message_ids:
            return {}
        try:
            values = await self.redis.mget([self._key(m) for m in message_ids])
        except (RedisError, OSError) as exc:
            log.warning("thread memory unavailable; threading on headers alone", error=str(exc))
            return {}
        return {m: _text(v) for m, v in zip(message_ids, values, strict=True) if v is not None}

    async def remember(self, thread_key: str, *, own_id: str | None, referenced: Sequence[str]) -> None:
        """Record the mail's own id (and, where still unknown, the ids it references) on its thread."""
        try:
            pipe = self.redis.pipeline(transaction=False)
            if own_id:
                pipe.set(self._key(own_id), thread_key, ex=self.ttl_s)
            for ref in referenced:
                pipe.set(self._key(ref), thread_key, ex=self.ttl_s, nx=True)
            await pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning("could not remember the thread of a mail", error=str(exc))


class ReplayStoreUnavailable(RuntimeError):
    pass


class TokenLedger:
    """Mailgun tokens already used: a token may carry only the one mail it was first seen with."""

    def __init__(self, redis: aioredis.Redis, *, ttl_s: int = 2 * 3600) -> None:
        self.redis = redis
        self.ttl_s = ttl_s

    @staticmethod
    def _key(token: str) -> str:
        return f"omni:email:mailgun-token:{token[:200]}"

    async def claim(self, token: str, owner: str) -> bool:
        """True when the token is new or was used for this same mail (a redelivery), False for a replay."""
        try:
            if await self.redis.set(self._key(token), owner, ex=self.ttl_s, nx=True):
                return True
            current = await self.redis.get(self._key(token))
        except (RedisError, OSError) as exc:
            raise ReplayStoreUnavailable(str(exc)) from exc
        return current is not None and _text(current) == owner

    async def release(self, token: str, owner: str) -> None:
        """Forget a claim whose mail was not accepted, so the provider's retry is not taken for a replay."""
        try:
            current = await self.redis.get(self._key(token))
            if current is not None and _text(current) == owner:
                await self.redis.delete(self._key(token))
        except (RedisError, OSError) as exc:
            log.warning("could not release a mailgun token", error=str(exc))
