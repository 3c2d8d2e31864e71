"""``chassis.outbox``: the built-in plugin that wires events into an application.

At start-up it builds the :class:`~fastapi_chassis.events.EventRegistry` from every
plugin's ``chassis_event_types`` hook and configures the application's
sessionmaker, so :func:`~fastapi_chassis.events.record_event` in a request
validates against the registry and stamps the service's ``source``. With
``events_relay_enabled`` it also runs an :class:`~fastapi_chassis.events.OutboxRelay`
in the background, publishing to what the ``chassis_event_publishers`` hooks
return, and stops it gracefully at shutdown.

It contributes:

* publishers from settings: a ``KafkaPublisher`` when
  ``events_kafka_bootstrap_servers`` is set, a ``LogPublisher`` with
  ``events_log_published``;
* the readiness check ``outbox_dead_letters`` (a warning, never a failure):
  dead letters block their aggregates until an operator acts;
* the ``chassis events ...`` and ``chassis cdc doctor`` commands.

Disable it with ``disabled_plugins=["chassis.outbox"]``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sqlalchemy import text

from fastapi_chassis.errors import ConfigurationError
from fastapi_chassis.events.claims import outbox_stats
from fastapi_chassis.events.outbox import OUTBOX_TABLE
from fastapi_chassis.events.publishers.base import Publisher
from fastapi_chassis.events.publishers.kafka import KafkaPublisher
from fastapi_chassis.events.publishers.log import LogPublisher
from fastapi_chassis.events.recording import configure_event_sessions
from fastapi_chassis.events.registry import EventRegistry
from fastapi_chassis.events.relay import OutboxRelay
from fastapi_chassis.plugins.contributions import CheckLevel, ReadinessCheck
from fastapi_chassis.plugins.manager import flatten
from fastapi_chassis.plugins.markers import hookimpl

if TYPE_CHECKING:
    import typer
    from fastapi import FastAPI

    from fastapi_chassis.app import ChassisState
    from fastapi_chassis.settings import ChassisSettings

__all__ = ["DEAD_LETTER_CHECK", "REGISTRY_KEY", "RELAY_KEY", "OutboxPlugin", "collect_publishers"]

logger = logging.getLogger("fastapi_chassis.events")

REGISTRY_KEY = "chassis.events.registry"
"""Where ``app.state.chassis.extras`` keeps the application's event registry."""

RELAY_KEY = "chassis.events.relay"
"""Where ``app.state.chassis.extras`` keeps the in-process relay, when it runs."""

DEAD_LETTER_CHECK = "outbox_dead_letters"
"""The name of the readiness check that warns about dead letters."""


def collect_publishers(state: ChassisState) -> list[Publisher]:
    """Return the publishers every plugin's ``chassis_event_publishers`` hook contributes.

    Raises:
        ConfigurationError: If a hook returned something that is not a publisher.
    """
    publishers: list[Publisher] = []
    for item in flatten(state.plugins.call("chassis_event_publishers", settings=state.settings)):
        if not isinstance(item, Publisher):
            raise ConfigurationError(
                f"chassis_event_publishers must return publishers "
                f"(name, start, stop, publish), got {item!r}"
            )
        publishers.append(item)
    return publishers


class OutboxPlugin:
    """The ``chassis.outbox`` built-in plugin (one instance per application)."""

    def __init__(self) -> None:
        self._state: ChassisState | None = None

    @hookimpl
    def chassis_event_publishers(self, settings: ChassisSettings) -> list[Publisher]:
        """Contribute the publishers the settings ask for."""
        publishers: list[Publisher] = []
        if settings.events_kafka_bootstrap_servers:
            publishers.append(KafkaPublisher.from_settings(settings))
        if settings.events_log_published:
            publishers.append(LogPublisher())
        return publishers

    @hookimpl
    async def chassis_startup(self, app: FastAPI) -> None:
        """Build the registry, configure the sessionmaker and start the relay if enabled.

        Raises:
            ConfigurationError: If the relay is enabled without a database or
                without publishers.
        """
        state: ChassisState = app.state.chassis
        self._state = state
        settings = state.settings
        registry = EventRegistry.from_plugins(state.plugins)
        state.extras[REGISTRY_KEY] = registry
        if state.sessionmaker is not None:
            configure_event_sessions(
                state.sessionmaker,
                source=settings.events_source or settings.service_name,
                dataschema_base_url=settings.events_schema_base_url,
                registry=registry,
            )
        if not settings.events_relay_enabled:
            return
        if state.sessionmaker is None:
            raise ConfigurationError("events_relay_enabled needs a database_url")
        publishers = collect_publishers(state)
        if not publishers:
            raise ConfigurationError(
                "events_relay_enabled is set but no plugin contributes a publisher: set "
                "events_kafka_bootstrap_servers, or return one from chassis_event_publishers"
            )
        relay = OutboxRelay.from_settings(settings, state.sessionmaker, publishers)
        await relay.start()
        state.extras[RELAY_KEY] = relay
        logger.info(
            "outbox relay %s started, publishing to %s",
            relay.name,
            ", ".join(publisher.name for publisher in publishers),
        )

    @hookimpl
    async def chassis_shutdown(self, app: FastAPI) -> None:
        """Stop the relay: the batch in flight settles, then the publishers disconnect."""
        state: ChassisState = app.state.chassis
        relay = state.extras.pop(RELAY_KEY, None)
        if isinstance(relay, OutboxRelay):
            await relay.stop()

    @hookimpl
    def chassis_readiness_checks(self, settings: ChassisSettings) -> list[ReadinessCheck]:
        """Warn in the readiness report while dead letters block aggregates."""
        del settings
        return [
            ReadinessCheck(
                DEAD_LETTER_CHECK,
                self._dead_letter_check,
                timeout=2.0,
                level=CheckLevel.WARN,
                cache_seconds=10.0,
            )
        ]

    async def _dead_letter_check(self) -> str | None:
        state = self._state
        if state is None or state.sessionmaker is None:
            return "no database"
        async with state.sessionmaker() as session:
            installed = await session.scalar(
                text("SELECT to_regclass(:table) IS NOT NULL"), {"table": f"public.{OUTBOX_TABLE}"}
            )
            if not installed:
                return "no outbox table"
            stats = await outbox_stats(session)
        if stats.dead_letters:
            raise RuntimeError(
                f"{stats.dead_letters} dead-lettered event(s) block their aggregates; "
                "see `chassis events dead-letters list`"
            )
        return f"{stats.pending} pending, oldest {stats.lag_seconds:.1f}s"

    @hookimpl
    def chassis_cli(self, cli: typer.Typer) -> None:
        """Add ``chassis events ...`` and ``chassis cdc ...``."""
        from fastapi_chassis.events.cli import cdc_cli, events_cli  # noqa: PLC0415

        cli.add_typer(events_cli, name="events")
        cli.add_typer(cdc_cli, name="cdc")
