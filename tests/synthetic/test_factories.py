"""AsyncSQLAlchemyFactory, pools and declarations against a real database."""

# factory_boy's declarations have no annotations; mypy --strict would flag every call.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

import decimal
import uuid

import pytest
from factory.declarations import LazyFunction, RelatedFactoryList, SubFactory
from factory.faker import Faker
from factory.random import reseed_random
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from fastapi_chassis.synthetic import (
    AsyncSQLAlchemyFactory,
    FactoryUsageError,
    FromPool,
    Planned,
    RowPool,
    SyntheticDataError,
)
from tests.synthetic.factories import (
    CustomerFactory,
    OrderFactory,
    OrderItemFactory,
    ProductFactory,
)
from tests.synthetic.models import ShopCustomer, ShopOrder, ShopOrderItem, ShopProduct

pytestmark = [pytest.mark.db, pytest.mark.asyncio]


class OrderWithItemsFactory(OrderFactory):
    items = RelatedFactoryList(OrderItemFactory, "order", size=3)


async def _count(session: AsyncSession, table: str) -> int:
    return int((await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())


async def test_create_async_saves_the_object_and_its_sub_factories(
    db_session: AsyncSession,
) -> None:
    item = await OrderItemFactory.create_async(db_session)
    assert isinstance(item, ShopOrderItem)
    # The rows are in the database, linked by real foreign keys.
    row = (
        await db_session.execute(
            text(
                "SELECT o.id AS order_id, c.id AS customer_id, p.id AS product_id "
                "FROM syn_order_items i JOIN syn_orders o ON o.id = i.order_id "
                "JOIN syn_customers c ON c.id = o.customer_id "
                "JOIN syn_products p ON p.id = i.product_id WHERE i.id = :id"
            ),
            {"id": item.id},
        )
    ).one()
    assert row.order_id == item.order.id
    assert row.customer_id == item.order.customer.id
    assert row.product_id == item.product.id
    # Server-set columns are loaded (no lazy load needed in async code).
    assert item.order.version == 1
    assert item.created_at is not None
    assert item.unit_price == item.product.price


async def test_overrides_and_planned_defaults_apply(db_session: AsyncSession) -> None:
    order = await OrderFactory.create_async(db_session, status="shipped")
    assert order.status == "shipped"
    assert order.total == decimal.Decimal("0.00")
    assert order.placed_at.year == 2024
    customer = order.customer
    assert customer.cohort == "occasional"
    assert customer.email.endswith("@example.com")


async def test_related_factories_are_created_and_flushed_together(
    db_session: AsyncSession,
) -> None:
    order = await OrderWithItemsFactory.create_async(db_session)
    count = await db_session.scalar(
        select(func.count()).select_from(ShopOrderItem).where(ShopOrderItem.order_id == order.id)
    )
    assert count == 3


async def test_create_batch_async_flushes_once_and_shares_overrides(
    db_session: AsyncSession,
) -> None:
    customer = await CustomerFactory.create_async(db_session)
    orders = await OrderFactory.create_batch_async(db_session, 25, customer=customer)
    assert len(orders) == 25
    assert len({order.id for order in orders}) == 25
    owned = await db_session.scalar(
        select(func.count()).select_from(ShopOrder).where(ShopOrder.customer_id == customer.id)
    )
    assert owned == 25


async def test_a_synchronous_create_explains_what_to_use_instead() -> None:
    with pytest.raises(FactoryUsageError, match="create_async"):
        CustomerFactory.create()


async def test_build_stays_in_memory(db_session: AsyncSession) -> None:
    before = await _count(db_session, "syn_customers")
    customer = CustomerFactory.build()
    assert isinstance(customer.id, uuid.UUID)
    assert await _count(db_session, "syn_customers") == before


async def test_pools_draw_only_rows_that_exist(db_session: AsyncSession) -> None:
    existing = await CustomerFactory.create_batch_async(db_session, 5)
    pool = RowPool(ShopCustomer)
    assert await pool.load(db_session) >= 5

    class PooledOrderFactory(AsyncSQLAlchemyFactory[ShopOrder]):
        class Meta:
            model = ShopOrder

        customer_id = FromPool(pool)
        status = "placed"
        total = decimal.Decimal("1.00")
        line_count = 1
        placed_at = LazyFunction(lambda: existing[0].created_at)

    reseed_random(1)
    orders = await PooledOrderFactory.create_batch_async(db_session, 40)
    chosen = {order.customer_id for order in orders}
    assert chosen <= set(pool.ids)
    assert len(chosen) > 1
    missing = await db_session.scalar(
        text(
            "SELECT count(*) FROM syn_orders o LEFT JOIN syn_customers c "
            "ON c.id = o.customer_id WHERE c.id IS NULL"
        )
    )
    assert missing == 0


async def test_pools_fill_from_earlier_batches_and_skip_deleted_rows(
    db_session: AsyncSession,
) -> None:
    pool = RowPool(ShopProduct)
    created = await ProductFactory.create_batch_async(db_session, 4)
    pool.extend(created)
    pool.add(created[0].id)
    assert list(pool.ids) == [product.id for product in created] + [created[0].id]

    created[1].soft_delete()
    await db_session.flush()
    await pool.load(db_session)
    assert created[1].id not in pool.ids
    assert created[2].id in pool.ids
    await pool.load(db_session, include_deleted=True)
    assert created[1].id in pool.ids
    assert await pool.load(db_session, limit=2) == 2


async def test_an_empty_pool_says_how_to_fill_it() -> None:
    with pytest.raises(SyntheticDataError, match="load"):
        RowPool(ShopCustomer).pick()


async def test_planned_defaults_may_be_declarations(db_session: AsyncSession) -> None:
    class PricedProductFactory(ProductFactory):
        price = Planned("price", default=Faker("price", median=500))
        name = Planned("name-not-a-fact", default=lambda: "Fixed")  # type: ignore[assignment]

    product = await PricedProductFactory.create_async(db_session)
    assert product.price > 10
    assert product.name == "Fixed"


async def test_sub_factories_of_plain_factories_still_cascade(db_session: AsyncSession) -> None:
    class LooseItemFactory(OrderItemFactory):
        product = SubFactory(ProductFactory, name="Loose")

    item = await LooseItemFactory.create_async(db_session)
    assert item.product.name == "Loose"
    assert await db_session.get(ShopProduct, item.product.id) is item.product
