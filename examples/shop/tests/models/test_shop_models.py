"""The tables: their rules hold in the database itself, whatever writes to it."""

import pytest
from fastapi_chassis.db import assert_foreign_keys_indexed
from fastapi_chassis.db.audit import audit_history
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shop.models import ORDER_TRANSITIONS, Base, OrderStatus, Product
from shop.synthetic import ProductFactory


def test_every_foreign_key_is_indexed() -> None:
    assert_foreign_keys_indexed(Base.metadata)


def test_shipped_and_cancelled_orders_are_final() -> None:
    assert ORDER_TRANSITIONS[OrderStatus.SHIPPED] == frozenset()
    assert ORDER_TRANSITIONS[OrderStatus.CANCELLED] == frozenset()
    reachable = set().union(*ORDER_TRANSITIONS.values())
    assert reachable == set(OrderStatus) - {OrderStatus.PLACED}


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("assignment", "constraint"),
    [
        ("stock_reserved = stock_on_hand + 1", "ck_products_reserved_within_stock"),
        ("stock_on_hand = -1", "ck_products_(stock_not_negative|reserved_within_stock)"),
        ("price_cents = -1", "ck_products_price_not_negative"),
    ],
)
async def test_raw_sql_cannot_oversell_either(
    db_session: AsyncSession, assignment: str, constraint: str
) -> None:
    product = await ProductFactory.create_async(db_session, stock_on_hand=3)
    with pytest.raises(IntegrityError, match=constraint):
        async with db_session.begin_nested():
            await db_session.execute(
                text(f"UPDATE products SET {assignment} WHERE id = :id"), {"id": product.id}
            )


@pytest.mark.asyncio
async def test_raw_sql_is_audited_and_versioned(db_session: AsyncSession) -> None:
    product = await ProductFactory.create_async(db_session, price_cents=500)
    await db_session.execute(
        text("UPDATE products SET price_cents = 450 WHERE id = :id"), {"id": product.id}
    )
    version = await db_session.scalar(
        text("SELECT version FROM products WHERE id = :id"), {"id": product.id}
    )
    assert version == 2
    (update, insert) = await audit_history(db_session, Product, product.id)
    assert (update.action, insert.action) == ("UPDATE", "INSERT")
    assert update.changed_fields == ("price_cents",)
