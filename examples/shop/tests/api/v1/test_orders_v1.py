"""Orders: placing them, their lifecycle, listings and history."""

import uuid
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
PROBLEMS = "https://shop.example.com/problems/"


@pytest.fixture
def place(client: httpx.AsyncClient) -> Callable[..., Awaitable[httpx.Response]]:
    async def place(customer: Json, *lines: tuple[Json, int]) -> httpx.Response:
        return await client.post(
            "/orders",
            json={
                "customer_id": customer["id"],
                "lines": [
                    {"product_id": product["id"], "quantity": quantity}
                    for product, quantity in lines
                ],
            },
        )

    return place


async def stock(client: httpx.AsyncClient, product: Json) -> Json:
    inventory: Json = (await client.get(f"/products/{product['id']}/inventory")).json()
    return {key: inventory[key] for key in ("on_hand", "reserved", "available")}


async def event_types(session: AsyncSession, aggregate_id: str) -> list[str]:
    rows = await session.scalars(
        select(outbox_table.c.type)
        .where(outbox_table.c.aggregateid == aggregate_id)
        .order_by(outbox_table.c.sequence)
    )
    return list(rows)


async def test_placing_an_order_prices_it_and_reserves_its_stock(
    client: httpx.AsyncClient,
    new_customer: Make,
    new_product: Make,
    place: Callable[..., Awaitable[httpx.Response]],
    db_session: AsyncSession,
) -> None:
    customer = await new_customer(client)
    mug = await new_product(client, price_cents=1250, stock_on_hand=10)
    bowl = await new_product(client, price_cents=899, stock_on_hand=3)

    response = await place(customer, (mug, 2), (bowl, 3))
    assert response.status_code == 201, response.text
    order = response.json()
    assert response.headers["Location"] == f"/orders/{order['id']}"
    assert response.headers["ETag"] == '"1.1"'
    assert order["status"] == "placed"
    assert order["total_cents"] == 2 * 1250 + 3 * 899
    assert order["currency"] == "EUR"
    assert [(line["line_number"], line["product_id"]) for line in order["lines"]] == [
        (1, mug["id"]),
        (2, bowl["id"]),
    ]
    assert order["lines"][1] == {
        "line_number": 2,
        "product_id": bowl["id"],
        "quantity": 3,
        "unit_price_cents": 899,
        "line_total_cents": 2697,
    }
    assert await stock(client, mug) == {"on_hand": 10, "reserved": 2, "available": 8}
    assert await stock(client, bowl) == {"on_hand": 3, "reserved": 3, "available": 0}

    reservations = (await client.get(f"/orders/{order['id']}/reservations")).json()
    assert {(item["product_id"], item["quantity"], item["state"]) for item in reservations} == {
        (mug["id"], 2, "held"),
        (bowl["id"], 3, "held"),
    }
    assert (await client.get(f"/orders/{order['id']}")).json() == order

    payload = await db_session.scalar(
        select(outbox_table.c.payload).where(
            outbox_table.c.aggregateid == order["id"], outbox_table.c.type == "shop.order.placed"
        )
    )
    assert payload is not None
    assert payload["subject"] == order["id"]
    assert payload["data"]["total_cents"] == order["total_cents"]
    assert payload["data"]["lines"][0] == {
        "product_id": mug["id"],
        "quantity": 2,
        "unit_price_cents": 1250,
    }


async def test_an_order_for_more_than_is_available_reserves_nothing(
    client: httpx.AsyncClient,
    new_customer: Make,
    new_product: Make,
    place: Callable[..., Awaitable[httpx.Response]],
) -> None:
    customer = await new_customer(client)
    plenty = await new_product(client, stock_on_hand=50)
    scarce = await new_product(client, stock_on_hand=1)

    response = await place(customer, (plenty, 5), (scarce, 2))
    assert response.status_code == 409
    problem = response.json()
    assert problem["type"] == PROBLEMS + "insufficient-stock"
    assert problem["product_id"] == scarce["id"]
    assert problem["requested"] == 2
    assert problem["available"] == 1
    assert await stock(client, plenty) == {"on_hand": 50, "reserved": 0, "available": 50}


