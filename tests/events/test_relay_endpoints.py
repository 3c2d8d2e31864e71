"""The stand-alone relay's HTTP endpoints, served on a real port and read over TCP."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from uuid import uuid4

import httpx
import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fastapi_chassis.db import uuid7
from fastapi_chassis.events import OutboxRelay, RelayEndpoints, record_event
from fastapi_chassis.events.metrics import RelayMetrics
from fastapi_chassis.events.publishers import InMemoryPublisher
from tests.events.events import OrderPlaced

pytestmark = pytest.mark.asyncio

HEALTH = "application/health+json"


@pytest_asyncio.fixture
async def relay(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[OutboxRelay]:
    # The endpoints show the global registry, where a relay's metrics go by
    # default; a name of its own keeps this test's series apart.
    relay = OutboxRelay(
        sessionmaker,
        [InMemoryPublisher()],
        name=f"endpoints-{uuid4().hex[:8]}",
        listen=False,
        metrics=RelayMetrics.default(),
    )
    async with relay:
        yield relay


@pytest_asyncio.fixture
async def endpoints(relay: OutboxRelay) -> AsyncIterator[RelayEndpoints]:
    async with RelayEndpoints(relay, port=0) as endpoints:
        yield endpoints


@pytest_asyncio.fixture
async def client(endpoints: RelayEndpoints) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{endpoints.port}") as client:
        yield client


async def raw(endpoints: RelayEndpoints, request: bytes) -> bytes:
    """Send ``request`` as it is, then end the stream; return everything the server answers."""
    reader, writer = await asyncio.open_connection("127.0.0.1", endpoints.port)
    writer.write(request)
    writer.write_eof()
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    await writer.wait_closed()
    return answer


async def test_liveness_and_readiness_follow_the_relay(
    relay: OutboxRelay, client: httpx.AsyncClient
) -> None:
    live = await client.get("/health/live")
    ready = await client.get("/health/ready")
    assert (live.status_code, live.headers["content-type"]) == (200, HEALTH)
    assert (ready.status_code, ready.json()["status"]) == (200, "pass")

    relay.request_stop()

    stopping = await client.get("/health/ready")
    assert (stopping.status_code, stopping.headers["content-type"]) == (503, HEALTH)
    assert stopping.json() == {"status": "fail", "description": f"relay {relay.name} is stopping"}
    assert (await client.get("/health/live")).status_code == 200


async def test_metrics_show_what_the_relay_published(
    relay: OutboxRelay,
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as session:
        for total in (1, 2, 3):
            await record_event(session, OrderPlaced(aggregate_id=uuid7(), total_cents=total))
        await session.commit()
    assert await relay.run_once() == 3

    text = await client.get("/metrics")
    openmetrics = await client.get(
        "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
    )

    assert text.status_code == 200
    assert text.headers["content-type"].startswith("text/plain")
    labels = f'aggregate_type="shop.order",relay="{relay.name}"'
    series = f"chassis_outbox_published_total{{{labels}}} 3.0"
    assert series in text.text
    assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")
    assert openmetrics.text.endswith("# EOF\n")


async def test_head_answers_without_a_body(endpoints: RelayEndpoints) -> None:
    answer = await raw(endpoints, b"HEAD /health/live HTTP/1.1\r\nHost: relay\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"Content-Length: " in head
    assert body == b""


@pytest.mark.parametrize(
    ("request_bytes", "status_line"),
    [
        (b"GET /nowhere HTTP/1.1\r\n\r\n", b"HTTP/1.1 404 Not Found"),
        (b"POST /metrics HTTP/1.1\r\n\r\n", b"HTTP/1.1 405 Method Not Allowed"),
        (b"GET /metrics\r\n\r\n", b"HTTP/1.1 400 Bad Request"),
        (b"\x16\x03\x01\x02\x00\x01\x00\r\n\r\n", b"HTTP/1.1 400 Bad Request"),
        (b"GET /metrics SPDY/3\r\n\r\n", b"HTTP/1.1 400 Bad Request"),
        (
            b"GET /metrics HTTP/1.1\r\nX-Filler: " + b"a" * 10_000 + b"\r\n\r\n",
            b"HTTP/1.1 431 Request Header Fields Too Large",
        ),
    ],
    ids=["unknown path", "other method", "no version", "tls", "other protocol", "huge head"],
)
async def test_bad_requests_get_a_clean_answer_and_the_server_keeps_serving(
    endpoints: RelayEndpoints, client: httpx.AsyncClient, request_bytes: bytes, status_line: bytes
) -> None:
    answer = await raw(endpoints, request_bytes)

    assert answer.split(b"\r\n", 1)[0] == status_line
    assert b"Connection: close" in answer
    if status_line.startswith(b"HTTP/1.1 405"):
        assert b"Allow: GET, HEAD" in answer
    assert (await client.get("/health/live")).status_code == 200


async def test_a_client_that_hangs_up_early_does_not_stop_the_server(
    endpoints: RelayEndpoints, client: httpx.AsyncClient
) -> None:
    assert await raw(endpoints, b"GET /health/li") == b""

    assert (await client.get("/health/live")).status_code == 200


async def test_stopping_ends_a_connection_that_never_finished_its_request(
    relay: OutboxRelay,
) -> None:
    endpoints = RelayEndpoints(relay, port=0)
    await endpoints.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", endpoints.port)
    writer.write(b"GET /health/live HTTP/1.1\r\n")
    await writer.drain()

    await asyncio.wait_for(endpoints.stop(), 5)

    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()


async def test_stopping_closes_the_port(relay: OutboxRelay) -> None:
    endpoints = RelayEndpoints(relay, port=0)
    await endpoints.start()
    port = endpoints.port
    await endpoints.stop()

    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", port)


async def test_the_health_body_is_json(client: httpx.AsyncClient) -> None:
    body = json.loads((await client.get("/health/live")).content)
    assert body == {"status": "pass", "description": "the relay's process answers"}


async def test_connections_beyond_the_limit_are_turned_away_until_one_ends(
    endpoints: RelayEndpoints, client: httpx.AsyncClient
) -> None:
    idle = [await asyncio.open_connection("127.0.0.1", endpoints.port) for _ in range(32)]
    # Let the server take all of them before the next one arrives.
    await asyncio.sleep(0.2)

    turned_away = await raw(endpoints, b"GET /health/live HTTP/1.1\r\n\r\n")

    assert turned_away.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
    for _, writer in idle:
        writer.close()
        await writer.wait_closed()
    await asyncio.sleep(0.2)
    assert (await client.get("/health/live")).status_code == 200
