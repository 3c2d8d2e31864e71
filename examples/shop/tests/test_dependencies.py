"""The shared dependencies: the acting user, pagination, the trash view."""

import httpx
import pytest
from fastapi_chassis.testing import CapturedLogs

pytestmark = pytest.mark.asyncio


async def test_the_actor_is_on_the_requests_log_lines(
    client: httpx.AsyncClient, captured_logs: CapturedLogs
) -> None:
    response = await client.get(
        "/products", headers={"X-Actor": "alice@example.com", "X-Correlation-ID": "req-7"}
    )
    assert response.status_code == 200
    (line,) = [line for line in captured_logs.access_lines() if line["path"] == "/products"]
    assert line["actor"] == "alice@example.com"
    assert line["correlation_id"] == "req-7"
    assert line["route"] == "/products"


async def test_without_a_header_nobody_is_named(
    client: httpx.AsyncClient, captured_logs: CapturedLogs
) -> None:
    await client.get("/customers")
    (line,) = captured_logs.access_lines()
    assert "actor" not in line


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 101}, {"after": "x" * 513}, {"deleted": "all"}],
)
async def test_paging_parameters_are_validated(
    client: httpx.AsyncClient, params: dict[str, str | int]
) -> None:
    response = await client.get("/products", params=params)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_cursor_that_does_not_decode_is_a_400(client: httpx.AsyncClient) -> None:
    response = await client.get("/customers", params={"after": "not-a-cursor"})
    assert response.status_code == 400
