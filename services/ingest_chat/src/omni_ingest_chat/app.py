"""Composition root: settings -> Redis, publisher, ingest pipeline, router client -> routes."""

from __future__ import annotations

import asyncio
import re
from typing import Annotated, Any
from uuid import uuid4

import structlog
from fastapi import Depends, FastAPI, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from omni_ingest_chat.adapters.router_client import RouterClient
from omni_ingest_chat.domain.threads import SESSION_ID_PATTERN, chat_thread_key
from omni_ingest_chat.domain.webchat import ChatMessageIn
from omni_ingest_chat.handlers import BEACON, JSON, TWILIO, WEBCHAT, ChatIngest
from omni_ingest_chat.settings import Settings
from omni_service.http import BodyLimits, fast_route, header
from omni_service.ingest import IngestPipeline
from omni_service.language import warm_up
from omni_service.redis_client import create_redis, redis_ready
from omni_service.runtime import ServiceRuntime

log = structlog.get_logger(__name__)

SERVICE = "ingest_chat"
TWILIO_PATH = "/webhooks/sms/twilio"
CHAT_PREFIX = "/v1/chat/"
CHAT_SESSIONS = "/v1/chat/sessions/"
_SESSION_ID = re.compile(SESSION_ID_PATTERN)

_ERROR = {"description": "JSON error body naming what is wrong: {'error': {'code', 'message', 'details'}}"}
_COMMON = {
    400: {**_ERROR, "description": "Malformed input; the error names the field"},
    413: {**_ERROR, "description": "Body over the endpoint's size limit"},
    503: {**_ERROR, "description": "Kafka (or a dependency) unavailable; retry"},
}
_NOT_JSON = {**_ERROR, "description": "A body in another media type than JSON (or without Content-Type)"}


def _optional_body() -> dict[str, Any]:
    """The OpenAPI request body of an endpoint that needs none: a JSON object, its members ignored."""
    content: dict[str, Any] = {
        JSON: {"schema": {"type": "object"}},
        BEACON: {
            "schema": {"type": "string", "description": "A JSON object as text, as navigator.sendBeacon posts it"}
        },
    }
    return {"requestBody": {"required": False, "description": "Optional; no member is read yet", "content": content}}


_TWILIO_FORM = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "MessageSid": {"type": "string", "pattern": "^(SM|MM)[0-9a-f]{32}$"},
                        "AccountSid": {"type": "string"},
                        "MessagingServiceSid": {"type": "string"},
                        "From": {"type": "string", "pattern": "^(whatsapp:)?\\+[1-9][0-9]{7,14}$"},
                        "To": {"type": "string", "pattern": "^(whatsapp:)?\\+[1-9][0-9]{7,14}$"},
                        "Body": {"type": "string"},
                        "NumMedia": {"type": "string", "pattern": "^([0-9]|10)$"},
                        "MediaUrl0": {"type": "string"},
                        "MediaContentType0": {"type": "string"},
                        "FromCountry": {"type": "string"},
                        "ProfileName": {"type": "string"},
                    },
                    "required": ["MessageSid", "From", "To"],
                    "additionalProperties": {"type": "string"},
                }
            }
        },
    },
    "parameters": [
        {
            "name": "X-Twilio-Signature",
            "in": "header",
            "required": True,
            "schema": {"type": "string"},
            "description": "base64 HMAC-SHA1 of the URL and sorted parameters with the Twilio auth token",
        }
    ],
}

SessionId = Annotated[
    str, Path(pattern=SESSION_ID_PATTERN, description="The widget's session id; it threads the conversation.")
]


