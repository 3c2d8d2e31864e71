"""The shop's plugin: found through its entry point, contributing every piece."""

from importlib.metadata import entry_points

from fastapi_chassis import ChassisSettings
from fastapi_chassis.app import chassis_state
from fastapi_chassis.cli import build_cli
from typer.testing import CliRunner

from shop import plugin
from shop.main import create_shop_app
from shop.models import Base


def test_the_plugin_is_registered_as_an_entry_point() -> None:
    (entry,) = [entry for entry in entry_points(group="fastapi_chassis") if entry.name == "shop"]
    assert entry.load() is plugin


def test_create_app_loads_it_and_serves_both_versions() -> None:
    app = create_shop_app(ChassisSettings(database_url=None))
    settings = chassis_state(app).settings
    assert settings.api_versions == ["1", "2"]
    assert settings.default_api_version == "1"
    assert settings.service_name == "shop"


def test_it_can_be_switched_off_like_any_plugin() -> None:
    app = create_shop_app(ChassisSettings(database_url=None, disabled_plugins=["shop"]))
    assert chassis_state(app).settings.api_versions == ["1"]


def test_the_metadata_holds_the_shops_tables_and_the_outbox() -> None:
    metadata = plugin.chassis_metadata()
    assert metadata is Base.metadata
    assert {"customers", "products", "orders", "order_items", "stock_reservations"} <= set(
        metadata.tables
    )
    assert "chassis_outbox" in metadata.tables


def test_chassis_lists_the_plugin_and_its_hooks() -> None:
    app = create_shop_app(ChassisSettings(database_url=None))
    result = CliRunner().invoke(build_cli(app), ["plugins"])
    assert result.exit_code == 0, result.output
    (line,) = [line for line in result.output.splitlines() if line.startswith("shop ")]
    assert "entry point" in line
    for hook in (
        "chassis_routers",
        "chassis_factories",
        "chassis_event_types",
        "chassis_middleware",
    ):
        assert hook in line