async def test_orders_must_name_live_customers_and_products(
    client: httpx.AsyncClient,
    new_customer: Make,
    new_product: Make,
    place: Callable[..., Awaitable[httpx.Response]],
) -> None:
    customer = await new_customer(client)
    product = await new_product(client)
    nobody = {"id": str(uuid.uuid4())}
    nothing = {"id": str(uuid.uuid4())}

    no_customer = await place(nobody, (product, 1))
    assert no_customer.status_code == 422
    assert no_customer.json()["type"] == PROBLEMS + "unknown-reference"
    assert no_customer.json()["field"] == "customer_id"

    no_product = await place(customer, (nothing, 1))
    assert no_product.status_code == 422
    assert no_product.json()["field"] == "product_id"

    await client.delete(f"/products/{product['id']}", headers={"If-Match": '"1.1"'})
    discontinued = await place(customer, (product, 1))
    assert discontinued.status_code == 422


async def test_a_product_appears_once_per_order(
    client: httpx.AsyncClient,
    new_customer: Make,
    new_product: Make,
    place: Callable[..., Awaitable[httpx.Response]],
) -> None:
    customer = await new_customer(client)
    product = await new_product(client)
    response = await place(customer, (product, 1), (product, 2))
    assert response.status_code == 422
    assert "once" in response.json()["errors"][0]["msg"]
    assert (await place(customer)).status_code == 422


async def test_the_happy_path_pays_and_ships_and_takes_the_stock(
    client: httpx.AsyncClient,
    new_customer: Make,
    new_product: Make,
    place: Callable[..., Awaitable[httpx.Response]],
    db_session: AsyncSession,
) -> None:
    customer = await new_customer(client)
    product = await new_product(client, stock_on_hand=10)
    order = (await place(customer, (product, 4))).json()
    url = f"/orders/{order['id']}"

    paid = await client.post(f"{url}/pay", headers={"If-Match": '"1.1"'})
    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "paid"
    assert paid.json()["paid_at"] is not None
    assert paid.headers["ETag"] == '"2.1"'

    shipped = await client.post(f"{url}/ship")
    assert shipped.status_code == 200
    assert shipped.json()["status"] == "shipped"
    assert shipped.json()["shipped_at"] is not None

    assert await stock(client, product) == {"on_hand": 6, "reserved": 0, "available": 6}
    reservations = (await client.get(f"{url}/reservations")).json()
    assert [item["state"] for item in reservations] == ["fulfilled"]
    assert await event_types(db_session, order["id"]) == [
        "shop.order.placed",
        "shop.order.paid",
        "shop.order.shipped",
    ]
    inventory = await db_session.scalar(
        select(outbox_table.c.payload)
        .where(outbox_table.c.aggregateid == product["id"])
        .order_by(outbox_table.c.sequence.desc())
    )
    assert inventory is not None
    assert inventory["data"]["delta"] == -4
    assert inventory["data"]["on_hand"] == 6

    history = (await client.get(f"{url}/history")).json()
    assert [entry["action"] for entry in history] == ["UPDATE", "UPDATE", "INSERT"]
    assert [entry["new_data"]["status"] for entry in history] == ["shipped", "paid", "placed"]


async def test_cancelling_releases_the_reserved_stock(
    client: httpx.AsyncClient,
    new_customer: Make,
    new_product: Make,
    place: Callable[..., Awaitable[httpx.Response]],
    db_session: AsyncSession,
) -> None:
    customer = await new_customer(client)
    product = await new_product(client, stock_on_hand=3)
    order = (await place(customer, (product, 3))).json()
    assert await stock(client, product) == {"on_hand": 3, "reserved": 3, "available": 0}

    cancelled = await client.post(
        f"/orders/{order['id']}/cancel", json={"reason": "changed my mind"}
    )
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["cancel_reason"] == "changed my mind"
    assert await stock(client, product) == {"on_hand": 3, "reserved": 0, "available": 3}
    assert await event_types(db_session, order["id"]) == [
        "shop.order.placed",
        "shop.order.cancelled",
    ]


