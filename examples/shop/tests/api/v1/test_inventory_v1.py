"""A product's inventory: reading it, adjustments, stocktakes."""

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi_chassis.events import outbox_table
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

pytestmark = pytest.mark.asyncio

Json = dict[str, Any]
Make = Callable[..., Awaitable[Json]]


async def inventory_events(session: AsyncSession, product_id: str) -> list[dict[str, Any]]:
    rows = await session.execute(
        select(outbox_table.c.payload)
        .where(
            outbox_table.c.aggregateid == product_id,
            outbox_table.c.type == "shop.inventory.adjusted",
        )
        .order_by(outbox_table.c.sequence)
    )
    return [payload["data"] for (payload,) in rows]


async def test_the_inventory_shares_the_products_etag(
    client: httpx.AsyncClient, new_product: Make
) -> None:
    product = await new_product(client, stock_on_hand=12)
    response = await client.get(f"/products/{product['id']}/inventory")
    assert response.status_code == 200
    assert response.json() == {
        "product_id": product["id"],
        "on_hand": 12,
        "reserved": 0,
        "available": 12,
        "version": 1,
    }
    assert response.headers["ETag"] == '"1.1"'


async def test_adjustments_add_and_remove_stock_and_are_recorded(
    client: httpx.AsyncClient, new_product: Make, db_session: AsyncSession
) -> None:
    product = await new_product(client, stock_on_hand=5)
    url = f"/products/{product['id']}/inventory/adjustments"

    received = await client.post(url, json={"delta": 20, "reason": "received"})
    assert received.status_code == 200, received.text
    assert received.json()["on_hand"] == 25
    assert received.headers["ETag"] == '"2.1"'

    damaged = await client.post(url, json={"delta": -3, "reason": "damaged"})
    assert damaged.json()["on_hand"] == 22

    too_many = await client.post(url, json={"delta": -23})
    assert too_many.status_code == 409
    assert too_many.json()["type"] == "https://shop.example.com/problems/stock-below-reservations"

    assert (await client.post(url, json={"delta": 0})).status_code == 422

    assert await inventory_events(db_session, product["id"]) == [
        {"delta": 5, "on_hand": 5, "reason": "initial stock"},
        {"delta": 20, "on_hand": 25, "reason": "received"},
        {"delta": -3, "on_hand": 22, "reason": "damaged"},
    ]


async def test_a_stocktake_replaces_the_count_only_with_the_current_etag(
    client: httpx.AsyncClient, new_product: Make, db_session: AsyncSession
) -> None:
    product = await new_product(client, stock_on_hand=40)
    url = f"/products/{product['id']}/inventory"

    assert (await client.put(url, json={"on_hand": 37})).status_code == 428
    counted = await client.put(url, json={"on_hand": 37}, headers={"If-Match": '"1.1"'})
    assert counted.status_code == 200, counted.text
    assert counted.json()["on_hand"] == 37
    assert counted.headers["ETag"] == '"2.1"'

    stale = await client.put(url, json={"on_hand": 50}, headers={"If-Match": '"1.1"'})
    assert stale.status_code == 412

    events = await inventory_events(db_session, product["id"])
    assert events[-1] == {"delta": -3, "on_hand": 37, "reason": "stocktake"}


async def test_stock_cannot_drop_below_what_open_orders_hold(
    client: httpx.AsyncClient, new_product: Make, new_customer: Make
) -> None:
    product = await new_product(client, stock_on_hand=10)
    customer = await new_customer(client)
    order = await client.post(
        "/orders",
        json={
            "customer_id": customer["id"],
            "lines": [{"product_id": product["id"], "quantity": 6}],
        },
    )
    assert order.status_code == 201
    inventory = await client.get(f"/products/{product['id']}/inventory")
    assert inventory.json()["reserved"] == 6

    refused = await client.put(
        f"/products/{product['id']}/inventory",
        json={"on_hand": 5},
        headers={"If-Match": inventory.headers["ETag"]},
    )
    assert refused.status_code == 409
    assert refused.json()["reserved"] == 6


async def test_a_deleted_product_has_no_inventory(
    client: httpx.AsyncClient, new_product: Make
) -> None:
    product = await new_product(client)
    await client.delete(f"/products/{product['id']}", headers={"If-Match": '"1.1"'})
    url = f"/products/{product['id']}/inventory"
    assert (await client.get(url)).status_code == 404
    assert (await client.post(f"{url}/adjustments", json={"delta": 1})).status_code == 404
