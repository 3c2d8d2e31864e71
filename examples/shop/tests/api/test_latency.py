"""Performance guards: ratios to a baseline measured in the same test, never absolute times.

A listing must cost about the same whatever the page size, apart from the rows
themselves: an N+1 query (loading each order's lines one by one) or a lost
index would multiply the ratio.
"""

import httpx
import pytest
from fastapi_chassis.testing import BoundFactory, compare

from shop.models import Order, OrderItem

pytestmark = [pytest.mark.asyncio, pytest.mark.slow]


async def test_a_page_of_fifty_orders_costs_a_few_single_reads(
    client: httpx.AsyncClient,
    order_factory: BoundFactory[Order],
    order_item_factory: BoundFactory[OrderItem],
) -> None:
    orders = await order_factory.create_batch(50)
    customer_id = orders[0].customer_id
    for order in orders:
        order.customer_id = customer_id
        await order_item_factory.create_batch(3, order=order)
    one = f"/orders/{orders[0].id}"
    page = f"/orders?customer_id={customer_id}&limit=50"
    assert len((await client.get(page)).json()["items"]) == 50

    result = await compare(
        baseline=lambda: client.get(one), candidate=lambda: client.get(page), runs=60
    )

    assert result.ratio < 5, result
