"""The application the CLI and endpoint tests work on, as an application would write it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from fastapi import FastAPI

from fastapi_chassis import ChassisSettings, create_app, hookimpl
from fastapi_chassis.synthetic import Scenario
from tests.synthetic.factories import SHOP_FACTORIES

TINY = Scenario(name="tiny", description="Two quiet weeks.", days=14, daily_orders=40)


class ShopSyntheticPlugin:
    """Binds the roles to the shop's factories and adds a scenario of its own."""

    name = "test.shop-synthetic"

    @hookimpl
    def chassis_factories(self) -> Mapping[str, type]:
        return SHOP_FACTORIES

    @hookimpl
    def chassis_scenarios(self) -> Sequence[Scenario]:
        return [TINY]


def create_shop_app(settings: ChassisSettings | None = None) -> FastAPI:
    """The application, with settings from the environment unless given."""
    return create_app(settings, plugins=[ShopSyntheticPlugin()])
