"""The built-in ``chassis.outbox`` plugin inside applications made by create_app."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from fastapi_chassis import ChassisSettings, create_app, hookimpl
from fastapi_chassis.api import SessionDep
from fastapi_chassis.db import uuid7
from fastapi_chassis.events import DomainEvent, UnknownEventType, record_event
from fastapi_chassis.events.plugin import REGISTRY_KEY, RELAY_KEY
from fastapi_chassis.events.publishers import InMemoryPublisher, KafkaPublisher, LogPublisher
from fastapi_chassis.plugins import PluginError
from tests.api.conftest import running
from tests.events.events import OrderCancelled, OrderPlaced
from tests.events.publishers import FlakyPublisher


class Shop:
    """An application plugin: routes that record events, its types, a publisher."""

    name = "test.shop"

    def __init__(self, publisher: Any | None = None) -> None:
        self.publisher = publisher if publisher is not None else InMemoryPublisher()
        self.router = APIRouter()

        @self.router.post("/orders/{cents}")
        async def place(cents: int, session: SessionDep) -> dict[str, str]:
            event = OrderPlaced(aggregate_id=uuid7(), total_cents=cents)
            await record_event(session, event)
            return {"event": str(event.event_id)}

    @hookimpl
    def chassis_routers(self, version: str) -> list[APIRouter]:
        return [self.router] if version == "1" else []

    @hookimpl
    def chassis_event_types(self) -> list[type[DomainEvent]]:
        return [OrderPlaced]

    @hookimpl
    def chassis_event_publishers(self) -> list[Any]:
        return [self.publisher]


def build(url: str, plugin: Shop, **settings: Any) -> FastAPI:
    settings = {"service_name": "shop-service", "log_configure": False, **settings}
    return create_app(ChassisSettings(database_url=url, **settings), plugins=[plugin])


@pytest.fixture
def url(chassis_database_url: str, engine: Any) -> str:
    """The test database, its outbox emptied by the ``engine`` fixture."""
    del engine
    return chassis_database_url


@pytest.mark.asyncio
async def test_events_recorded_in_a_request_are_published_by_the_app_s_relay(url: str) -> None:
    shop = Shop()
    app = build(url, shop, events_relay_enabled=True, events_poll_interval=30.0)
    async with running(app) as client:
        relay = app.state.chassis.extras[RELAY_KEY]
        for _ in range(100):
            if relay.listening:
                break
            await asyncio.sleep(0.05)
        started = time.monotonic()
        response = await client.post("/orders/1200", headers={"X-Correlation-ID": "corr-42"})
        assert response.status_code == 200, response.text
        while not shop.publisher.published and time.monotonic() - started < 5:
            await asyncio.sleep(0.01)
    (envelope,) = shop.publisher.published
    assert envelope["id"] == response.json()["event"]
    assert envelope["source"] == "shop-service"
    assert envelope["correlationid"] == "corr-42"
    assert envelope["data"] == {"total_cents": 1200, "currency": "EUR"}
    assert time.monotonic() - started < 2, "woken by NOTIFY, not by the 30 s poll"
    assert RELAY_KEY not in app.state.chassis.extras, "stopped at shutdown"


@pytest.mark.asyncio
async def test_the_app_s_sessions_accept_registered_types_only(url: str) -> None:
    app = build(url, Shop())
    async with running(app) as client:
        answer = await client.get("/health/ready/outbox_dead_letters?verbose")
        assert answer.status_code == 200
        assert answer.json()["status"] == "pass"
        assert RELAY_KEY not in app.state.chassis.extras, "the relay is off by default"
        assert "shop.order.placed" in app.state.chassis.extras[REGISTRY_KEY]
        async with app.state.chassis.sessionmaker() as session:
            with pytest.raises(UnknownEventType):
                await record_event(session, OrderCancelled(aggregate_id=uuid7(), reason="x"))


@pytest.mark.asyncio
async def test_dead_letters_turn_readiness_into_a_warning(url: str) -> None:
    poison = OrderPlaced(aggregate_id=uuid7(), total_cents=1)
    shop = Shop(FlakyPublisher(lambda message: message.id == poison.event_id))
    app = build(url, shop, events_relay_enabled=True, events_max_attempts=1)
    async with running(app) as client:
        async with app.state.chassis.sessionmaker() as session:
            await record_event(session, poison)
            await session.commit()
        for _ in range(100):
            async with app.state.chassis.sessionmaker() as session:
                dead = await session.scalar(
                    text("SELECT count(*) FROM chassis_outbox WHERE dead_at IS NOT NULL")
                )
            if dead:
                break
            await asyncio.sleep(0.05)
        answer = await client.get("/health/ready/outbox_dead_letters?verbose")
        body = answer.json()
        assert answer.status_code == 200, "a warning keeps the service ready"
        assert body["status"] == "warn"
        assert "dead-lettered" in str(body)
        overall = await client.get("/health/ready")
        assert overall.status_code == 200


@pytest.mark.asyncio
async def test_the_relay_needs_a_publisher(url: str) -> None:
    class Quiet:
        name = "test.quiet"

    app = create_app(
        ChassisSettings(database_url=url, events_relay_enabled=True, log_configure=False),
        plugins=[Quiet()],
    )
    with pytest.raises(PluginError, match="no plugin contributes a publisher"):
        async with running(app):
            pass


def test_settings_contribute_kafka_and_log_publishers() -> None:
    app = create_app(
        ChassisSettings(
            events_kafka_bootstrap_servers=["redpanda:9092"],
            events_log_published=True,
            log_configure=False,
        )
    )
    plugin = app.state.chassis.plugins.get_plugin("chassis.outbox")
    publishers = plugin.chassis_event_publishers(app.state.chassis.settings)
    assert [type(p) for p in publishers] == [KafkaPublisher, LogPublisher]


def test_the_plugin_can_be_switched_off() -> None:
    app = create_app(ChassisSettings(disabled_plugins=["chassis.outbox"], log_configure=False))
    assert app.state.chassis.plugins.get_plugin("chassis.outbox") is None


@pytest.mark.asyncio
async def test_several_apps_with_relays_share_the_process_metrics(url: str) -> None:
    apps = [build(url, Shop(), events_relay_enabled=True, service_name=f"svc{n}") for n in (1, 2)]
    async with running(apps[0]), running(apps[1]):
        names = {app.state.chassis.extras[RELAY_KEY].name for app in apps}
    assert names == {"svc1-outbox-relay", "svc2-outbox-relay"}


@pytest.mark.asyncio
async def test_an_unreachable_broker_does_not_keep_the_app_from_starting(url: str) -> None:
    class NoPublishers:
        name = "test.no-publishers"

        @hookimpl
        def chassis_event_types(self) -> list[type[DomainEvent]]:
            return [OrderPlaced]

    app = create_app(
        ChassisSettings(
            database_url=url,
            events_relay_enabled=True,
            events_kafka_bootstrap_servers=["127.0.0.1:9"],
            events_kafka_idempotence=False,
            log_configure=False,
        ),
        plugins=[NoPublishers()],
    )
    started = time.monotonic()
    async with running(app) as client:
        assert (await client.get("/health/live")).status_code == 200
        async with app.state.chassis.sessionmaker() as session:
            await record_event(session, OrderPlaced(aggregate_id=uuid7(), total_cents=1))
            await session.commit()
        await asyncio.sleep(0.3)
    assert time.monotonic() - started < 10
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        pending = await connection.scalar(
            text("SELECT count(*) FROM chassis_outbox WHERE published_at IS NULL")
        )
    await engine.dispose()
    assert pending == 1, "the event waits in the outbox"
