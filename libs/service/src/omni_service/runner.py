"""The one start-up path: `python -m omni_<service>` calls `main(create_app, Settings)`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import uvicorn
from fastapi import FastAPI

from omni_service.logs import configure_logging
from omni_service.settings import ServiceSettings

S = TypeVar("S", bound=ServiceSettings)


def main(create_app: Callable[[S], FastAPI], settings_cls: type[S]) -> None:
    """Read settings, set up logging, serve HTTP; SIGTERM drains in-flight work and commits offsets."""
    settings = settings_cls()
    configure_logging(service=settings.service_name, level=settings.log_level, fmt=settings.log_format)
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.http_host,
        port=settings.http_port,
        lifespan="on",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=15,
        loop="uvloop",
        http="httptools",
    )
    uvicorn.Server(config).run()  # run(), not asyncio.run(serve()): it installs uvloop
