"""Roles: what a scenario makes, independent of the application's models.

A scenario speaks of customers, products, orders and order lines. The
application says which of its factories plays each role by implementing the
``chassis_factories`` hook; further roles (reference data such as categories)
can be bound too and sized in :attr:`Volumes.extra`::

    @hookimpl
    def chassis_factories():
        return {
            "customer": CustomerFactory,
            "product": ProductFactory,
            "order": OrderFactory,
            "order_item": OrderItemFactory,
        }

The role tables must link the way an order does: the order table has a foreign
key to the customer table, the order-line table to the order and product
tables. The bulk loader finds those foreign keys in the tables' metadata and
fills them from the scenario; every other column comes from the factories'
declarations.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from factory.base import Factory

from fastapi_chassis.synthetic.errors import RoleBindingError

__all__ = ["CORE_ROLES", "Role", "check_bindings"]


class Role(StrEnum):
    """The roles every scenario makes."""

    CUSTOMER = "customer"
    PRODUCT = "product"
    ORDER = "order"
    ORDER_ITEM = "order_item"


CORE_ROLES: tuple[Role, ...] = tuple(Role)
"""The roles every binding must cover."""


def check_bindings(factories: Mapping[str, type]) -> dict[str, type[Factory[object]]]:
    """Check that every core role is bound to a factory_boy factory of a mapped model.

    Args:
        factories: Role name to factory class, as the ``chassis_factories`` hook
            returns them.

    Returns:
        The same bindings, typed.

    Raises:
        RoleBindingError: If a core role is missing or a value is not a factory
            class with a model.
    """
    missing = [role.value for role in CORE_ROLES if role not in factories]
    if missing:
        raise RoleBindingError(
            f"no factory is bound to the role(s) {', '.join(missing)}: implement the "
            "chassis_factories hook and return a factory for each of "
            f"{', '.join(role.value for role in CORE_ROLES)}"
        )
    checked: dict[str, type[Factory[object]]] = {}
    for role, candidate in factories.items():
        if not issubclass(candidate, Factory):
            raise RoleBindingError(f"role {role!r} is bound to {candidate!r}, not a factory class")
        if candidate._meta.model is None:  # noqa: SLF001 - factory_boy's options live in _meta
            raise RoleBindingError(f"the factory of role {role!r} has no Meta.model")
        checked[role] = candidate
    return checked
