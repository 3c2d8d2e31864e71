"""Domain events: recorded in the outbox with their change, published by the relay."""

import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from fastapi import FastAPI
from fastapi_chassis.app import chassis_state
from fastapi_chassis.cli import build_cli
from fastapi_chassis.events import DomainEvent, EventRegistry, UnknownEventType, record_event
from fastapi_chassis.testing import CapturedEvents, CommittedDatabase
from typer.testing import CliRunner

from shop.events import EVENT_TYPES
from shop.plugin import chassis_event_types

Json = dict[str, Any]
Make = Callable[..., Awaitable[Json]]


@pytest.mark.asyncio
async def test_an_orders_events_are_recorded_and_published_in_order(
    client: httpx.AsyncClient,
    captured_events: CapturedEvents,
    new_customer: Make,
    new_product: Make,
) -> None:
    product = await new_product(client, stock_on_hand=3, price_cents=700)
    customer = await new_customer(client)
    placed = await client.post(
        "/orders",
        json={
            "customer_id": customer["id"],
            "lines": [{"product_id": product["id"], "quantity": 2}],
        },
        headers={"X-Correlation-ID": "checkout-42"},
    )
    order_id = placed.json()["id"]
    await client.post(f"/orders/{order_id}/pay")
    await client.post(f"/orders/{order_id}/ship")
    etag = (await client.get(f"/products/{product['id']}")).headers["ETag"]
    await client.patch(
        f"/products/{product['id']}", json={"price_cents": 650}, headers={"If-Match": etag}
    )

    await captured_events.assert_recorded(
        "shop.order.placed", aggregate_id=order_id, total_cents=1400, currency="EUR"
    )
    await captured_events.assert_recorded(
        "shop.product.price_changed",
        aggregate_id=product["id"],
        old_price_cents=700,
        new_price_cents=650,
    )

    # Events committed by earlier tests may be pending too: the relay takes them all.
    assert await captured_events.relay() >= 6
    published = captured_events.published
    assert published.for_aggregate(order_id).types == [
        "shop.order.placed",
        "shop.order.paid",
        "shop.order.shipped",
    ]
    # Stock and catalogue are two aggregates of the product: each keeps its own order.
    stock = published.for_aggregate(product["id"]).of_type("shop.inventory.adjusted")
    assert [event.data for event in stock] == [
        {"delta": 3, "on_hand": 3, "reason": "initial stock"},
        {"delta": -2, "on_hand": 1, "reason": f"shipped order {order_id}"},
    ]


@pytest.mark.asyncio
async def test_published_events_are_cloudevents_of_the_shop(
    committed_db: CommittedDatabase,
    client: httpx.AsyncClient,
    captured_events: CapturedEvents,
    new_customer: Make,
    new_product: Make,
) -> None:
    product = await new_product(client, stock_on_hand=1)
    customer = await new_customer(client)
    placed = await client.post(
        "/orders",
        json={
            "customer_id": customer["id"],
            "lines": [{"product_id": product["id"], "quantity": 1}],
        },
        headers={"X-Correlation-ID": "checkout-43"},
    )
    order_id = placed.json()["id"]

    await captured_events.relay()

    event = captured_events.assert_published("shop.order.placed", aggregate_id=order_id)
    envelope = event.envelope
    assert envelope["specversion"] == "1.0"
    assert envelope["source"] == "shop"
    assert envelope["subject"] == order_id
    assert envelope["correlationid"] == "checkout-43"
    assert envelope["dataschema"] == "urn:schema:shop.order.placed:1.0"


@pytest.mark.asyncio
async def test_a_refused_order_records_no_event(
    client: httpx.AsyncClient,
    captured_events: CapturedEvents,
    new_customer: Make,
    new_product: Make,
) -> None:
    product = await new_product(client, stock_on_hand=0)
    customer = await new_customer(client)
    refused = await client.post(
        "/orders",
        json={
            "customer_id": customer["id"],
            "lines": [{"product_id": product["id"], "quantity": 1}],
        },
    )
    assert refused.status_code == 409
    assert not (await captured_events.of_type("shop.order.placed"))


def test_the_plugin_registers_every_event_type() -> None:
    registry = EventRegistry(chassis_event_types())
    assert {event.event_type for event in EVENT_TYPES} == {
        "shop.order.placed",
        "shop.order.paid",
        "shop.order.shipped",
        "shop.order.cancelled",
        "shop.inventory.adjusted",
        "shop.product.price_changed",
    }
    for event in EVENT_TYPES:
        schema = registry.json_schema(event.event_type, event.schema_version)
        assert schema["$schema"].endswith("2020-12/schema")


class StrayEvent(DomainEvent):
    """An event no plugin registered."""

    event_type: ClassVar[str] = "shop.stray.happened"


@pytest.mark.asyncio
async def test_the_applications_sessions_accept_only_registered_events(
    client: httpx.AsyncClient, chassis_app: FastAPI
) -> None:
    sessionmaker = chassis_state(chassis_app).sessionmaker
    assert sessionmaker is not None
    async with sessionmaker() as session:
        with pytest.raises(UnknownEventType):
            await record_event(session, StrayEvent(aggregate_id=uuid.uuid4()))


def test_the_event_schemas_match_their_committed_snapshots(
    chassis_app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `chassis events check` in CI: a breaking change needs a new major version.
    monkeypatch.chdir(Path(__file__).parents[2])
    result = CliRunner().invoke(build_cli(chassis_app), ["events", "check"])
    assert result.exit_code == 0, result.output
    assert "consistent" in result.output
