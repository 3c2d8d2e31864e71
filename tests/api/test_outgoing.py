"""Outgoing calls carry the request's correlation id and trace to a real HTTP server."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Annotated

import httpx
import pytest
import pytest_asyncio
import uvicorn
from fastapi import APIRouter, BackgroundTasks, Depends, FastAPI, Request
from starlette.types import Receive, Scope, Send

from fastapi_chassis import ChassisSettings, create_app, hookimpl
from fastapi_chassis.api.outgoing import (
    AsyncContextTransport,
    ContextTransport,
    create_http_client,
    outgoing_headers,
)
from fastapi_chassis.context import request_context
from tests.api.conftest import running

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


@dataclass
class Downstream:
    """A service on a real socket that remembers the headers of every request."""

    url: str = ""
    seen: list[dict[str, str]] = field(default_factory=list)

    async def __call__(self, scope: Scope, _receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        headers = {name.decode(): value.decode() for name, value in scope["headers"]}
        headers["path"] = scope["path"]
        self.seen.append(headers)
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    def last(self, path: str) -> dict[str, str]:
        return [headers for headers in self.seen if headers["path"] == path][-1]


@pytest.fixture(scope="module")
def downstream() -> Iterator[Downstream]:
    service = Downstream()
    config = uvicorn.Config(
        service, host="127.0.0.1", port=0, lifespan="off", ws="none", log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="downstream", daemon=True)
    thread.start()
    for _ in range(500):
        if server.started:
            break
        threading.Event().wait(0.01)
    assert server.started, "the downstream server did not start"
    host, port = server.servers[0].sockets[0].getsockname()[:2]
    service.url = f"http://{host}:{port}"
    yield service
    server.should_exit = True
    thread.join(timeout=10)


def _child_of(traceparent: str, *, trace_id: str, flags: str) -> str:
    """Check that ``traceparent`` continues the trace; return its parent span id."""
    match = _TRACEPARENT.match(traceparent)
    assert match is not None, traceparent
    assert match.group(1) == trace_id
    assert match.group(3) == flags
    assert match.group(2) != "0" * 16
    return match.group(2)


def _downstream_client(request: Request) -> httpx.AsyncClient:
    client: httpx.AsyncClient = request.app.state.downstream
    return client


Downstream_ = Annotated[httpx.AsyncClient, Depends(_downstream_client)]


class Caller:
    """A plugin whose endpoints call the downstream service in every way a request can."""

    name = "test.caller"

    def __init__(self, downstream: Downstream) -> None:
        self.url = downstream.url
        self.tasks: list[asyncio.Task[httpx.Response]] = []
        self.router = APIRouter()
        router = self.router

        @router.get("/call")
        async def call(service: Downstream_) -> None:
            await service.get("/first")
            await service.get("/second")

        @router.get("/explicit")
        async def explicit(service: Downstream_) -> None:
            await service.get("/explicit", headers={"X-Correlation-ID": "chosen-by-caller"})

        @router.get("/later")
        async def later(background: BackgroundTasks, service: Downstream_) -> None:
            background.add_task(service.get, "/from-background-task")

            async def after_the_response() -> httpx.Response:
                await asyncio.sleep(0.05)  # the request is over by then
                return await service.get("/from-created-task")

            self.tasks.append(asyncio.create_task(after_the_response()))

        @router.get("/slow/{name}")
        async def slow(name: str, service: Downstream_) -> None:
            await asyncio.sleep(0.02)
            await service.get(f"/slow-{name}")

        @router.get("/sync")
        def sync() -> None:
            with httpx.Client(base_url=self.url, transport=ContextTransport()) as client:
                client.get("/from-sync-endpoint")

    @hookimpl
    def chassis_routers(self) -> list[APIRouter]:
        return [self.router]

    @hookimpl
    def chassis_startup(self, app: FastAPI) -> None:
        app.state.downstream = create_http_client(base_url=self.url)

    @hookimpl
    async def chassis_shutdown(self, app: FastAPI) -> None:
        await app.state.downstream.aclose()


@pytest_asyncio.fixture
async def caller(downstream: Downstream) -> AsyncIterator[tuple[httpx.AsyncClient, Caller]]:
    plugin = Caller(downstream)
    app = create_app(ChassisSettings.model_validate({"log_configure": False}), plugins=[plugin])
    async with running(app) as client:
        yield client, plugin


@pytest.mark.asyncio
async def test_calls_carry_the_correlation_id_and_continue_the_incoming_trace(
    caller: tuple[httpx.AsyncClient, Caller], downstream: Downstream
) -> None:
    client, _ = caller

    await client.get(
        "/call",
        headers={"X-Correlation-ID": "order-9", "traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"},
    )

    first, second = downstream.last("/first"), downstream.last("/second")
    assert first["x-correlation-id"] == second["x-correlation-id"] == "order-9"
    hops = {
        _child_of(first["traceparent"], trace_id=TRACE_ID, flags="01"),
        _child_of(second["traceparent"], trace_id=TRACE_ID, flags="01"),
    }
    # Each call is a new hop: neither reuses the caller's parent id or each other's.
    assert len(hops) == 2
    assert PARENT_ID not in hops


@pytest.mark.asyncio
async def test_the_trace_flags_are_passed_on_unchanged(
    caller: tuple[httpx.AsyncClient, Caller], downstream: Downstream
) -> None:
    client, _ = caller

    await client.get("/call", headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-00"})

    _child_of(downstream.last("/first")["traceparent"], trace_id=TRACE_ID, flags="00")


@pytest.mark.asyncio
async def test_without_an_incoming_trace_only_the_generated_correlation_id_goes_out(
    caller: tuple[httpx.AsyncClient, Caller], downstream: Downstream
) -> None:
    client, _ = caller

    response = await client.get("/call", headers={"traceparent": "00-garbage"})

    sent = downstream.last("/first")
    assert sent["x-correlation-id"] == response.headers["x-correlation-id"]
    assert "traceparent" not in sent


@pytest.mark.asyncio
async def test_headers_the_caller_set_are_left_alone(
    caller: tuple[httpx.AsyncClient, Caller], downstream: Downstream
) -> None:
    client, _ = caller

    await client.get("/explicit", headers={"X-Correlation-ID": "from-the-request"})

    assert downstream.last("/explicit")["x-correlation-id"] == "chosen-by-caller"


@pytest.mark.asyncio
async def test_background_tasks_and_created_tasks_keep_the_request_context(
    caller: tuple[httpx.AsyncClient, Caller], downstream: Downstream
) -> None:
    client, plugin = caller

    response = await client.get(
        "/later",
        headers={"X-Correlation-ID": "order-10", "traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"},
    )
    await asyncio.wait_for(asyncio.gather(*plugin.tasks), timeout=5)

    assert response.status_code == 200
    for path in ("/from-background-task", "/from-created-task"):
        sent = downstream.last(path)
        assert sent["x-correlation-id"] == "order-10", path
        _child_of(sent["traceparent"], trace_id=TRACE_ID, flags="01")


@pytest.mark.asyncio
async def test_concurrent_requests_each_pass_on_their_own_context(
    caller: tuple[httpx.AsyncClient, Caller], downstream: Downstream
) -> None:
    client, _ = caller

    await asyncio.gather(
        *(client.get(f"/slow/{name}", headers={"X-Correlation-ID": name}) for name in "abcdef")
    )

    for name in "abcdef":
        assert downstream.last(f"/slow-{name}")["x-correlation-id"] == name


@pytest.mark.asyncio
async def test_synchronous_endpoints_pass_the_context_on_from_their_worker_thread(
    caller: tuple[httpx.AsyncClient, Caller], downstream: Downstream
) -> None:
    client, _ = caller

    await client.get("/sync", headers={"X-Correlation-ID": "in-a-thread"})

    assert downstream.last("/from-sync-endpoint")["x-correlation-id"] == "in-a-thread"


@pytest.mark.asyncio
async def test_outside_a_request_nothing_is_added(downstream: Downstream) -> None:
    async with httpx.AsyncClient(transport=AsyncContextTransport()) as client:
        await client.get(f"{downstream.url}/no-context")

    sent = downstream.last("/no-context")
    assert "x-correlation-id" not in sent
    assert "traceparent" not in sent


def test_jobs_pass_on_the_context_they_run_in() -> None:
    traceparent = f"00-{TRACE_ID}-{PARENT_ID}-01"

    with request_context(correlation_id="nightly-import", traceparent=traceparent):
        headers = outgoing_headers()
    with request_context(correlation_id="job", traceparent="01-not-a-traceparent"):
        invalid = outgoing_headers()

    assert headers["X-Correlation-ID"] == "nightly-import"
    _child_of(headers["traceparent"], trace_id=TRACE_ID, flags="01")
    assert invalid == {"X-Correlation-ID": "job"}
    assert outgoing_headers() == {}
