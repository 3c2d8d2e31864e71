"""Factory fixtures: their names, where factories come from, and how they bind to db_session."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from fastapi_chassis.testing import BoundFactory
from fastapi_chassis.testing.factories import collect_factories, factory_fixture_name
from tests.synthetic.factories import CustomerFactory, OrderFactory, OrderItemFactory
from tests.synthetic.models import ShopCustomer, ShopOrder
from tests.testing.inner_sessions import FUNCTION_LOOPS, run_inner, write_ini
from tests.testing.projects import write_shop


class HTTPLogFactory:
    pass


class Widget:
    pass


@pytest.mark.parametrize(
    ("factory", "name"),
    [
        (CustomerFactory, "customer_factory"),
        (OrderItemFactory, "order_item_factory"),
        (HTTPLogFactory, "http_log_factory"),
        (Widget, "widget_factory"),
    ],
)
def test_a_factory_fixture_is_named_after_its_class(factory: type, name: str) -> None:
    assert factory_fixture_name(factory) == name


def test_factories_come_from_modules_classes_and_hook_results() -> None:
    found = collect_factories(
        ["tests.synthetic.factories:OrderFactory"],
        [{"customer": CustomerFactory}, None, {"order": OrderFactory, "not": Widget}],
    )

    assert found == {"order_factory": OrderFactory, "customer_factory": CustomerFactory}
    every = collect_factories(["tests.synthetic.factories"])
    assert every["order_item_factory"] is OrderItemFactory
    assert all(factory.__module__ == "tests.synthetic.factories" for factory in every.values())


def test_two_factories_with_one_name_are_refused() -> None:
    namesake = type("CustomerFactory", (OrderFactory,), {"__module__": "elsewhere"})

    with pytest.raises(pytest.UsageError, match="two factories would be the fixture"):
        collect_factories([], [{"customer": CustomerFactory}, {"client": namesake}])


@pytest.mark.parametrize(
    ("spec", "complaint"),
    [
        ("no_such_module_here", "cannot import 'no_such_module_here'"),
        ("tests.testing.test_factories:Widget", "is not an AsyncSQLAlchemyFactory subclass"),
        ("tests.synthetic.factories:Missing", "is not an AsyncSQLAlchemyFactory subclass"),
    ],
)
def test_a_bad_spec_is_a_usage_error(spec: str, complaint: str) -> None:
    with pytest.raises(pytest.UsageError, match="chassis_factories") as caught:
        collect_factories([spec])
    assert complaint in str(caught.value)


@pytest.mark.asyncio
async def test_a_bound_factory_creates_through_its_session(db_session: AsyncSession) -> None:
    orders: BoundFactory[ShopOrder] = BoundFactory(OrderFactory, db_session)

    order = await orders.create(status="paid")
    batch = await orders.create_batch(2, customer=order.customer)
    built = orders.build()

    assert order.status == "paid"
    assert {item.customer_id for item in batch} == {order.customer.id}
    assert built not in db_session
    count = await db_session.scalar(select(func.count()).select_from(ShopCustomer))
    assert count == 1
    assert len(orders.build_batch(3)) == 3
    assert repr(orders) == "BoundFactory(OrderFactory)"


# --- inner sessions: factories listed in the ini file, and conftest precedence -----

LISTED = """
import pytest


@pytest.fixture
def customer_factory():
    return "the project's own"


@pytest.mark.asyncio
async def test_listed_factories_are_fixtures(product_factory, order_factory, customer_factory):
    product = await product_factory.create(name="Mug")
    order = await order_factory.create()
    assert product.name == "Mug"
    assert order.customer.id is not None
    assert customer_factory == "the project's own"


def test_a_pytest_fixture_ending_in_factory_is_left_alone(tmp_path_factory):
    assert tmp_path_factory.getbasetemp().exists()
"""


def test_factories_listed_in_the_ini_file_become_fixtures(
    pytester: pytest.Pytester, inner_server: str
) -> None:
    write_ini(
        pytester,
        {
            "chassis_factories": "shop_factories:ProductFactory\n    shop_factories",
            "chassis_metadata": "shop_models:Base",
            "pythonpath": ".",
            **FUNCTION_LOOPS,
        },
    )
    write_shop(pytester)
    pytester.makepyfile(test_listed=LISTED)

    result = run_inner(pytester)

    result.assert_outcomes(passed=2)
