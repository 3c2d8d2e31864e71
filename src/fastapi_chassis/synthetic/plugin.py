"""The built-in ``chassis.synthetic`` plugin: scenarios, the ``synth`` commands and the endpoints.

It contributes the built-in scenarios, adds ``chassis synth`` to the command
line, and, when ``synthetic_endpoints_enabled`` is set, serves the REST
endpoints (outside API versioning) and owns their background runs. It refuses to
build an application that enables the endpoints in production: loading
synthetic data there is never intended.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi_chassis.errors import ConfigurationError
from fastapi_chassis.plugins.markers import hookimpl
from fastapi_chassis.synthetic.catalog import role_factories, scenario_catalog
from fastapi_chassis.synthetic.router import RUNS_KEY, build_router
from fastapi_chassis.synthetic.runs import SyntheticRuns
from fastapi_chassis.synthetic.scenarios import BUILTIN_SCENARIOS, Scenario

if TYPE_CHECKING:
    import typer
    from fastapi import FastAPI

    from fastapi_chassis.app import ChassisState
    from fastapi_chassis.settings import ChassisSettings

__all__ = ["SyntheticPlugin"]


class SyntheticPlugin:
    """Built-in plugin for synthetic data (registered as ``chassis.synthetic``)."""

    @hookimpl
    def chassis_scenarios(self) -> tuple[Scenario, ...]:
        """Contribute ``steady``, ``seasonal`` and ``black-friday``."""
        return BUILTIN_SCENARIOS

    @hookimpl
    def chassis_cli(self, cli: typer.Typer) -> None:
        """Add the ``synth`` command group."""
        from fastapi_chassis.synthetic.commands import synth  # noqa: PLC0415 - typer on demand

        cli.add_typer(synth, name="synth")

    @hookimpl
    def chassis_configure_app(self, app: FastAPI, settings: ChassisSettings) -> None:
        """Serve the endpoints when enabled; refuse to in production.

        Raises:
            ConfigurationError: If the endpoints are enabled in production.
        """
        if not settings.synthetic_endpoints_enabled:
            return
        if settings.environment == "production":
            raise ConfigurationError(
                "synthetic_endpoints_enabled is set in the production environment; the "
                "synthetic-data endpoints write generated rows into the database and never "
                "run in production (unset CHASSIS_SYNTHETIC_ENDPOINTS_ENABLED)"
            )
        app.include_router(build_router(settings.synthetic_max_scale))

    @hookimpl
    def chassis_startup(self, app: FastAPI) -> None:
        """Set up the run registry the endpoints use."""
        state: ChassisState = app.state.chassis
        if not state.settings.synthetic_endpoints_enabled:
            return
        state.extras[RUNS_KEY] = SyntheticRuns(
            state.engine, role_factories(state.plugins), scenario_catalog(state.plugins)
        )

    @hookimpl
    async def chassis_shutdown(self, app: FastAPI) -> None:
        """Cancel the run in progress, so that its transaction rolls back."""
        state: ChassisState = app.state.chassis
        runs = state.extras.pop(RUNS_KEY, None)
        if isinstance(runs, SyntheticRuns):
            await runs.close()
