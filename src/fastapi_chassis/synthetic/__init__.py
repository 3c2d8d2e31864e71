"""Synthetic data: async factories, scenarios and a COPY-based bulk loader.

* :class:`AsyncSQLAlchemyFactory` is a factory_boy base class that saves through
  an ``AsyncSession``; :class:`RowPool` and :class:`FromPool` draw foreign keys
  from rows that exist; :class:`CommerceProvider` adds commerce data to Faker.
* A :class:`Scenario` describes what to generate over a time window, in terms of
  roles (customers, products, orders, order lines) that the application binds to
  its factories through the ``chassis_factories`` hook.
* :class:`BulkLoader` builds the scenario's rows from those factories and streams
  them into PostgreSQL with COPY.

The factories and the loader need the ``synthetic`` extra
(``pip install 'fastapi-chassis[synthetic]'``: factory_boy, Faker, numpy, rich).
Names are imported on first use, so scenarios can be declared (and the built-in
plugin loaded) without it.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi_chassis.synthetic.declarations import FromPool, Planned
    from fastapi_chassis.synthetic.errors import (
        FactoryUsageError,
        RoleBindingError,
        SyntheticDataError,
        UnknownScenario,
    )
    from fastapi_chassis.synthetic.factories import AsyncSQLAlchemyFactory
    from fastapi_chassis.synthetic.loader import BulkLoader, TableRows
    from fastapi_chassis.synthetic.pools import RowPool
    from fastapi_chassis.synthetic.prices import (
        cents_to_decimal,
        charm_cents,
        lognormal_price_cents,
    )
    from fastapi_chassis.synthetic.progress import LoadProgress, ProgressCallback
    from fastapi_chassis.synthetic.providers import CATEGORIES, CommerceProvider, sku_for
    from fastapi_chassis.synthetic.roles import CORE_ROLES, Role
    from fastapi_chassis.synthetic.scenarios import (
        BLACK_FRIDAY,
        BUILTIN_SCENARIOS,
        SEASONAL,
        STEADY,
        CustomerCohort,
        EntityCounts,
        Scenario,
        Spike,
        Volumes,
        black_friday,
    )

_LAZY = {
    "AsyncSQLAlchemyFactory": "factories",
    "BLACK_FRIDAY": "scenarios",
    "BUILTIN_SCENARIOS": "scenarios",
    "BulkLoader": "loader",
    "CATEGORIES": "providers",
    "CORE_ROLES": "roles",
    "CommerceProvider": "providers",
    "CustomerCohort": "scenarios",
    "EntityCounts": "scenarios",
    "FactoryUsageError": "errors",
    "FromPool": "declarations",
    "LoadProgress": "progress",
    "Planned": "declarations",
    "ProgressCallback": "progress",
    "Role": "roles",
    "RoleBindingError": "errors",
    "RowPool": "pools",
    "SEASONAL": "scenarios",
    "STEADY": "scenarios",
    "Scenario": "scenarios",
    "Spike": "scenarios",
    "SyntheticDataError": "errors",
    "TableRows": "loader",
    "UnknownScenario": "errors",
    "Volumes": "scenarios",
    "black_friday": "scenarios",
    "cents_to_decimal": "prices",
    "charm_cents": "prices",
    "lognormal_price_cents": "prices",
    "sku_for": "providers",
}

__all__ = [
    "BLACK_FRIDAY",
    "BUILTIN_SCENARIOS",
    "CATEGORIES",
    "CORE_ROLES",
    "SEASONAL",
    "STEADY",
    "AsyncSQLAlchemyFactory",
    "BulkLoader",
    "CommerceProvider",
    "CustomerCohort",
    "EntityCounts",
    "FactoryUsageError",
    "FromPool",
    "LoadProgress",
    "Planned",
    "ProgressCallback",
    "Role",
    "RoleBindingError",
    "RowPool",
    "Scenario",
    "Spike",
    "SyntheticDataError",
    "TableRows",
    "UnknownScenario",
    "Volumes",
    "black_friday",
    "cents_to_decimal",
    "charm_cents",
    "lognormal_price_cents",
    "sku_for",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
