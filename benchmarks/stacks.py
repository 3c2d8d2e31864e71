"""The applications the HTTP benchmark compares, each serving the same trivial endpoint.

Each function builds one application (uvicorn calls them as factories):

- :func:`bare`: FastAPI and nothing else;
- :func:`assembled`: the stack teams put together by hand today: asgi-correlation-id,
  prometheus-fastapi-instrumentator (with its ``/metrics`` endpoint) and a
  structlog access line written from an ``@app.middleware("http")`` function, as
  the widely copied recipes do;
- :func:`chassis`: ``create_app`` with every built-in plugin the installed
  version registers by default (so new built-ins are measured as they arrive),
  and no database: the endpoint needs none.

The endpoint is registered the same way everywhere: on an ``APIRouter`` included
in the application, which is how the chassis registers every router (one per
API version) and how FastAPI's guide structures larger applications. FastAPI
dispatches to an included route more slowly than to one declared on the
application itself (``@app.get``); keeping that equal isolates what the stacks
add. Logs go to ``sys.stderr`` as it is when the application is built, one JSON
line per request in both stacks that log.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Awaitable, Callable

import structlog
from asgi_correlation_id import CorrelationIdMiddleware, correlation_id
from fastapi import APIRouter, FastAPI, Request, Response
from prometheus_client import CollectorRegistry
from prometheus_fastapi_instrumentator import Instrumentator

from fastapi_chassis import ChassisSettings, create_app, hookimpl

PATH = "/ping"


async def ping() -> dict[str, str]:
    """The endpoint every stack serves."""
    return {"status": "ok"}


def _router() -> APIRouter:
    router = APIRouter()
    router.add_api_route(PATH, ping, methods=["GET"])
    return router


def bare() -> FastAPI:
    """FastAPI with the endpoint and nothing else."""
    app = FastAPI()
    app.include_router(_router())
    return app


def assembled() -> FastAPI:
    """The usual hand-assembled stack: correlation id, Prometheus metrics, access log."""
    app = FastAPI()
    app.include_router(_router())
    access_logger = structlog.wrap_logger(
        structlog.WriteLogger(sys.stderr),
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(),
        ],
    )

    @app.middleware("http")
    async def access_log(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(correlation_id=correlation_id.get())
        started = time.perf_counter()
        response = await call_next(request)
        access_logger.info(
            "request",
            method=request.method,
            path=request.url.path,
            status=response.status_code,
            duration_ms=round((time.perf_counter() - started) * 1000, 3),
        )
        return response

    # A registry of its own, so its metric names cannot clash with the chassis's
    # when both stacks are built in one process (it costs the same as the default).
    Instrumentator(registry=CollectorRegistry()).instrument(app).expose(app)
    # Added last, so outermost: the access log reads the id it sets.
    app.add_middleware(CorrelationIdMiddleware)
    return app


class _PingPlugin:
    name = "bench.ping"

    def __init__(self) -> None:
        self.router = _router()

    @hookimpl
    def chassis_routers(self) -> list[APIRouter]:
        return [self.router]


def chassis() -> FastAPI:
    """``create_app`` with every default built-in, JSON logs at INFO, no database."""
    # model_validate reads no environment: the stack measured is the default one.
    settings = ChassisSettings.model_validate({"service_name": "bench", "log_json": True})
    return create_app(settings, plugins=[_PingPlugin()])


STACKS: dict[str, Callable[[], FastAPI]] = {
    "bare": bare,
    "assembled": assembled,
    "chassis": chassis,
}
"""The stacks by name, in the order they are reported."""
