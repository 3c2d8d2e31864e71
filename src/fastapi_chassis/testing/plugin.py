"""The pytest entry point: registers options and, when usable, the fixtures.

Loaded in every pytest run of every project that has fastapi-chassis installed,
so it imports only pytest and the standard library, touches no database and
warns about nothing. The fixtures module is registered when pytest-asyncio is
present; without it, the same fixture names explain what to install.
"""

from __future__ import annotations

import pytest

INI_METADATA = "chassis_metadata"


def pytest_addoption(parser: pytest.Parser) -> None:
    """Declare the plugin's ini options."""
    parser.addini(
        INI_METADATA,
        "module:attribute of the MetaData (or declarative base) whose tables the "
        "test database is created with (default: fastapi_chassis.db:Base)",
        default="",
    )


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    """Register the fixtures (or their stand-ins when pytest-asyncio is missing)."""
    if config.pluginmanager.hasplugin("asyncio"):
        from fastapi_chassis.testing import fixtures  # noqa: PLC0415

        config.pluginmanager.register(fixtures, "fastapi_chassis.fixtures")
    else:
        from fastapi_chassis.testing import unavailable  # noqa: PLC0415

        config.pluginmanager.register(unavailable, "fastapi_chassis.fixtures")
