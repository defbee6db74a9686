"""The HTTP face of every service: health, readiness, metrics, OpenAPI and JSON errors."""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from omni_service.kafka import KafkaUnavailable
from omni_service.metrics import ServiceMetrics

log = structlog.get_logger(__name__)

ReadyCheck = Callable[[], Awaitable[bool] | bool]


class ApiError(Exception):
    """An error with a precise status, a stable machine code and a human message."""

    def __init__(self, status: int, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


def error_body(code: str, message: str, **details: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if details:
        body["details"] = details
    return {"error": body}


class BodyTooLarge(Exception):
    pass


@dataclass(slots=True)
class BodyLimits:
    """Request body limits: `default`, per exact path and per path prefix (the first that matches).

    `on_oversize(path)` is told of every 413 answered on a path (a service counts them as rejections).
    A service tunes them after `create_http_app` through `app.state.body_limits`.
    """

    default: int
    paths: dict[str, int] = field(default_factory=dict)
    prefixes: dict[str, int] = field(default_factory=dict)
    on_oversize: Callable[[str], None] | None = None

    def limit_for(self, path: str) -> int:
        limit = self.paths.get(path)
        if limit is not None:
            return limit
        for prefix, value in self.prefixes.items():
            if path.startswith(prefix):
                return value
        return self.default


Endpoint = Callable[[Request], Awaitable[Response | None]]
"""A fast-path endpoint; None declines the request to the app's own (FastAPI) route."""


@dataclass(slots=True)
class _FastRoute:
    path: str
    """The route's path as FastAPI declares it (the metrics label), e.g. `/v1/x/{id}/y`."""
    endpoint: Endpoint
    prefix: str
    suffix: str


class FastRoutes:
    """The endpoints the edge layer serves itself: exact paths, and templates with one `{param}` part."""

    def __init__(self) -> None:
        self.exact: dict[tuple[str, str], _FastRoute] = {}
        self.templated: list[tuple[str, _FastRoute]] = []

    def add(self, method: str, path: str, endpoint: Endpoint) -> None:
        if "{" in path:
            prefix, suffix = path[: path.index("{")], path[path.rindex("}") + 1 :]
            self.templated.append((method.upper(), _FastRoute(path, endpoint, prefix, suffix)))
        else:
            self.exact[(method.upper(), path)] = _FastRoute(path, endpoint, path, "")

    def match(self, method: str, path: str) -> _FastRoute | None:
        route = self.exact.get((method, path))
        if route is None:
            for wanted, candidate in self.templated:
                if (
                    wanted == method
                    and path.startswith(candidate.prefix)
                    and path.endswith(candidate.suffix)
                    and len(path) > len(candidate.prefix) + len(candidate.suffix)
                ):
                    return candidate
        return route

    def __bool__(self) -> bool:
        return bool(self.exact or self.templated)


class HttpEdgeMiddleware:
    """One pure ASGI layer for every request: request metrics, and 413 (JSON) for a body over its limit,
    by Content-Length or by counting a streamed body.

    It also serves the hot webhook endpoints registered with `fast_route`: the same endpoint code,
    called with a Starlette `Request`, its exceptions answered by the app's own exception handlers,
    but without FastAPI's per-request routing and dependency machinery.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: ServiceMetrics,
        limits: BodyLimits,
        fast_routes: FastRoutes | None = None,
        exception_handlers: Mapping[Any, Callable[..., Any]] | None = None,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.limits = limits
        self.fast_routes = fast_routes if fast_routes is not None else FastRoutes()
        self.exception_handlers = exception_handlers if exception_handlers is not None else {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        path = scope.get("path", "")
        limit = self.limits.limit_for(path)
        status = 500
        response_started = False
        try:
            for name, value in scope.get("headers", ()):
                if name == b"content-length":
                    try:
                        too_big = int(value) > limit
                    except ValueError:
                        too_big = False
                    if too_big:
                        status = 413
                        await _send_json(send, 413, error_body("payload_too_large", f"body over {limit} bytes"))
                        return
            seen = 0

            async def counting_receive() -> Message:
                nonlocal seen
                message = await receive()
                if message["type"] == "http.request":
                    seen += len(message.get("body", b""))
                    if seen > limit:
                        raise BodyTooLarge
                return message

            async def tracking_send(message: Message) -> None:
                nonlocal status, response_started
                if message["type"] == "http.response.start":
                    status = message["status"]
                    response_started = True
                await send(message)

            try:
                fast = self.fast_routes.match(scope.get("method", "GET"), path) if self.fast_routes else None
                if fast is not None:
                    scope["route"] = fast
                    await self._serve_fast(fast, scope, counting_receive, tracking_send)
                else:
                    await self.app(scope, counting_receive, tracking_send)
            except BodyTooLarge:
                if not response_started:
                    status = 413
                    await _send_json(send, 413, error_body("payload_too_large", f"body over {limit} bytes"))
        finally:
            if status == 413 and self.limits.on_oversize is not None:
                self.limits.on_oversize(path)
            route = scope.get("route")
            self._observe(scope.get("method", "GET"), getattr(route, "path", None) or "unmatched", status, started)

    async def _serve_fast(self, route: _FastRoute, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            response = await route.endpoint(request)
        except BodyTooLarge:
            raise
        except Exception as exc:
            handler = self._handler_for(exc)
            if handler is None:
                raise
            response = await handler(request, exc)
        if response is None:  # declined: the app's own route answers, with the body replayed
            body = await request.body()
            del scope["route"]
            replayed = False

            async def replay() -> Message:
                nonlocal replayed
                if replayed:
                    return await receive()
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}

            await self.app(scope, replay, send)
            return
        await response(scope, receive, send)

    def _handler_for(self, exc: Exception) -> Callable[..., Any] | None:
        """The app's handler for `exc`, looked up as Starlette's ExceptionMiddleware does."""
        if isinstance(exc, StarletteHTTPException) and exc.status_code in self.exception_handlers:
            return self.exception_handlers[exc.status_code]
        for cls in type(exc).__mro__:
            if cls in self.exception_handlers:
                return self.exception_handlers[cls]
        return None

    def _observe(self, method: str, route: str, status: int, started: float) -> None:
        metrics, service = self.metrics, self.metrics.service
        metrics.child(metrics.http_requests, service, method, route, str(status)).inc()
        metrics.child(metrics.http_seconds, service, method, route).observe(time.perf_counter() - started)


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    import orjson

    payload = orjson.dumps(body)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def create_http_app(
    *,
    service: str,
    metrics: ServiceMetrics,
    ready_checks: Mapping[str, ReadyCheck],
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]] | None = None,
    description: str = "",
    version: str = "0.1.0",
    max_body_bytes: int = 1024 * 1024,
) -> FastAPI:
    """A FastAPI app with `/healthz`, `/readyz`, `/metrics` and JSON errors; add routes to it.

    Bodies over `max_body_bytes` are answered 413; per-path limits go in `app.state.body_limits`.
    """
    app = FastAPI(title=f"omni {service}", description=description, version=version, lifespan=lifespan)
    app.state.metrics = metrics

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message, **exc.details), status_code=exc.status)

    @app.exception_handler(KafkaUnavailable)
    async def _kafka_down(_: Request, exc: KafkaUnavailable) -> JSONResponse:
        return JSONResponse(
            error_body("kafka_unavailable", f"not accepted, retry later: {exc}"),
            status_code=503,
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {"field": ".".join(str(p) for p in e.get("loc", ()) if p != "body"), "message": e.get("msg", "")}
            for e in exc.errors()[:10]
        ]
        message = "; ".join(f"{p['field'] or '<body>'}: {p['message']}" for p in problems)
        return JSONResponse(error_body("invalid_request", message, problems=problems), status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {
            401: "unauthorized",
            403: "forbidden",
            404: "not_found",
            405: "method_not_allowed",
            400: "invalid_request",
            409: "conflict",
            413: "payload_too_large",
            415: "unsupported_media_type",
        }.get(exc.status_code, "error")
        return JSONResponse(
            error_body(code, str(exc.detail)), status_code=exc.status_code, headers=getattr(exc, "headers", None)
        )

    @app.get("/healthz", tags=["health"], summary="Alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": service}

    @app.get(
        "/readyz",
        tags=["health"],
        summary="Ready: every dependency reachable",
        responses={503: {"description": "A dependency is not reachable"}},
    )
    async def readyz() -> JSONResponse:
        results: dict[str, bool] = {}
        for name, check in ready_checks.items():
            try:
                outcome = check()
                if asyncio.iscoroutine(outcome) or isinstance(outcome, Awaitable):
                    outcome = await asyncio.wait_for(outcome, 3.0)
                results[name] = bool(outcome)
            except Exception as exc:
                log.info("readiness check failed", check=name, error=str(exc))
                results[name] = False
        ok = all(results.values())
        metrics.ready.labels(service).set(1 if ok else 0)
        return JSONResponse(
            {"status": "ready" if ok else "not_ready", "checks": results}, status_code=200 if ok else 503
        )

    @app.get("/metrics", tags=["health"], summary="Prometheus metrics", response_class=PlainTextResponse)
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.openapi = functools.partial(_openapi_with_400s, app, app.openapi)  # type: ignore[method-assign]
    app.state.body_limits = BodyLimits(default=max_body_bytes)
    app.state.fast_routes = FastRoutes()
    app.add_middleware(
        HttpEdgeMiddleware,
        metrics=metrics,
        limits=app.state.body_limits,
        fast_routes=app.state.fast_routes,
        exception_handlers=app.exception_handlers,
    )
    return app


ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "stable machine code, e.g. invalid_request"},
                "message": {"type": "string", "description": "what is wrong, for a human"},
                "details": {"type": "object", "description": "e.g. the field, or `problems`: [{field, message}]"},
            },
        }
    },
}


def _openapi_with_400s(app: FastAPI, generate: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """FastAPI's document, with the 400 this service answers for an invalid request in place of
    FastAPI's default 422 (which it never answers), described by the JSON error body."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    document = generate()
    invalid = {
        "description": "Invalid request: the JSON error body names each problem (`details.problems`)",
        "content": {"application/json": {"schema": ERROR_SCHEMA}},
    }
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.get("responses") if isinstance(operation, dict) else None
            if responses and responses.pop("422", None) is not None:
                responses.setdefault("400", invalid)
    schemas = document.get("components", {}).get("schemas", {})
    if "HTTPValidationError" in schemas and '"#/components/schemas/HTTPValidationError"' not in json.dumps(
        document["paths"]
    ):
        schemas.pop("HTTPValidationError")
        schemas.pop("ValidationError", None)
    app.openapi_schema = document
    return document


def fast_route(app: FastAPI, method: str, path: str, endpoint: Endpoint) -> None:
    """Serve `method path` (also declared as a FastAPI route, for OpenAPI) by `endpoint` straight
    from the edge layer: same body limits, metrics and exception handlers, less overhead.

    `path` is exact, or a template with one `{param}` part (the endpoint reads it from the path).
    FastAPI's own parameter validation does not run: the endpoint takes the raw request (webhooks
    verify the exact bytes), or validates itself and returns None to let the FastAPI route answer
    anything it does not handle (so error answers stay FastAPI's).
    """
    routes: FastRoutes = app.state.fast_routes
    routes.add(method, path, endpoint)


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of a request header (`name` in lower case), straight from the ASGI scope.

    Cheaper than `request.headers.get` on the hot path, above all for a header that is absent.
    """
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def bearer_token_checker(token: str) -> Callable[[Request], Awaitable[None]]:
    """A FastAPI dependency that demands `Authorization: Bearer <token>` (constant-time)."""
    import hmac

    expected = token.encode()

    async def check(request: Request) -> None:
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), expected):
            raise ApiError(401, "unauthorized", "missing or wrong bearer token")

    return check
