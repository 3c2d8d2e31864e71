from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fastapi import APIRouter, Request

from fastapi_chassis import hookimpl
from tests.api.conftest import AppFactory, running


class Upload:
    name = "test.upload"

    def __init__(self) -> None:
        self.received: list[int] = []
        self.router = APIRouter()

        @self.router.post("/upload")
        async def upload(request: Request) -> dict[str, int]:
            body = await request.body()
            self.received.append(len(body))
            return {"size": len(body)}

    @hookimpl
    def chassis_routers(self, version: str) -> list[APIRouter]:
        return [self.router] if version == "1" else []


async def _chunks(total: int, size: int = 1024) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        chunk = min(size, total - sent)
        sent += chunk
        yield b"x" * chunk


@pytest.mark.asyncio
async def test_bodies_up_to_the_limit_pass(make_app: AppFactory) -> None:
    plugin = Upload()
    async with running(make_app([plugin], max_request_body_bytes=4096)) as client:
        response = await client.post("/upload", content=b"x" * 4096)
    assert response.json() == {"size": 4096}


@pytest.mark.asyncio
async def test_a_declared_length_over_the_limit_is_refused_before_the_app_runs(
    make_app: AppFactory,
) -> None:
    plugin = Upload()
    async with running(make_app([plugin], max_request_body_bytes=4096)) as client:
        response = await client.post("/upload", content=b"x" * 4097)
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["max_body_bytes"] == 4096
    assert plugin.received == []


@pytest.mark.asyncio
async def test_a_chunked_stream_over_the_limit_is_cut_off(make_app: AppFactory) -> None:
    plugin = Upload()
    async with running(make_app([plugin], max_request_body_bytes=4096)) as client:
        response = await client.post("/upload", content=_chunks(100_000))
        within = await client.post("/upload", content=_chunks(3000))
    assert response.status_code == 413
    assert response.json()["type"].endswith("/payload-too-large")
    assert within.json() == {"size": 3000}
    # The endpoint never saw the oversized body.
    assert plugin.received == [3000]


@pytest.mark.asyncio
async def test_a_malformed_content_length_is_a_400(make_app: AppFactory) -> None:
    app = make_app([Upload()], max_request_body_bytes=4096)
    messages: list[dict[str, object]] = []
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/upload",
        "raw_path": b"/upload",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"t"), (b"content-length", b"12abc")],
        "client": ("127.0.0.1", 1),
        "server": ("t", 80),
        "state": {},
    }

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        messages.append(message)

    async with running(app):
        await app(scope, receive, send)  # type: ignore[arg-type]
    assert messages[0]["status"] == 400


@pytest.mark.asyncio
async def test_a_zero_limit_turns_the_check_off(make_app: AppFactory) -> None:
    async with running(make_app([Upload()], max_request_body_bytes=0)) as client:
        response = await client.post("/upload", content=b"x" * 2_000_000)
    assert response.json() == {"size": 2_000_000}
