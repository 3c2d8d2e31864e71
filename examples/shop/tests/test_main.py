"""The application as operators see it: health, metrics, documentation."""

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi_chassis import ChassisSettings

from shop.main import create_shop_app

pytestmark = pytest.mark.asyncio


async def test_a_started_shop_is_live_and_ready(chassis_database_url: str) -> None:
    # A process's first start, with an application object of its own.
    app = create_shop_app(ChassisSettings(database_url=chassis_database_url, log_configure=False))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as http:
            assert (await http.get("/health/live")).status_code == 200
            ready = await http.get("/health/ready", params={"verbose": "1"})
            assert ready.status_code == 200, ready.text
            report = ready.json()
            assert report["serviceId"] == "shop"
            assert set(report["checks"]) >= {"database", "shutdown", "outbox_dead_letters"}


async def test_metrics_and_docs_answer(
    client: httpx.AsyncClient, new_product: Callable[..., Awaitable[dict[str, Any]]]
) -> None:
    product = await new_product(client)
    await client.get(f"/products/{product['id']}")
    metrics = (await client.get("/metrics")).text
    assert 'route="/products/{product_id}"' in metrics
    assert 'api_version="1"' in metrics

    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
    for version in ("1", "2"):
        document = await client.get(f"/openapi/v{version}.json")
        assert document.status_code == 200
        assert document.json()["info"]["title"] == "shop"


async def test_a_deployment_can_name_the_service() -> None:
    app = create_shop_app(ChassisSettings(database_url=None, service_name="shop-eu"))
    assert app.title == "shop-eu"
