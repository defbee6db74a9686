"""The shell: verify, parse (domain), accept through the shared ingest pipeline, answer after the ack."""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import redis.asyncio as aioredis
import structlog
from fastapi import Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CollectorRegistry, Counter
from pydantic import ValidationError
from redis.exceptions import RedisError

from omni_ingest_chat.adapters.router_client import RouterClient, RouterUnavailable
from omni_ingest_chat.domain.errors import MalformedInput
from omni_ingest_chat.domain.normalized import Normalized
from omni_ingest_chat.domain.threads import chat_thread_key
from omni_ingest_chat.domain.twilio_signature import is_valid_signature
from omni_ingest_chat.domain.twilio_sms import is_status_callback, parse_form, parse_inbound_message
from omni_ingest_chat.domain.webchat import ChatMessageIn, IgnoredBody, normalize_chat_message
from omni_service.http import ApiError, error_body, header
from omni_service.ingest import AcceptResult, Inbound, IngestPipeline, stable_id
from omni_service.kafka import KafkaUnavailable

log = structlog.get_logger(__name__)

EMPTY_TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response/>'
TWILIO = "twilio"
WEBCHAT = "webchat"

Clock = Callable[[], datetime]
_MARKED_SESSIONS = 20_000

JSON = "application/json"
BEACON = "text/plain"
"""What `navigator.sendBeacon(url, string)` posts: the one way a page being closed can send a body
cross-origin without a CORS preflight (it cannot set `application/json`)."""

# the CloudEvent's own rule for the W3C trace context header
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")


def media_type(request: Request) -> str | None:
    """The request's media type (`type/subtype`, lower case, no parameters); None when not given."""
    raw = header(request.scope, b"content-type")
    return (raw.split(";", 1)[0].strip().lower() or None) if raw else None


def is_json(media: str | None) -> bool:
    """`application/json` or a structured `application/*+json` type (the ones FastAPI reads as JSON)."""
    return media == JSON or (media is not None and media.startswith("application/") and media.endswith("+json"))


def _traceparent(request: Request) -> str | None:
    """The caller's W3C `traceparent`, or None when absent or malformed (ignored, as the spec says)."""
    value = header(request.scope, b"traceparent")
    return value if value is not None and _TRACEPARENT.fullmatch(value) else None


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _invalid(exc: MalformedInput | ValidationError) -> ApiError:
    if isinstance(exc, MalformedInput):
        return ApiError(400, "invalid_request", str(exc), field=exc.field)
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": str(exc)}
    field = ".".join(str(p) for p in first.get("loc", ())) or "<body>"
    return ApiError(400, "invalid_request", f"{field}: {first.get('msg', '')}", field=field)


