"""The Server-Timing layer the shop adds to the chassis's middleware."""

import re
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi_chassis.testing import CommittedDatabase
from starlette.types import Message, Receive, Scope, Send

from shop.middleware import ServerTimingMiddleware

pytestmark = pytest.mark.asyncio

TIMING = re.compile(r'^db;dur=(\d+\.\d);desc="(\d+) queries", app;dur=(\d+\.\d)$')


async def test_responses_carry_the_requests_database_time(
    committed_db: CommittedDatabase,
    client: httpx.AsyncClient,
    new_product: Callable[..., Awaitable[dict[str, Any]]],
) -> None:
    # Committing for real, requests use the shop's own engine, whose statements
    # the chassis times.
    product = await new_product(client)
    response = await client.get(f"/products/{product['id']}")
    match = TIMING.match(response.headers["Server-Timing"])
    assert match is not None, response.headers["Server-Timing"]
    db_ms, queries, app_ms = float(match[1]), int(match[2]), float(match[3])
    assert queries >= 1
    assert 0 < db_ms <= app_ms


async def test_problem_responses_are_timed_too(client: httpx.AsyncClient) -> None:
    response = await client.get("/products/not-a-uuid")
    assert response.status_code == 422
    assert TIMING.match(response.headers["Server-Timing"])


async def test_other_scopes_pass_through_untouched() -> None:
    seen: list[str] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])

    async def receive() -> Message:
        return {"type": "lifespan.startup"}

    async def send(message: Message) -> None:
        raise AssertionError(message)

    await ServerTimingMiddleware(inner)({"type": "lifespan"}, receive, send)
    assert seen == ["lifespan"]
