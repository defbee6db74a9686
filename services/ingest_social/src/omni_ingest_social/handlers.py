"""The shell of every social webhook: check the signature, parse, publish, answer after Kafka's ack."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog

from omni_ingest_social.coalescing import CoalescingAcceptor
from omni_ingest_social.domain import (
    DetectLanguage,
    MalformedPayload,
    ParsedDelivery,
    SignatureCheck,
    check_line,
    check_meta,
    check_telegram,
    check_x,
    detect_language,
    meta_verification,
    parse_line,
    parse_meta,
    parse_telegram,
    parse_x,
    x_crc_response,
)
from omni_ingest_social.settings import Settings
from omni_schemas import Provider
from omni_service.http import ApiError
from omni_service.ingest import Inbound, IngestPipeline
from omni_service.kafka import KafkaUnavailable

log = structlog.get_logger(__name__)

PARSE_IN_THREAD_BYTES = 256 * 1024
"""A body over this is parsed in a worker thread, off the event loop."""

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    """What one accepted delivery did: the answer body of a 200."""

    accepted: int
    duplicates: int
    ignored: int
    rejected: int = 0
    """Items of a batch set aside as malformed, on omni.deadletter.v1 with the reason."""

    def body(self) -> dict[str, int]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "ignored": self.ignored,
            "rejected": self.rejected,
        }


class SocialWebhooks:
    """One method per provider endpoint; raises ApiError (401, 400, 403, 503) or KafkaUnavailable (503)."""

    def __init__(
        self,
        *,
        settings: Settings,
        clock: Clock = utcnow,
        detect: DetectLanguage = detect_language,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.detect = detect
        self._pipeline: IngestPipeline | None = None
        self._acceptor: CoalescingAcceptor | None = None

    def open(self, pipeline: IngestPipeline) -> None:
        """Attach the accept path once the runtime has connected Redis (at start-up)."""
        self._pipeline = pipeline
        self._acceptor = CoalescingAcceptor(pipeline)

    @property
    def pipeline(self) -> IngestPipeline:
        if self._pipeline is None:
            raise RuntimeError("SocialWebhooks used before start-up opened the ingest pipeline")
        return self._pipeline

    @property
    def acceptor(self) -> CoalescingAcceptor:
        if self._acceptor is None:
            raise RuntimeError("SocialWebhooks used before start-up opened the ingest pipeline")
        return self._acceptor

    def _secret(self, provider: Provider, name: str) -> str:
        secret = self.settings.secret(name)
        if secret is None:
            self.pipeline.reject(provider.value, "not_configured")
            raise ApiError(503, "channel_not_configured", f"{name.upper()} is not set; this channel is off")
        return secret

    def _verified(self, provider: Provider, check: SignatureCheck, header: str) -> None:
        if check is not SignatureCheck.VALID:
            self.pipeline.reject(provider.value, check.value)
            what = "missing" if check is SignatureCheck.MISSING else "does not match the body"
            raise ApiError(401, "unauthorized", f"{header} {what}")

    async def _deliver(
        self, provider: Provider, parse: Callable[[], ParsedDelivery], started: float, *, size: int
    ) -> DeliveryOutcome:
        """Parse a verified body (one over PARSE_IN_THREAD_BYTES in a worker thread: a batch of thousands
        of messages takes seconds, and other deliveries go on meanwhile), publish it, answer."""
        try:
            parsed = await asyncio.to_thread(parse) if size > PARSE_IN_THREAD_BYTES else parse()
        except MalformedPayload as exc:
            self.pipeline.reject(provider.value, "malformed")
            raise ApiError(400, "malformed_payload", exc.message, field=exc.field) from exc
        outcome = await self._accept(provider, parsed, started)
        if parsed.rejected:
            await self._dead_letter(provider, parsed)
        self._count_ignored(provider, parsed)  # once per accepted delivery, not again on the provider's retry
        return outcome

    async def _accept(self, provider: Provider, parsed: ParsedDelivery, started: float) -> DeliveryOutcome:
        rejected = len(parsed.rejected)
        if not parsed.routed:
            return DeliveryOutcome(accepted=0, duplicates=0, ignored=parsed.ignored_total, rejected=rejected)
        items = [Inbound(message=r.message, dedupe_key=r.dedupe_key) for r in parsed.routed]
        try:
            result = await self.acceptor.accept(provider.value, items, started=started)
        except KafkaUnavailable:
            self.pipeline.reject(provider.value, "kafka_unavailable")
            log.warning(
                "delivery not accepted: Kafka unavailable; the provider will retry",
                provider=provider.value,
                messages=len(items),
            )
            raise
        return DeliveryOutcome(
            accepted=result.accepted, duplicates=result.duplicates, ignored=parsed.ignored_total, rejected=rejected
        )

    async def _dead_letter(self, provider: Provider, parsed: ParsedDelivery) -> None:
        """The malformed items of a batch whose other items went in: each on omni.deadletter.v1 with
        its reason before the 200 (503 if Kafka does not take them: the provider's retry finds the
        good items already delivered and sets these aside again)."""
        publisher = self.pipeline.publisher
        for item in parsed.rejected:
            self.pipeline.reject(provider.value, "malformed_item")
            try:
                await asyncio.wait_for(
                    publisher.dead_letter(
                        item.item,
                        reason=f"malformed {provider.value} webhook item at {item.field}: {item.message}",
                        endpoint=f"ingest_social:{provider.value}",
                    ),
                    timeout=publisher.ack_timeout_s,
                )
            except TimeoutError as exc:
                raise KafkaUnavailable("could not dead-letter a malformed item of the batch") from exc

    def _count_ignored(self, provider: Provider, parsed: ParsedDelivery) -> None:
        for reason, count in parsed.ignored.items():
            self.pipeline.ignore(provider.value, reason, count)

    # --- Meta ---------------------------------------------------------------------

    def meta_subscribe(self, *, mode: str | None, token: str | None, challenge: str | None) -> str:
        """Meta's verification GET: the raw challenge, or 403."""
        expected = self._secret(Provider.META, "meta_verify_token")
        answer = meta_verification(expected, mode=mode, token=token, challenge=challenge)
        if answer is None:
            self.pipeline.reject(Provider.META.value, "verification_refused")
            raise ApiError(403, "forbidden", "hub.mode must be subscribe and hub.verify_token must match")
        return answer

    async def meta(self, body: bytes, signature: str | None) -> DeliveryOutcome:
        started = self.pipeline.received(Provider.META.value)
        secret = self._secret(Provider.META, "meta_app_secret")
        self._verified(Provider.META, check_meta(secret, body, signature), "X-Hub-Signature-256")
        return await self._deliver(
            Provider.META,
            lambda: parse_meta(body, received_at=self.clock(), detect=self.detect),
            started,
            size=len(body),
        )

    # --- LINE ---------------------------------------------------------------------

    async def line(self, body: bytes, signature: str | None) -> DeliveryOutcome:
        started = self.pipeline.received(Provider.LINE.value)
        secret = self._secret(Provider.LINE, "line_channel_secret")
        self._verified(Provider.LINE, check_line(secret, body, signature), "X-Line-Signature")
        return await self._deliver(
            Provider.LINE,
            lambda: parse_line(body, received_at=self.clock(), detect=self.detect),
            started,
            size=len(body),
        )

    # --- Telegram -----------------------------------------------------------------

    async def telegram(self, body: bytes, token: str | None) -> DeliveryOutcome:
        started = self.pipeline.received(Provider.TELEGRAM.value)
        secret = self._secret(Provider.TELEGRAM, "telegram_secret_token")
        self._verified(Provider.TELEGRAM, check_telegram(secret, token), "X-Telegram-Bot-Api-Secret-Token")
        scope = self.settings.telegram_scope
        return await self._deliver(
            Provider.TELEGRAM,
            lambda: parse_telegram(body, bot=scope, received_at=self.clock(), detect=self.detect),
            started,
            size=len(body),
        )

    # --- X ------------------------------------------------------------------------

    def x_crc(self, crc_token: str) -> dict[str, str]:
        return x_crc_response(self._secret(Provider.X, "x_consumer_secret"), crc_token)

    async def x(self, body: bytes, signature: str | None) -> DeliveryOutcome:
        started = self.pipeline.received(Provider.X.value)
        secret = self._secret(Provider.X, "x_consumer_secret")
        self._verified(Provider.X, check_x(secret, body, signature), "x-twitter-webhooks-signature")
        return await self._deliver(
            Provider.X, lambda: parse_x(body, received_at=self.clock(), detect=self.detect), started, size=len(body)
        )