class ChatIngest:
    """Twilio SMS webhooks, web chat messages and session closes."""

    def __init__(
        self,
        *,
        pipeline: IngestPipeline,
        redis: aioredis.Redis,
        router: RouterClient,
        twilio_auth_token: str,
        public_base_url: str | None,
        session_ttl_s: int,
        registry: CollectorRegistry,
        clock: Clock = _utcnow,
    ) -> None:
        self.pipeline = pipeline
        self.redis = redis
        self.router = router
        self.twilio_auth_token = twilio_auth_token
        self.public_base_url = public_base_url
        self.session_ttl_s = session_ttl_s
        self.clock = clock
        self._marked: OrderedDict[str, float] = OrderedDict()
        self.closed = Counter(
            "omni_ingest_chat_sessions_closed",
            "Web chat sessions closed by the visitor, by outcome.",
            ["outcome"],
            registry=registry,
        )

    def signed_url(self, request: Request) -> str:
        """The URL Twilio signed: OMNI_PUBLIC_BASE_URL + path + query when set, else the request URL."""
        if not self.public_base_url:
            return str(request.url)
        raw_path = request.scope.get("raw_path")
        path = raw_path.decode("latin-1") if raw_path else request.url.path
        query = request.scope.get("query_string", b"").decode("latin-1")
        return self.public_base_url + path + (f"?{query}" if query else "")

    async def _accept(
        self, provider: str, items: Sequence[Normalized], *, started: float, request: Request
    ) -> AcceptResult:
        inbound = [Inbound(message=i.message, dedupe_key=i.dedupe_key) for i in items]
        try:
            return await self.pipeline.accept(provider, inbound, started=started, traceparent=_traceparent(request))
        except KafkaUnavailable:
            self.pipeline.reject(provider, "kafka_unavailable")
            raise

    def _reject(self, provider: str, reason: str, error: ApiError) -> ApiError:
        self.pipeline.reject(provider, reason)
        return error

    def _unsupported_media_type(self, media: str | None, accepted: Sequence[str]) -> ApiError:
        given = f"Content-Type {media}" if media else "a body without Content-Type"
        expected = " or ".join(accepted) + (" (a JSON object as text)" if BEACON in accepted else "")
        return self._reject(
            WEBCHAT,
            "unsupported_media_type",
            ApiError(
                415, "unsupported_media_type", f"{given} not supported; expected {expected}", accepted=[*accepted]
            ),
        )

    async def require_json(self, request: Request) -> None:
        """A web chat message is JSON: any other Content-Type, or a body without one, is answered 415.

        A body without Content-Type is not read as JSON (FastAPI's strict content type): a browser
        sends one cross-site without a CORS preflight. No body and no type: the missing body's 400.
        """
        media = media_type(request)
        if not is_json(media) and (media is not None or await request.body()):
            self.pipeline.received(WEBCHAT)
            raise self._unsupported_media_type(media, [JSON])

    async def optional_json_object(self, request: Request) -> None:
        """The body of an endpoint that needs none: empty (any Content-Type), or a JSON object whose
        members are ignored, sent as JSON, or as `text/plain` or without a type as sendBeacon posts it.
        415 for any other media type, 400 for a body that is not a JSON object."""
        body = await request.body()
        if not body:
            return
        media = media_type(request)
        if not (is_json(media) or media in (None, BEACON)):
            self.pipeline.received(WEBCHAT)
            raise self._unsupported_media_type(media, [JSON, BEACON])
        try:
            IgnoredBody.model_validate_json(body)
        except ValidationError as exc:
            self.pipeline.received(WEBCHAT)
            raise self._reject(WEBCHAT, "malformed", _invalid(exc)) from exc

    async def twilio_sms(self, request: Request) -> Response:
        """A POSTed webhook: parameters in the form body, signed together with the URL."""
        started = self.pipeline.received(TWILIO)
        content_type = (header(request.scope, b"content-type") or "").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            raise self._reject(
                TWILIO,
                "unsupported_media_type",
                ApiError(415, "unsupported_media_type", "expected application/x-www-form-urlencoded"),
            )
        body = await request.body()
        try:
            params = parse_form(body)
        except MalformedInput as exc:
            raise self._reject(TWILIO, "malformed", _invalid(exc)) from exc
        return await self._twilio_verified(request, params, signed_params=params, started=started)

    async def twilio_sms_get(self, request: Request) -> Response:
        """A webhook configured as GET: parameters in the query string, which the signed URL already holds."""
        started = self.pipeline.received(TWILIO)
        try:
            params = parse_form(request.scope.get("query_string", b""))
        except MalformedInput as exc:
            raise self._reject(TWILIO, "malformed", _invalid(exc)) from exc
        return await self._twilio_verified(request, params, signed_params={}, started=started)

    async def _twilio_verified(
        self,
        request: Request,
        params: dict[str, list[str]],
        *,
        signed_params: dict[str, list[str]],
        started: float,
    ) -> Response:
        signature = header(request.scope, b"x-twilio-signature")
        if not signature:
            raise self._reject(TWILIO, "missing_signature", ApiError(401, "unauthorized", "missing X-Twilio-Signature"))
        if not is_valid_signature(self.twilio_auth_token, self.signed_url(request), signed_params, signature):
            raise self._reject(TWILIO, "bad_signature", ApiError(401, "unauthorized", "bad X-Twilio-Signature"))
        if is_status_callback(params):
            self.pipeline.ignore(TWILIO, "status_callback")
            return Response(EMPTY_TWIML, media_type="text/xml")
        try:
            normalized = parse_inbound_message(params, message_id=uuid4(), received_at=self.clock())
        except (MalformedInput, ValidationError) as exc:
            raise self._reject(TWILIO, "malformed", _invalid(exc)) from exc
        await self._accept(TWILIO, [normalized], started=started, request=request)
        return Response(EMPTY_TWIML, media_type="text/xml")

    async def chat_message(self, session_id: str, body: ChatMessageIn, request: Request) -> dict[str, Any]:
        started = self.pipeline.received(WEBCHAT)
        try:
            normalized = normalize_chat_message(session_id, body, message_id=uuid4(), received_at=self.clock())
        except ValidationError as exc:
            raise self._reject(WEBCHAT, "malformed", _invalid(exc)) from exc
        result = await self._accept(WEBCHAT, [normalized], started=started, request=request)
        duplicate = not result.accepted
        if duplicate and normalized.dedupe_key:
            message_id = stable_id(WEBCHAT, normalized.dedupe_key)
        else:
            message_id = result.accepted[0]
        # also for a duplicate: its first delivery may have been answered 503 and acknowledged later
        await self._mark_session_wrote(session_id)
        return {"message_id": str(message_id), "thread_key": normalized.message.thread_key, "duplicate": duplicate}

    async def _mark_session_wrote(self, session_id: str) -> None:
        """Remember (in Redis, for `close`) that the session wrote; once per session and half-TTL per process."""
        now = time.monotonic()
        marked = self._marked.get(session_id)
        if marked is not None and now - marked < self.session_ttl_s / 2:
            return
        try:
            await self.redis.set(self._session_key(session_id), b"1", ex=self.session_ttl_s)
        except (RedisError, OSError) as exc:  # the message is safely in Kafka; only close is less sure
            log.warning("could not mark chat session as active", error=str(exc))
            return
        self._marked[session_id] = now
        self._marked.move_to_end(session_id)
        while len(self._marked) > _MARKED_SESSIONS:
            self._marked.popitem(last=False)

    @staticmethod
    def _session_key(session_id: str) -> str:
        return f"omni:chat:session:{session_id}:wrote"

    async def close_session(self, session_id: str) -> JSONResponse:
        """Ask the router to abandon the session's conversation (it does so only while unassigned)."""
        thread_key = chat_thread_key(session_id)
        answer: dict[str, Any] = {"session_id": session_id, "thread_key": thread_key}
        try:
            outcome = await self.router.abandon_thread(thread_key, reason="visitor_left")
        except RouterUnavailable as exc:
            return self._retry_later("router_unavailable", str(exc))
        if 200 <= outcome.status < 300:
            self.closed.labels("abandoned").inc()
            return JSONResponse({**answer, "abandoned": True, "router": outcome.body})
        if outcome.status == 404:
            try:
                wrote = bool(await self.redis.exists(self._session_key(session_id)))
            except (RedisError, OSError) as exc:
                return self._retry_later("redis_unavailable", f"cannot tell whether the session wrote: {exc}")
            if wrote:
                # The router has not consumed this session's messages yet: closing now would leave
                # a conversation behind that nobody is waiting on.
                return self._retry_later("router_behind", "the router has not seen this session's messages yet")
            self.closed.labels("no_conversation").inc()
            return JSONResponse({**answer, "abandoned": False, "reason": "no_conversation"})
        if outcome.status == 409:
            self.closed.labels("not_abandonable").inc()
            return JSONResponse({**answer, "abandoned": False, "reason": "not_abandonable", "router": outcome.body})
        self.closed.labels("router_rejected").inc()
        log.error("router refused to abandon a chat thread", status=outcome.status, body=outcome.body)
        return JSONResponse(
            error_body("router_rejected", f"router answered {outcome.status}", router=outcome.body), status_code=502
        )

    def _retry_later(self, code: str, message: str) -> JSONResponse:
        self.closed.labels(code).inc()
        return JSONResponse(error_body(code, message), status_code=503, headers={"Retry-After": "2"})
