from __future__ import annotations

import re
import uuid

import pytest
import structlog
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from fastapi_chassis import hookimpl
from fastapi_chassis.api import CorrelationIdMiddleware, correlation_id
from fastapi_chassis.api.correlation import parse_traceparent
from fastapi_chassis.context import current_context
from tests.api.conftest import AppFactory, running

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


class Echo:
    name = "test.echo"

    def __init__(self) -> None:
        self.router = APIRouter()

        @self.router.get("/whoami")
        async def whoami() -> dict[str, str | None]:
            context = current_context()
            return {"correlation_id": correlation_id(), "trace_id": context.trace_id}

        @self.router.get("/fail")
        async def fail() -> None:
            raise LookupError("not a chassis error")

        @self.router.get("/structlog")
        async def bound_in_structlog() -> dict[str, object]:
            return dict(structlog.contextvars.get_contextvars())

    @hookimpl
    def chassis_routers(self, version: str) -> list[APIRouter]:
        return [self.router] if version == "1" else []


class Teapot(Exception):
    pass


@pytest.mark.asyncio
async def test_an_incoming_id_is_kept_bound_and_echoed(make_app: AppFactory) -> None:
    async with running(make_app([Echo()])) as client:
        response = await client.get("/whoami", headers={"X-Correlation-ID": "order-123_abc"})
    assert response.headers["x-correlation-id"] == "order-123_abc"
    assert response.json()["correlation_id"] == "order-123_abc"


@pytest.mark.asyncio
async def test_x_request_id_is_accepted_when_the_main_header_is_absent(
    make_app: AppFactory,
) -> None:
    async with running(make_app([Echo()])) as client:
        response = await client.get("/whoami", headers={"X-Request-ID": "from-nginx"})
        both = await client.get(
            "/whoami", headers={"X-Request-ID": "from-nginx", "X-Correlation-ID": "wins"}
        )
    assert response.headers["x-correlation-id"] == "from-nginx"
    assert both.headers["x-correlation-id"] == "wins"


@pytest.mark.asyncio
async def test_a_missing_id_becomes_a_fresh_uuid7(make_app: AppFactory) -> None:
    async with running(make_app([Echo()])) as client:
        first = await client.get("/whoami")
        second = await client.get("/whoami")
    ids = [first.headers["x-correlation-id"], second.headers["x-correlation-id"]]
    assert ids[0] != ids[1]
    assert all(uuid.UUID(value).version == 7 for value in ids)
    assert first.json()["correlation_id"] == ids[0]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "hostile",
    [
        b"a" * 129,
        b"line\r\nX-Injected: yes",
        b"semi;colon",
        b"spaces are bad",
        b"caf\xc3\xa9",
        b"\x00\x01",
        b"<script>",
        b"",
    ],
)
async def test_unsafe_ids_are_replaced_not_echoed(make_app: AppFactory, hostile: bytes) -> None:
    app = make_app([Echo()])
    # Send raw header bytes through the ASGI scope: httpx refuses to send some of them.
    sent: list[dict[str, object]] = []
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/whoami",
        "raw_path": b"/whoami",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver"), (b"x-correlation-id", hostile)],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
        "state": {},
    }

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    async with running(app):
        await app(scope, receive, send)  # type: ignore[arg-type]
    start = sent[0]
    assert start["status"] == 200
    echoed = dict(start["headers"])[b"x-correlation-id"]  # type: ignore[call-overload]
    assert echoed != hostile
    assert uuid.UUID(echoed.decode()).version == 7


@pytest.mark.asyncio
async def test_the_id_is_on_unhandled_500s_and_readable_in_exception_handlers(
    make_app: AppFactory,
) -> None:
    app = make_app([Echo()])
    seen_in_handler: list[str | None] = []

    async def teapot(request: Request, error: Exception) -> JSONResponse:
        seen_in_handler.append(correlation_id())
        return JSONResponse({"teapot": True}, status_code=418)

    app.add_exception_handler(Teapot, teapot)

    @app.get("/teapot")
    async def brew() -> None:
        raise Teapot

    async with running(app) as client:
        crashed = await client.get("/fail", headers={"X-Correlation-ID": "crash-1"})
        handled = await client.get("/teapot", headers={"X-Correlation-ID": "tea-1"})
        missing = await client.get("/nope", headers={"X-Correlation-ID": "lost-1"})
    assert crashed.status_code == 500
    assert crashed.headers["x-correlation-id"] == "crash-1"
    assert crashed.json()["correlation_id"] == "crash-1"
    assert handled.status_code == 418
    assert handled.headers["x-correlation-id"] == "tea-1"
    assert seen_in_handler == ["tea-1"]
    assert missing.headers["x-correlation-id"] == "lost-1"
    assert missing.json()["correlation_id"] == "lost-1"


@pytest.mark.asyncio
async def test_traceparent_trace_id_is_kept(make_app: AppFactory) -> None:
    async with running(make_app([Echo()])) as client:
        traced = await client.get("/whoami", headers={"traceparent": TRACEPARENT})
        broken = await client.get("/whoami", headers={"traceparent": "00-nothex-zz-01"})
    assert traced.json()["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert broken.json()["trace_id"] is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # pragma: allowlist nextline secret
        (TRACEPARENT, "4bf92f3577b34da6a3ce929d0e0e4736"),
        ("00-00000000000000000000000000000000-00f067aa0ba902b7-01", None),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", None),
        ("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", None),
        ("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", None),
        ("garbage", None),
    ],
)
def test_parse_traceparent(value: str, expected: str | None) -> None:
    assert parse_traceparent(value) == expected


@pytest.mark.asyncio
async def test_the_middleware_works_on_a_plain_fastapi_app() -> None:
    import httpx

    app = FastAPI()
    app.add_middleware(CorrelationIdMiddleware, header_name="X-Trace-Token", max_length=8)

    @app.get("/")
    async def index() -> dict[str, str | None]:
        return {"id": correlation_id()}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        kept = await client.get("/", headers={"X-Trace-Token": "short"})
        replaced = await client.get("/", headers={"X-Trace-Token": "far-too-long"})
    assert kept.headers["x-trace-token"] == "short"
    assert kept.json() == {"id": "short"}
    assert re.fullmatch(r"[0-9a-f-]{36}", replaced.headers["x-trace-token"])


def test_max_length_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        CorrelationIdMiddleware(FastAPI(), max_length=0)


@pytest.mark.asyncio
async def test_the_ids_are_bound_in_structlog_for_the_request_only(make_app: AppFactory) -> None:
    structlog.contextvars.clear_contextvars()
    async with running(make_app([Echo()])) as client:
        plain = await client.get("/structlog", headers={"X-Correlation-ID": "c-1"})
        traced = await client.get("/structlog", headers={"traceparent": TRACEPARENT})
    assert plain.json() == {"correlation_id": "c-1"}
    assert traced.json() == {
        "correlation_id": traced.headers["x-correlation-id"],
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
    }
    assert structlog.contextvars.get_contextvars() == {}
