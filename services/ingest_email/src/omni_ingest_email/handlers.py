"""The shell: parsed mail -> thread -> event -> Kafka ack, shared by SMTP and both webhooks."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar
from uuid import UUID, uuid4

import structlog
from prometheus_client import CollectorRegistry, Counter

from omni_ingest_email.adapters.redis_store import MailStore
from omni_ingest_email.domain import ParsedEmail, choose_thread_key, dedupe_key, referenced_ids, to_message
from omni_ingest_email.domain.normalize import customer_of
from omni_schemas import Provider
from omni_service.ingest import Inbound, IngestPipeline, stable_id
from omni_service.kafka import KafkaUnavailable

log = structlog.get_logger(__name__)

Clock = Callable[[], datetime]
T = TypeVar("T")
# past these counts a small mail is parsed off the event loop too (a real mail has a few of each)
_MAX_PARTS_ON_LOOP = 64
_MAX_ENCODED_WORDS_ON_LOOP = 512
_STRUCTURE = re.compile(rb"(?i)boundary=|message/")


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Accepted:
    message_id: UUID
    thread_key: str
    thread_reason: str
    duplicate: bool
    auto_reply: bool

    def body(self) -> dict[str, object]:
        return {
            "status": "duplicate" if self.duplicate else "accepted",
            "message_id": str(self.message_id),
            "thread_key": self.thread_key,
            "thread_reason": self.thread_reason,
            "auto_reply": self.auto_reply,
        }


class TokenReused(Exception):
    """A Mailgun token seen before with another mail: a replay."""


def heavy_to_parse(raw: bytes, *, size_limit: int) -> bool:
    """Whether parsing `raw` may hold the event loop: a body over `size_limit`, or a smaller one with
    many MIME parts or encoded words (the standard library parser's cost grows with nesting and
    encoded words, so a hostile mail of a few kilobytes can take seconds to parse)."""
    return (
        len(raw) > size_limit
        or raw.count(b"=?") > _MAX_ENCODED_WORDS_ON_LOOP
        or len(_STRUCTURE.findall(raw)) > _MAX_PARTS_ON_LOOP
    )


class EmailIngest:
    """Accept one parsed mail: thread it, normalize it, publish it and wait for Kafka's ack."""

    def __init__(
        self,
        *,
        pipeline: IngestPipeline,
        store: MailStore,
        clock: Clock = utcnow,
        registry: CollectorRegistry,
        parse_in_thread_bytes: int = 256 * 1024,
    ) -> None:
        self.pipeline = pipeline
        self.store = store
        self.clock = clock
        self.parse_in_thread_bytes = parse_in_thread_bytes
        self.auto_replies = Counter(
            "omni_ingest_email_auto_replies",
            "Mails flagged as auto-replies, bounces or bulk mail (published, not routed), by reason.",
            ["service", "provider", "reason"],
            registry=registry,
        )

    def received(self, provider: Provider) -> float:
        return self.pipeline.received(provider.value)

    def reject(self, provider: Provider, reason: str) -> None:
        self.pipeline.reject(provider.value, reason)

    def heavy(self, raw: bytes) -> bool:
        return heavy_to_parse(raw, size_limit=self.parse_in_thread_bytes)

    async def parse(self, heavy: bool, parse: Callable[[], T]) -> T:
        """Run a parse function; a `heavy` one off the event loop, so other deliveries go on meanwhile."""
        if heavy:
            return await asyncio.to_thread(parse)
        return parse()

    async def accept(
        self, mail: ParsedEmail, *, provider: Provider, started: float, token: str | None = None
    ) -> Accepted:
        """Publish the mail's event and wait for Kafka's ack.

        Raises MalformedEmail (no sender), TokenReused (with `token`: a Mailgun replay),
        ReplayStoreUnavailable or KafkaUnavailable (both: answer so that the provider retries).
        """
        customer_of(mail)  # no sender: malformed, before anything is remembered
        refs = referenced_ids(mail)
        key = dedupe_key(mail)
        by_headers = choose_thread_key(mail)
        prepared = await self.store.prepare(
            refs, token=(token, key) if token else None, remember=(by_headers.thread_key, mail.message_id)
        )
        if not prepared.token_ok:
            raise TokenReused(token)
        decision = choose_thread_key(mail, prepared.known)
        try:
            message = to_message(
                mail, provider=provider, thread_key=decision.thread_key, message_id=uuid4(), received_at=self.clock()
            )
            result = await self.pipeline.accept(
                provider.value, [Inbound(message=message, dedupe_key=key)], started=started
            )
        except BaseException as exc:
            if token:
                await self.store.release(token, key)
            if isinstance(exc, KafkaUnavailable):
                self.reject(provider, "kafka_unavailable")
            raise
        if decision.thread_key != by_headers.thread_key:  # a reply whose References were dropped
            await self.store.remember(decision.thread_key, own_id=mail.message_id, referenced=())
        if mail.auto_reply_reason and not result.duplicates:
            self.auto_replies.labels(self.pipeline.service, provider.value, mail.auto_reply_reason).inc()
        log.info(
            "mail accepted",
            provider=provider.value,
            thread_reason=decision.reason,
            duplicate=bool(result.duplicates),
            auto_reply=mail.auto_reply_reason,
            ms=round((time.perf_counter() - started) * 1000, 2),
        )
        return Accepted(
            message_id=result.accepted[0] if result.accepted else stable_id(provider.value, key),
            thread_key=decision.thread_key,
            thread_reason=decision.reason,
            duplicate=bool(result.duplicates),
            auto_reply=mail.auto_reply,
        )
