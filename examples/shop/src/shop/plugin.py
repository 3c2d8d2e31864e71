"""The shop as a fastapi-chassis plugin: everything the shop adds goes through here.

Registered in ``pyproject.toml`` under the ``fastapi_chassis`` entry-point group,
so ``create_app()``, the ``chassis`` command and the test plugin all load it
without being told. Each hook returns one piece of the shop; the modules they
name hold the substance.
"""

from collections.abc import Mapping, Sequence

from fastapi import APIRouter, FastAPI
from fastapi_chassis import ChassisSettings, hookimpl
from fastapi_chassis.events import DomainEvent
from fastapi_chassis.plugins import MiddlewareSpec
from fastapi_chassis.synthetic import Scenario
from sqlalchemy import MetaData

from shop.api import v1, v2
from shop.errors import ShopError, shop_error_handler
from shop.events import EVENT_TYPES
from shop.middleware import middleware_specs
from shop.models import Base
from shop.synthetic import ROLE_FACTORIES
from shop.synthetic.scenarios import SCENARIOS

API_VERSIONS = ["1", "2"]
"""The versions the shop serves; requests without ``X-API-Version`` get version 1."""

_CHASSIS_DEFAULT_NAME = "fastapi-chassis"


@hookimpl
def chassis_adjust_settings(settings: ChassisSettings) -> Mapping[str, object] | None:
    """Serve both API versions, and name the service unless the deployment did."""
    changes: dict[str, object] = {}
    if settings.api_versions != API_VERSIONS:
        changes["api_versions"] = API_VERSIONS
        changes["default_api_version"] = API_VERSIONS[0]
    if settings.service_name == _CHASSIS_DEFAULT_NAME:
        changes["service_name"] = "shop"
    return changes or None


@hookimpl
def chassis_middleware() -> Sequence[MiddlewareSpec]:
    """Add the ``Server-Timing`` layer."""
    return middleware_specs()


@hookimpl
def chassis_routers(version: str) -> Sequence[APIRouter] | None:
    """Return each version's routers; version 2 inherits the rest of version 1."""
    if version == "1":
        return v1.routers()
    if version == "2":
        return v2.routers()
    return None


@hookimpl
def chassis_configure_app(app: FastAPI) -> None:
    """Answer the shop's own errors with their problem documents."""
    app.add_exception_handler(ShopError, shop_error_handler)


@hookimpl
def chassis_metadata() -> MetaData:
    """Return the metadata with the shop's tables (and the outbox)."""
    return Base.metadata


@hookimpl
def chassis_event_types() -> Sequence[type[DomainEvent]]:
    """Register the shop's events: only these can be recorded, each validated."""
    return EVENT_TYPES


@hookimpl
def chassis_factories() -> Mapping[str, type]:
    """Bind the scenarios' roles to the shop's factories."""
    return ROLE_FACTORIES


@hookimpl
def chassis_scenarios() -> Sequence[Scenario]:
    """Add the shop's own scenarios to the built-in ones."""
    return SCENARIOS
