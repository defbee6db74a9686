"""The HTTP edge: the routes of contract section 5 for social channels, documented in OpenAPI.

Bodies are read raw because every provider signs the exact bytes it sent; the JSON schemas
below document the formats for clients and schemathesis, they are not used to parse.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from omni_ingest_social.handlers import DeliveryOutcome, SocialWebhooks
from omni_service.http import ERROR_SCHEMA, Endpoint, header

_ERROR = ERROR_SCHEMA
_ACCEPTED = {
    "type": "object",
    "properties": {
        "accepted": {"type": "integer"},
        "duplicates": {"type": "integer"},
        "ignored": {"type": "integer"},
        "rejected": {"type": "integer", "description": "Malformed items of the batch, dead-lettered with the reason"},
    },
}


def _responses(*extra: int) -> dict[int | str, dict[str, Any]]:
    text = {
        200: "Every message acknowledged by Kafka (or nothing to route)",
        400: "Malformed body; the error names the field",
        401: "Missing or wrong signature",
        403: "Verification refused",
        413: "Body over the endpoint's limit",
        503: "Kafka unavailable or channel not configured: retry later",
    }
    codes = [200, 400, 401, 413, 503, *extra]
    return {
        code: {
            "description": text[code],
            "content": {"application/json": {"schema": _ACCEPTED if code == 200 else _ERROR}},
        }
        for code in codes
    }


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


_STR = {"type": "string"}
_OBJ = {"type": "object"}
META_SCHEMA = {
    "type": "object",
    "required": ["object", "entry"],
    "properties": {
        "object": {"type": "string", "enum": ["page", "instagram", "whatsapp_business_account"]},
        "entry": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id"],
                "properties": {
                    "id": _STR,
                    "time": {"type": "integer"},
                    "messaging": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "sender": {"type": "object", "properties": {"id": _STR}},
                                "recipient": _OBJ,
                                "timestamp": {"type": "integer"},
                                "message": {
                                    "type": "object",
                                    "properties": {
                                        "mid": _STR,
                                        "text": _STR,
                                        "is_echo": {"type": "boolean"},
                                        "attachments": {"type": "array", "items": _OBJ},
                                    },
                                },
                            },
                        },
                    },
                    "changes": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "field": _STR,
                                "value": {
                                    "type": "object",
                                    "properties": {
                                        "metadata": {"type": "object", "properties": {"phone_number_id": _STR}},
                                        "contacts": {"type": "array", "items": _OBJ},
                                        "messages": {
                                            "type": "array",
                                            "items": {
                                                "type": "object",
                                                "properties": {
                                                    "from": _STR,
                                                    "id": _STR,
                                                    "timestamp": _STR,
                                                    "type": _STR,
                                                    "text": {"type": "object", "properties": {"body": _STR}},
                                                },
                                            },
                                        },
                                        "statuses": {"type": "array", "items": _OBJ},
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}
LINE_SCHEMA = {
    "type": "object",
    "required": ["events"],
    "properties": {
        "destination": _STR,
        "events": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["type"],
                "properties": {
                    "type": _STR,
                    "mode": _STR,
                    "timestamp": {"type": "integer"},
                    "webhookEventId": _STR,
                    "source": {
                        "type": "object",
                        "properties": {
                            "type": {"type": "string", "enum": ["user", "group", "room"]},
                            "userId": _STR,
                            "groupId": _STR,
                            "roomId": _STR,
                        },
                    },
                    "message": {"type": "object", "properties": {"id": _STR, "type": _STR, "text": _STR}},
                },
            },
        },
    },
}
TELEGRAM_SCHEMA = {
    "type": "object",
    "required": ["update_id"],
    "properties": {
        "update_id": {"type": "integer"},
        "message": {
            "type": "object",
            "properties": {
                "message_id": {"type": "integer"},
                "date": {"type": "integer"},
                "text": _STR,
                "chat": {"type": "object", "properties": {"id": {"type": "integer"}, "type": _STR}},
                "from": {
                    "type": "object",
                    "properties": {"id": {"type": "integer"}, "is_bot": {"type": "boolean"}, "first_name": _STR},
                },
            },
        },
        "edited_message": _OBJ,
    },
}
X_SCHEMA = {
    "type": "object",
    "required": ["for_user_id"],
    "properties": {
        "for_user_id": _STR,
        "users": _OBJ,
        "direct_message_events": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "type": _STR,
                    "id": _STR,
                    "created_timestamp": _STR,
                    "message_create": {
                        "type": "object",
                        "properties": {
                            "sender_id": _STR,
                            "target": _OBJ,
                            "message_data": {"type": "object", "properties": {"text": _STR}},
                        },
                    },
                },
            },
        },
    },
}


def build_router(webhooks: SocialWebhooks) -> APIRouter:
    router = APIRouter(prefix="/webhooks", tags=["webhooks"])

    @router.get(
        "/meta",
        summary="Meta subscription verification (hub.challenge)",
        response_class=PlainTextResponse,
        responses={
            200: {"description": "The raw hub.challenge", "content": {"text/plain": {}}},
            400: {"description": "Invalid query", "content": {"application/json": {"schema": _ERROR}}},
            403: {"description": "Wrong mode or verify token", "content": {"application/json": {"schema": _ERROR}}},
            503: {"description": "META_VERIFY_TOKEN not set", "content": {"application/json": {"schema": _ERROR}}},
        },
    )
    async def meta_verify(
        mode: Annotated[str | None, Query(alias="hub.mode", max_length=64)] = None,
        token: Annotated[str | None, Query(alias="hub.verify_token", max_length=1024)] = None,
        challenge: Annotated[str | None, Query(alias="hub.challenge", max_length=1024)] = None,
    ) -> PlainTextResponse:
        return PlainTextResponse(webhooks.meta_subscribe(mode=mode, token=token, challenge=challenge))

    @router.post(
        "/meta",
        summary="Messenger, Instagram and WhatsApp Cloud API events",
        responses=_responses(),
        openapi_extra=_body(META_SCHEMA),
    )
    async def meta(
        request: Request,
        signature: Annotated[str | None, Header(alias="X-Hub-Signature-256")] = None,
    ) -> JSONResponse:
        return JSONResponse((await webhooks.meta(await request.body(), signature)).body())

    @router.post(
        "/line", summary="LINE Messaging API webhook events", responses=_responses(), openapi_extra=_body(LINE_SCHEMA)
    )
    async def line(
        request: Request,
        signature: Annotated[str | None, Header(alias="X-Line-Signature")] = None,
    ) -> JSONResponse:
        return JSONResponse((await webhooks.line(await request.body(), signature)).body())

    @router.post(
        "/telegram", summary="Telegram Bot API Update", responses=_responses(), openapi_extra=_body(TELEGRAM_SCHEMA)
    )
    async def telegram(
        request: Request,
        token: Annotated[str | None, Header(alias="X-Telegram-Bot-Api-Secret-Token")] = None,
    ) -> JSONResponse:
        return JSONResponse((await webhooks.telegram(await request.body(), token)).body())

    @router.get(
        "/x",
        summary="X challenge-response check (crc_token)",
        responses={
            200: {
                "description": "The response token",
                "content": {"application/json": {"schema": {"type": "object", "properties": {"response_token": _STR}}}},
            },
            400: {"description": "crc_token missing", "content": {"application/json": {"schema": _ERROR}}},
            503: {"description": "X_CONSUMER_SECRET not set", "content": {"application/json": {"schema": _ERROR}}},
        },
    )
    async def x_crc(crc_token: Annotated[str, Query(min_length=1, max_length=1024)]) -> JSONResponse:
        return JSONResponse(webhooks.x_crc(crc_token))

    @router.post(
        "/x",
        summary="X Account Activity events (direct messages)",
        responses=_responses(),
        openapi_extra=_body(X_SCHEMA),
    )
    async def x(
        request: Request,
        signature: Annotated[str | None, Header(alias="x-twitter-webhooks-signature")] = None,
    ) -> JSONResponse:
        return JSONResponse((await webhooks.x(await request.body(), signature)).body())

    return router


def fast_endpoints(webhooks: SocialWebhooks) -> dict[str, Endpoint]:
    """The signed POST webhooks on the raw request, for the edge layer's fast path (`fast_route`):
    the same handler calls as the routes above, the signature header read straight from the scope."""
    handlers: dict[str, tuple[bytes, Callable[[bytes, str | None], Awaitable[DeliveryOutcome]]]] = {
        "/webhooks/meta": (b"x-hub-signature-256", webhooks.meta),
        "/webhooks/line": (b"x-line-signature", webhooks.line),
        "/webhooks/telegram": (b"x-telegram-bot-api-secret-token", webhooks.telegram),
        "/webhooks/x": (b"x-twitter-webhooks-signature", webhooks.x),
    }

    def endpoint_for(name: bytes, handle: Callable[[bytes, str | None], Awaitable[DeliveryOutcome]]) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            outcome = await handle(await request.body(), header(request.scope, name))
            return JSONResponse(outcome.body())

        return endpoint

    return {path: endpoint_for(name, handle) for path, (name, handle) in handlers.items()}
