"""Role bindings the bulk loader refuses, before anything is written."""

from __future__ import annotations

import pytest

from fastapi_chassis.synthetic import (
    STEADY,
    AsyncSQLAlchemyFactory,
    BulkLoader,
    Planned,
    RoleBindingError,
)
from tests.synthetic.factories import SHOP_FACTORIES, OrderFactory
from tests.synthetic.models import ShopOrder


def test_a_role_without_a_factory_is_named() -> None:
    bindings = {role: factory for role, factory in SHOP_FACTORIES.items() if role != "product"}
    with pytest.raises(RoleBindingError, match="product"):
        BulkLoader("postgresql://localhost/x", bindings)


def test_an_unknown_fact_is_refused_before_anything_is_written() -> None:
    class WrongOrderFactory(OrderFactory):
        total = Planned("grand_total")

    loader = BulkLoader("postgresql://localhost/x", {**SHOP_FACTORIES, "order": WrongOrderFactory})
    with pytest.raises(RoleBindingError, match=r"grand_total.*total_cents"):
        next(loader.generate(STEADY, scale=10))


def test_a_not_null_column_without_a_declaration_is_refused() -> None:
    class SilentOrderFactory(AsyncSQLAlchemyFactory[ShopOrder]):
        class Meta:
            model = ShopOrder

        total = Planned("total")
        line_count = Planned("line_count")
        placed_at = Planned("placed_at")

    loader = BulkLoader("postgresql://localhost/x", {**SHOP_FACTORIES, "order": SilentOrderFactory})
    with pytest.raises(RoleBindingError, match=r"syn_orders\.status is NOT NULL"):
        next(loader.generate(STEADY, scale=10))
