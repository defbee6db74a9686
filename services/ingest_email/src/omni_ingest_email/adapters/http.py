"""The webhook routes: SendGrid Inbound Parse and Mailgun routes forward."""

from __future__ import annotations

import time
from typing import Any

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from omni_ingest_email.adapters.redis_store import ReplayStoreUnavailable
from omni_ingest_email.domain import MalformedEmail
from omni_ingest_email.domain.forms import FormData, parse_form
from omni_ingest_email.domain.mailgun import parse_mailgun, signature_problem
from omni_ingest_email.domain.sendgrid import basic_auth_ok, parse_sendgrid
from omni_ingest_email.handlers import EmailIngest, TokenReused
from omni_ingest_email.settings import EmailSettings
from omni_schemas import Provider
from omni_service.http import Endpoint, error_body

log = structlog.get_logger(__name__)

_FORM_TYPES = ["multipart/form-data", "application/x-www-form-urlencoded"]


def _form_schema(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    schema = {"type": "object", "properties": properties, "required": required}
    return {
        "requestBody": {
            "required": True,
            "content": {ctype: {"schema": schema} for ctype in _FORM_TYPES},
        }
    }


_STR = {"type": "string"}
_SENDGRID_SCHEMA = _form_schema(
    {
        "headers": _STR,
        "text": _STR,
        "html": _STR,
        "from": _STR,
        "to": _STR,
        "cc": _STR,
        "subject": _STR,
        "envelope": {**_STR, "description": 'JSON: {"to": [...], "from": "..."}'},
        "charsets": {**_STR, "description": "JSON: field name to charset"},
        "attachment-info": _STR,
        "email": {**_STR, "description": "The full raw MIME message (raw mode)"},
    },
    [],
)
_MAILGUN_SCHEMA = _form_schema(
    {
        "recipient": _STR,
        "sender": _STR,
        "from": _STR,
        "subject": _STR,
        "body-plain": _STR,
        "body-html": _STR,
        "message-headers": {**_STR, "description": "JSON list of [name, value] pairs"},
        "body-mime": {**_STR, "description": "The full raw MIME message (routes ending in mime)"},
        "timestamp": _STR,
        "token": _STR,
        "signature": _STR,
    },
    ["timestamp", "token", "signature"],
)
_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "Accepted (or a redelivery of an accepted mail) and acknowledged by Kafka"},
    400: {"description": "Malformed input; the error names the field"},
    401: {"description": "Missing or wrong credentials or signature, stale or reused Mailgun token"},
    413: {"description": "Body over the size limit"},
    503: {"description": "Kafka (or the replay store) unavailable; the provider retries"},
}


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(code, message), status_code=status, headers=headers)


def build_router(*, ingest: EmailIngest, settings: EmailSettings) -> APIRouter:
    router = APIRouter(tags=["email"])

    async def read_form(request: Request, provider: Provider) -> FormData | JSONResponse:
        """The posted form; `request.state.heavy` says whether its mail is parsed off the event loop."""
        body = await request.body()
        request.state.heavy = ingest.heavy(body)
        try:
            return await ingest.parse(
                request.state.heavy, lambda: parse_form(request.headers.get("content-type", ""), body)
            )
        except MalformedEmail as exc:
            ingest.reject(provider, "malformed")
            return _error(400, "invalid_request", str(exc))

    @router.post(
        "/webhooks/email/sendgrid",
        summary="SendGrid Inbound Parse (parsed fields or raw `email`)",
        openapi_extra=_SENDGRID_SCHEMA,
        responses=_RESPONSES,
    )
    async def sendgrid(request: Request) -> JSONResponse:
        started = ingest.received(Provider.SENDGRID)
        user = settings.sendgrid_inbound_user
        if user:
            password = (
                settings.sendgrid_inbound_password.get_secret_value() if settings.sendgrid_inbound_password else ""
            )
            if not basic_auth_ok(request.headers.get("authorization"), user=user, password=password):
                ingest.reject(Provider.SENDGRID, "unauthorized")
                return _error(
                    401,
                    "unauthorized",
                    "missing or wrong basic auth credentials",
                    {"WWW-Authenticate": 'Basic realm="sendgrid-inbound-parse"'},
                )
        form = await read_form(request, Provider.SENDGRID)
        if isinstance(form, JSONResponse):
            return form
        try:
            mail = await ingest.parse(request.state.heavy, lambda: parse_sendgrid(form))
            accepted = await ingest.accept(mail, provider=Provider.SENDGRID, started=started)
        except MalformedEmail as exc:
            ingest.reject(Provider.SENDGRID, "malformed")
            return _error(400, "invalid_request", str(exc))
        return JSONResponse(accepted.body())

    @router.post(
        "/webhooks/email/mailgun",
        summary="Mailgun routes forward (form or multipart, signed with timestamp + token)",
        openapi_extra=_MAILGUN_SCHEMA,
        responses=_RESPONSES,
    )
    async def mailgun(request: Request) -> JSONResponse:
        started = ingest.received(Provider.MAILGUN)
        key = settings.mailgun_signing_key.get_secret_value() if settings.mailgun_signing_key else ""
        if not key:
            ingest.reject(Provider.MAILGUN, "not_configured")
            return _error(401, "unauthorized", "MAILGUN_SIGNING_KEY is not configured; refusing unsigned mail")
        form = await read_form(request, Provider.MAILGUN)
        if isinstance(form, JSONResponse):
            return form
        token = form.text("token")
        problem = signature_problem(
            key, timestamp=form.text("timestamp"), token=token, signature=form.text("signature"), now=time.time()
        )
        if problem:
            ingest.reject(Provider.MAILGUN, problem)
            return _error(401, "unauthorized", f"mailgun signature rejected: {problem}")
        assert token is not None
        try:
            mail = await ingest.parse(request.state.heavy, lambda: parse_mailgun(form))
        except MalformedEmail as exc:
            ingest.reject(Provider.MAILGUN, "malformed")
            return _error(400, "invalid_request", str(exc))
        try:
            accepted = await ingest.accept(mail, provider=Provider.MAILGUN, started=started, token=token)
        except MalformedEmail as exc:
            ingest.reject(Provider.MAILGUN, "malformed")
            return _error(400, "invalid_request", str(exc))
        except TokenReused:
            ingest.reject(Provider.MAILGUN, "token_reused")
            return _error(401, "unauthorized", "mailgun signature rejected: token_reused")
        except ReplayStoreUnavailable as exc:
            ingest.reject(Provider.MAILGUN, "redis_unavailable")
            return _error(503, "unavailable", f"replay store unavailable, retry later: {exc}", {"Retry-After": "5"})
        return JSONResponse(accepted.body())

    return router


def fast_endpoints(router: APIRouter) -> dict[str, Endpoint]:
    """The two webhook routes (they take the raw request) for the edge layer's fast path (`fast_route`)."""
    return {
        route.path: route.endpoint
        for route in router.routes
        if isinstance(route, APIRoute) and route.path.startswith("/webhooks/email/") and "POST" in (route.methods or ())
    }