@pytest.mark.parametrize(
    ("path", "status", "allowed"),
    [
        ("ship", "placed", ["cancelled", "paid"]),
        ("pay", "paid", ["cancelled", "shipped"]),
        ("cancel", "shipped", []),
        ("pay", "cancelled", []),
    ],
)
async def test_invalid_transitions_are_409_problems(
    client: httpx.AsyncClient,
    new_customer: Make,
    new_product: Make,
    place: Callable[..., Awaitable[httpx.Response]],
    path: str,
    status: str,
    allowed: list[str],
) -> None:
    customer = await new_customer(client)
    product = await new_product(client)
    order = (await place(customer, (product, 1))).json()
    url = f"/orders/{order['id']}"
    steps = {"placed": [], "paid": ["pay"], "shipped": ["pay", "ship"], "cancelled": ["cancel"]}
    for step in steps[status]:
        assert (await client.post(f"{url}/{step}")).status_code == 200

    response = await client.post(f"{url}/{path}")
    assert response.status_code == 409
    problem = response.json()
    assert problem["type"] == PROBLEMS + "invalid-transition"
    assert problem["current_status"] == status
    assert problem["allowed_statuses"] == allowed
    assert problem["instance"] == f"{url}/{path}"
    assert problem["correlation_id"] == response.headers["X-Correlation-ID"]
    assert (await client.get(url)).json()["status"] == status


async def test_a_transition_with_a_stale_etag_is_a_412(
    client: httpx.AsyncClient,
    new_customer: Make,
    new_product: Make,
    place: Callable[..., Awaitable[httpx.Response]],
) -> None:
    customer = await new_customer(client)
    product = await new_product(client)
    order = (await place(customer, (product, 1))).json()
    await client.post(f"/orders/{order['id']}/pay")
    response = await client.post(f"/orders/{order['id']}/cancel", headers={"If-Match": '"1.1"'})
    assert response.status_code == 412
    assert (await client.post(f"/orders/{order['id']}/ship")).status_code == 200


async def test_transitions_of_an_unknown_order_are_404s(client: httpx.AsyncClient) -> None:
    url = f"/orders/{uuid.uuid4()}"
    for path in ("pay", "ship", "cancel", "reservations"):
        method = client.get if path == "reservations" else client.post
        assert (await method(f"{url}/{path}")).status_code == 404
    assert (await client.get(url)).status_code == 404


async def test_listing_filters_by_customer_and_status_newest_first(
    client: httpx.AsyncClient,
    new_customer: Make,
    new_product: Make,
    place: Callable[..., Awaitable[httpx.Response]],
) -> None:
    customer = await new_customer(client)
    product = await new_product(client, stock_on_hand=100)
    orders = [(await place(customer, (product, quantity))).json() for quantity in (1, 2, 3)]
    await client.post(f"/orders/{orders[1]['id']}/cancel")

    mine = await client.get("/orders", params={"customer_id": customer["id"], "limit": 2})
    assert mine.status_code == 200, mine.text
    page = mine.json()
    # One transaction, one now(): the key breaks the tie, newest first.
    assert [order["id"] for order in page["items"]] == [orders[2]["id"], orders[1]["id"]]
    rest = await client.get(
        "/orders", params={"customer_id": customer["id"], "after": page["next_cursor"]}
    )
    assert [order["id"] for order in rest.json()["items"]] == [orders[0]["id"]]

    cancelled = await client.get(
        "/orders", params={"customer_id": customer["id"], "status": "cancelled"}
    )
    assert [order["id"] for order in cancelled.json()["items"]] == [orders[1]["id"]]

    biggest = await client.get(
        "/orders", params={"customer_id": customer["id"], "sort": "-total_cents", "limit": 1}
    )
    assert biggest.json()["items"][0]["id"] == orders[2]["id"]

    placed = orders[0]["placed_at"]
    window = await client.get(
        "/orders",
        params={"customer_id": customer["id"], "placed_from": placed, "placed_until": placed},
    )
    assert window.json()["items"] == []

    assert (await client.get("/orders", params={"status": "lost"})).status_code == 422
