"""The pytest entry point: registers options and, when usable, the fixtures.

Loaded in every pytest run of every project that has fastapi-chassis installed,
so it imports only pytest and the standard library, touches no database and
warns about nothing. The fixtures module is registered when pytest-asyncio is
present; without it, the same fixture names explain what to install. Factory
fixtures are registered after collection, and only when a test asks for a
``*_factory`` fixture nothing else defines: finding them means importing the
application.
"""

from __future__ import annotations

import pytest

INI_METADATA = "chassis_metadata"
INI_SCHEMA = "chassis_schema"
INI_ALEMBIC = "chassis_alembic_ini"
INI_APP = "chassis_app"
INI_FACTORIES = "chassis_factories"
OPTION_REBUILD = "chassis_rebuild_template"

_FACTORY_SUFFIX = "_factory"


def pytest_addoption(parser: pytest.Parser) -> None:
    """Declare the plugin's ini options and its command-line flag."""
    parser.addini(
        INI_METADATA,
        "module:attribute of the MetaData (or declarative base) whose tables the "
        "test database is created with (default: the application's chassis_metadata "
        "hook, else fastapi_chassis.db:Base)",
        default="",
    )
    parser.addini(
        INI_SCHEMA,
        "how the test database's schema is built: create_all (metadata.create_all "
        "and install_audit, the default) or alembic (alembic upgrade head)",
        default="create_all",
    )
    parser.addini(
        INI_ALEMBIC,
        "path of alembic.ini (relative to the ini file), for chassis_schema = alembic "
        "and the migration checks",
        default="",
    )
    parser.addini(
        INI_APP,
        "module:attribute of the application (made by create_app) or of a function "
        "returning it, for the client fixture and factory fixtures",
        default="",
    )
    parser.addini(
        INI_FACTORIES,
        "factories that become fixtures: lines of package.module (every factory in "
        "it) or package.module:ProductFactory",
        type="linelist",
        default=[],
    )
    group = parser.getgroup("fastapi-chassis")
    group.addoption(
        "--chassis-rebuild-template",
        action="store_true",
        dest=OPTION_REBUILD,
        default=False,
        help="rebuild the template database even if its fingerprint matches",
    )


class FactoryFixtureLoader:
    """Registers the factory fixtures once collection shows a test wants one."""

    @staticmethod
    def wanted(items: list[pytest.Item]) -> bool:
        """Whether an item asks for a ``*_factory`` fixture that nothing defines."""
        for item in items:
            names = getattr(item, "fixturenames", ())
            info = getattr(item, "_fixtureinfo", None)
            defined = getattr(info, "name2fixturedefs", {})
            if any(name.endswith(_FACTORY_SUFFIX) and name not in defined for name in names):
                return True
        return False

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(
        self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        """Register the factory fixtures if some test wants one."""
        del session
        configured = config.getini(INI_FACTORIES) or config.getini(INI_APP)
        if configured and self.wanted(items):
            from fastapi_chassis.testing.factories import (  # noqa: PLC0415
                register_factory_fixtures,
            )

            register_factory_fixtures(config)


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    """Register the fixtures (or their stand-ins when pytest-asyncio is missing)."""
    if config.pluginmanager.hasplugin("asyncio"):
        from fastapi_chassis.testing import fixtures  # noqa: PLC0415

        config.pluginmanager.register(fixtures, "fastapi_chassis.fixtures")
        config.pluginmanager.register(FactoryFixtureLoader(), "fastapi_chassis.factory_loader")
    else:
        from fastapi_chassis.testing import unavailable  # noqa: PLC0415

        config.pluginmanager.register(unavailable, "fastapi_chassis.fixtures")
