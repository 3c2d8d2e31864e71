"""Placing orders under concurrency never oversells: real commits, separate connections.

These tests ask for ``committed_db``: ``client``'s requests then go through the
shop's own connection pool and commit for real, so concurrent requests run in
concurrent transactions on different connections, exactly as in production.
The database is checked with SQL on a connection of its own, and put back as it
was after each test.
"""

import asyncio
import random
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi_chassis.app import chassis_state
from fastapi_chassis.testing import CommittedDatabase
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

pytestmark = [pytest.mark.asyncio, pytest.mark.slow]

Json = dict[str, Any]
Make = Callable[..., Awaitable[Json]]


async def stock_row(engine: AsyncEngine, product_id: str) -> tuple[int, int]:
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                text("SELECT stock_on_hand, stock_reserved FROM products WHERE id = :id"),
                {"id": uuid.UUID(product_id)},
            )
        ).one()
    return row.stock_on_hand, row.stock_reserved


async def sold(engine: AsyncEngine, product_id: str) -> tuple[int, int, int]:
    """Return (orders with the product, units in them, units held for them), from SQL."""
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                text(
                    """
                    SELECT count(DISTINCT i.order_id) AS orders,
                           coalesce(sum(i.quantity), 0) AS units,
                           (SELECT coalesce(sum(r.quantity), 0)
                              FROM stock_reservations AS r
                             WHERE r.product_id = :id AND r.state = 'held') AS held
                      FROM order_items AS i
                     WHERE i.product_id = :id
                    """
                ),
                {"id": uuid.UUID(product_id)},
            )
        ).one()
    return row.orders, row.units, row.held


async def test_fifty_concurrent_orders_for_the_last_ten_units_sell_exactly_ten(
    committed_db: CommittedDatabase,
    chassis_app: FastAPI,
    client: httpx.AsyncClient,
    db_engine: AsyncEngine,
    new_customer: Make,
    new_product: Make,
) -> None:
    product = await new_product(client, stock_on_hand=10)
    customers = [await new_customer(client) for _ in range(5)]

    async def order(number: int) -> httpx.Response:
        return await client.post(
            "/orders",
            json={
                "customer_id": customers[number % len(customers)]["id"],
                "lines": [{"product_id": product["id"], "quantity": 1}],
            },
        )

    responses = await asyncio.gather(*(order(number) for number in range(50)))

    assert Counter(response.status_code for response in responses) == {201: 10, 409: 40}
    # The requests ran in transactions of their own, on several connections at once.
    engine = chassis_state(chassis_app).engine
    assert engine is not None
    assert engine.pool.checkedin() > 1  # type: ignore[attr-defined]
    refusals = [response.json() for response in responses if response.status_code == 409]
    assert {problem["type"].rsplit("/", 1)[1] for problem in refusals} == {"insufficient-stock"}
    assert await stock_row(db_engine, product["id"]) == (10, 10)
    assert await sold(db_engine, product["id"]) == (10, 10, 10)


async def test_concurrent_orders_for_several_products_neither_oversell_nor_deadlock(
    committed_db: CommittedDatabase,
    client: httpx.AsyncClient,
    db_engine: AsyncEngine,
    new_customer: Make,
    new_product: Make,
) -> None:
    # Each order lists the same two products in its own order: without locking
    # the products in one order, two of them could deadlock.
    first = await new_product(client, stock_on_hand=6)
    second = await new_product(client, stock_on_hand=6)
    customer = await new_customer(client)
    shuffle = random.Random(7)

    async def order() -> httpx.Response:
        lines = [
            {"product_id": first["id"], "quantity": 1},
            {"product_id": second["id"], "quantity": 2},
        ]
        shuffle.shuffle(lines)
        return await client.post("/orders", json={"customer_id": customer["id"], "lines": lines})

    responses = await asyncio.gather(*(order() for _ in range(30)))

    assert Counter(response.status_code for response in responses) == {201: 3, 409: 27}
    assert await stock_row(db_engine, first["id"]) == (6, 3)
    assert await stock_row(db_engine, second["id"]) == (6, 6)
    assert await sold(db_engine, second["id"]) == (3, 6, 6)


async def test_concurrent_cancellations_release_stock_once(
    committed_db: CommittedDatabase,
    client: httpx.AsyncClient,
    db_engine: AsyncEngine,
    new_customer: Make,
    new_product: Make,
) -> None:
    product = await new_product(client, stock_on_hand=5)
    customer = await new_customer(client)
    placed = await client.post(
        "/orders",
        json={
            "customer_id": customer["id"],
            "lines": [{"product_id": product["id"], "quantity": 5}],
        },
    )
    order_id = placed.json()["id"]

    responses = await asyncio.gather(
        *(client.post(f"/orders/{order_id}/cancel") for _ in range(10))
    )

    assert Counter(response.status_code for response in responses) == {200: 1, 409: 9}
    assert await stock_row(db_engine, product["id"]) == (5, 0)
