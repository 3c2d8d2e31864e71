"""An application whose relay ``chassis events relay`` runs in a child process in the tests."""

from __future__ import annotations

from fastapi import FastAPI

from fastapi_chassis import create_app, hookimpl
from fastapi_chassis.events import DomainEvent
from fastapi_chassis.events.publishers import InMemoryPublisher
from tests.events.events import ALL_EVENTS


class RelayAppEvents:
    """The application's event types, published to memory."""

    name = "test.relay-app-events"

    @hookimpl
    def chassis_event_types(self) -> list[type[DomainEvent]]:
        return list(ALL_EVENTS)

    @hookimpl
    def chassis_event_publishers(self) -> list[InMemoryPublisher]:
        return [InMemoryPublisher()]


def create_relay_app() -> FastAPI:
    """The application, with settings from the environment (``CHASSIS_DATABASE_URL``)."""
    return create_app(plugins=[RelayAppEvents()])
