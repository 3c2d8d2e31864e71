"""The factories, in tests and bound to the chassis's scenarios."""

import asyncio
import re

import pytest
from fastapi_chassis import ChassisSettings
from fastapi_chassis.cli import build_cli
from fastapi_chassis.testing import BoundFactory
from fastapi_chassis.testing.postgres import ServerHandle, with_database
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from typer.testing import CliRunner

from shop.main import create_shop_app
from shop.migrations import upgrade
from shop.models import Customer, Order, OrderItem, Product
from shop.plugin import chassis_factories, chassis_scenarios
from shop.synthetic import ProductFactory
from shop.synthetic.factories.customers import email_for


@pytest.mark.asyncio
async def test_the_factory_fixtures_make_valid_rows(
    order_item_factory: BoundFactory[OrderItem],
    product_factory: BoundFactory[Product],
    order_factory: BoundFactory[Order],
    customer_factory: BoundFactory[Customer],
) -> None:
    item = await order_item_factory.create(quantity=3)
    assert item.order.status == "placed"
    assert item.line_total_cents == 3 * item.product.price_cents
    assert item.product.stock_on_hand > 0

    products = await product_factory.create_batch(5)
    assert len({product.sku for product in products}) == 5
    order = await order_factory.create(customer=item.order.customer)
    assert order.paid_at is None
    customer = await customer_factory.create()
    assert customer.email == customer.email.lower()


@pytest.mark.asyncio
async def test_the_factories_also_save_through_any_session(db_session: AsyncSession) -> None:
    product = await ProductFactory.create_async(db_session, stock_on_hand=7)
    assert product.version == 1
    assert product.stock_available == 7


@pytest.mark.parametrize(
    ("first", "last", "local"),
    [
        ("Zoë", "Müller-Lüdenscheidt", "zoe.mullerludenscheidt"),
        ("Jean", "d'Arc", "jean.darc"),
        ("", "", "customer"),
    ],
)
def test_emails_are_plain_ascii(first: str, last: str, local: str) -> None:
    class Row:
        first_name = first
        last_name = last

    assert email_for(Row(), 7) == f"{local}.7@example.com"


def test_the_scenarios_roles_are_bound() -> None:
    assert set(chassis_factories()) == {"customer", "product", "order", "order_item"}
    assert [scenario.name for scenario in chassis_scenarios()] == ["summer-sale"]


@pytest.mark.slow
def test_black_friday_loads_into_the_shop_with_the_chassis_command(
    chassis_postgres: ServerHandle,
) -> None:
    with with_database(chassis_postgres.url, prefix="shop_synth") as url:
        upgrade(url)
        app = create_shop_app(ChassisSettings(database_url=url, log_configure=False))
        cli = build_cli(app)

        listing = CliRunner().invoke(cli, ["synth", "list"])
        assert listing.exit_code == 0, listing.output
        assert {"black-friday", "summer-sale"} <= set(re.findall(r"^\S+", listing.output, re.M))

        result = CliRunner().invoke(
            cli, ["synth", "run", "black-friday", "--scale", "500", "--seed", "3", "--quiet"]
        )
        assert result.exit_code == 0, result.output
        assert "orders 500" in result.output

        statuses, reserved, bad_totals, audited = asyncio.run(_facts(url))
        assert statuses == {"cancelled", "shipped"}
        assert reserved == 0
        assert bad_totals == 0
        assert audited > 0


async def _facts(url: str) -> tuple[set[str], int, int, int]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            statuses = set(await connection.scalars(text("SELECT DISTINCT status FROM orders")))
            reserved = await connection.scalar(text("SELECT sum(stock_reserved) FROM products"))
            # Every order's total is the sum of its lines.
            bad_totals = await connection.scalar(
                text(
                    "SELECT count(*) FROM orders AS o WHERE o.total_cents <> "
                    "(SELECT sum(line_total_cents) FROM order_items WHERE order_id = o.id)"
                )
            )
            audited = await connection.scalar(
                text("SELECT count(*) FROM audit.log WHERE table_name = 'public.orders'")
            )
    finally:
        await engine.dispose()
    return statuses, int(reserved), int(bad_totals), int(audited)