def create_app(settings: Settings, *, router: RouterClient | None = None) -> FastAPI:
    """The ingest_chat HTTP service; `router` overrides the router client (tests)."""
    runtime = ServiceRuntime(settings, service=SERVICE)
    redis = create_redis(settings.redis_url)
    pipeline = IngestPipeline(publisher=runtime.publisher, redis=redis, metrics=runtime.metrics)
    router_client = router or RouterClient(
        base_url=settings.router_url,
        token=settings.omni_api_token.get_secret_value(),
        timeout_s=settings.router_timeout_s,
    )
    token = settings.twilio_auth_token.get_secret_value()
    ingest = ChatIngest(
        pipeline=pipeline,
        redis=redis,
        router=router_client,
        twilio_auth_token=token,
        public_base_url=settings.omni_public_base_url,
        session_ttl_s=settings.chat_session_ttl_s,
        registry=runtime.metrics.registry,
    )

    async def redis_is_ready() -> bool:
        return await redis_ready(redis)

    runtime.ready_checks["redis"] = redis_is_ready

    async def on_startup() -> None:
        if not token:
            log.warning("TWILIO_AUTH_TOKEN is empty: every Twilio webhook will be answered 401")
        await asyncio.to_thread(warm_up)

    async def on_shutdown() -> None:
        await router_client.aclose()
        await pipeline.drain()
        await redis.aclose()

    runtime.on_startup.append(on_startup)
    runtime.on_shutdown.append(on_shutdown)

    app = runtime.http_app(
        description="Web chat API and Twilio inbound SMS/MMS/WhatsApp; every accepted message is on "
        "omni.messages.v1 (acknowledged by Kafka) before the answer.",
        max_body_bytes=max(settings.sms_max_body_bytes, settings.chat_max_body_bytes),
    )
    app.state.ingest = ingest

    def count_oversize(path: str) -> None:
        provider = TWILIO if path == TWILIO_PATH else WEBCHAT if path.startswith(CHAT_PREFIX) else None
        if provider is not None:
            pipeline.received(provider)
            pipeline.reject(provider, "too_large")

    limits: BodyLimits = app.state.body_limits
    limits.paths[TWILIO_PATH] = settings.sms_max_body_bytes
    limits.prefixes[CHAT_PREFIX] = settings.chat_max_body_bytes
    limits.on_oversize = count_oversize

    base_invalid = app.exception_handlers[RequestValidationError]

    async def counted_invalid(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith(CHAT_PREFIX):
            pipeline.received(WEBCHAT)
            pipeline.reject(WEBCHAT, "malformed")
        response: Response = await base_invalid(request, exc)
        return response

    app.add_exception_handler(RequestValidationError, counted_invalid)

    @app.post(
        TWILIO_PATH,
        tags=["sms"],
        summary="Twilio inbound SMS, MMS and WhatsApp webhook",
        response_class=Response,
        responses={
            200: {"content": {"text/xml": {}}, "description": "Accepted (or a duplicate); empty TwiML"},
            401: {**_ERROR, "description": "Missing or bad X-Twilio-Signature"},
            415: {**_ERROR, "description": "Not a form body"},
            **_COMMON,
        },
        openapi_extra=_TWILIO_FORM,
    )
    async def twilio_sms(request: Request) -> Response:
        return await ingest.twilio_sms(request)

    fast_route(app, "POST", TWILIO_PATH, ingest.twilio_sms)

    @app.get(
        TWILIO_PATH,
        tags=["sms"],
        summary="The same webhook when configured in Twilio as GET (parameters in the query string)",
        response_class=Response,
        responses={
            200: {"content": {"text/xml": {}}, "description": "Accepted (or a duplicate); empty TwiML"},
            401: {**_ERROR, "description": "Missing or bad X-Twilio-Signature"},
            400: _COMMON[400],
            503: _COMMON[503],
        },
        openapi_extra={"parameters": _TWILIO_FORM["parameters"]},
    )
    async def twilio_sms_get(request: Request) -> Response:
        return await ingest.twilio_sms_get(request)

    async def json_only(request: Request) -> None:
        await ingest.require_json(request)

    async def optional_json_object(request: Request) -> None:
        await ingest.optional_json_object(request)

    @app.post(
        "/v1/chat/sessions",
        tags=["chat"],
        summary="Start a web chat session",
        status_code=201,
        responses={
            400: {**_ERROR, "description": "A body that is not a JSON object"},
            413: _COMMON[413],
            415: {**_ERROR, "description": "A body in another media type than JSON or text/plain"},
            503: _COMMON[503],
        },
        dependencies=[Depends(optional_json_object)],
        openapi_extra=_optional_body(),
    )
    async def start_session() -> dict[str, str]:
        session_id = str(uuid4())
        return {"session_id": session_id, "thread_key": chat_thread_key(session_id)}

    @app.post(
        "/v1/chat/sessions/{session_id}/messages",
        tags=["chat"],
        summary="A visitor's message in a web chat session",
        status_code=202,
        responses={**_COMMON, 415: _NOT_JSON},
        dependencies=[Depends(json_only)],
    )
    async def chat_message(session_id: SessionId, body: ChatMessageIn, request: Request) -> dict[str, Any]:
        return await ingest.chat_message(session_id, body, request)

    async def fast_chat_message(request: Request) -> Response | None:
        """`chat_message` for a well-formed post, without FastAPI's per-request machinery; anything
        else (bad session id, not `application/json`, invalid body) is declined to the route above,
        which answers, so both answer alike."""
        session_id = request.scope["path"][len(CHAT_SESSIONS) : -len("/messages")]
        content_type = (header(request.scope, b"content-type") or "").split(";")[0].strip().lower()
        if content_type != "application/json" or not _SESSION_ID.fullmatch(session_id):
            return None
        try:
            body = ChatMessageIn.model_validate_json(await request.body())
        except ValidationError:
            return None
        return JSONResponse(await ingest.chat_message(session_id, body, request), status_code=202)

    fast_route(app, "POST", CHAT_SESSIONS + "{session_id}/messages", fast_chat_message)

    @app.post(
        "/v1/chat/sessions/{session_id}/close",
        tags=["chat"],
        summary="The visitor left: abandon the conversation if no agent has it yet",
        responses={
            200: {"description": "Closed; `abandoned` says whether the router abandoned a conversation"},
            502: {**_ERROR, "description": "The router refused the request"},
            503: {**_ERROR, "description": "Router unreachable or not caught up yet; retry"},
            400: _COMMON[400],
            413: _COMMON[413],
            415: {**_ERROR, "description": "A body in another media type than JSON or text/plain"},
        },
        dependencies=[Depends(optional_json_object)],
        openapi_extra=_optional_body(),
    )
    async def close_session(session_id: SessionId) -> JSONResponse:
        return await ingest.close_session(session_id)

    if settings.allowed_origins:  # a widget on the customer's own site calls this API cross-origin
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.allowed_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["content-type"],
            max_age=600,
        )
    return app
