"""Factories for the test schema, written as an application would write them."""

# factory_boy's declarations have no annotations; mypy --strict would flag every call.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

import datetime
import decimal

from factory.declarations import LazyAttributeSequence, SelfAttribute, Sequence, SubFactory
from factory.faker import Faker

from fastapi_chassis.synthetic import AsyncSQLAlchemyFactory, Planned, sku_for
from tests.synthetic.models import (
    ShopCategory,
    ShopCustomer,
    ShopOrder,
    ShopOrderItem,
    ShopProduct,
)


class CategoryFactory(AsyncSQLAlchemyFactory[ShopCategory]):
    class Meta:
        model = ShopCategory

    name = Sequence(lambda n: f"Category {n}")


class CustomerFactory(AsyncSQLAlchemyFactory[ShopCustomer]):
    class Meta:
        model = ShopCustomer

    first_name = Faker("first_name")
    last_name = Faker("last_name")
    email = LazyAttributeSequence(
        lambda o, n: f"{o.first_name}.{o.last_name}.{n}@example.com".lower()
    )
    address = Faker("shipping_address")
    country_code = Planned("country_code", default="US")
    cohort = Planned("cohort", default="occasional")


class ProductFactory(AsyncSQLAlchemyFactory[ShopProduct]):
    class Meta:
        model = ShopProduct

    sku = Sequence(sku_for)
    name = Faker("product_name")
    price = Planned("price", default=Faker("price"))


class OrderFactory(AsyncSQLAlchemyFactory[ShopOrder]):
    class Meta:
        model = ShopOrder

    customer = SubFactory(CustomerFactory)
    status = Planned("status", default="placed")
    total = Planned("total", default=decimal.Decimal("0.00"))
    line_count = Planned("line_count", default=0)
    placed_at = Planned(
        "placed_at", default=lambda: datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    )


class OrderItemFactory(AsyncSQLAlchemyFactory[ShopOrderItem]):
    class Meta:
        model = ShopOrderItem

    order = SubFactory(OrderFactory)
    product = SubFactory(ProductFactory)
    quantity = Planned("quantity", default=1)
    unit_price = Planned("unit_price", default=SelfAttribute("product.price"))


SHOP_FACTORIES: dict[str, type] = {
    "customer": CustomerFactory,
    "product": ProductFactory,
    "order": OrderFactory,
    "order_item": OrderItemFactory,
}
"""The role bindings an application returns from ``chassis_factories``."""
