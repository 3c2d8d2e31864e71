"""The event catalog (Markdown, JSON) and the AsyncAPI document built from the registry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import jsonschema
from jsonschema import Draft7Validator, Draft202012Validator
from pydantic import BaseModel, ConfigDict, Field

from fastapi_chassis.events import DomainEvent, EventRegistry
from fastapi_chassis.events.asyncapi import asyncapi_document
from fastapi_chassis.events.catalog import build_catalog, catalog_json, catalog_markdown
from tests.events.events import ALL_EVENTS

ASYNCAPI_SCHEMA = json.loads(
    (Path(__file__).parent / "data" / "asyncapi-3.0.0.schema.json").read_text()
)


class Line(BaseModel):
    sku: str = Field(examples=["MUG-1"])
    quantity: int = Field(ge=1)


class OrderPlacedV2(DomainEvent):
    """A customer placed an order, with its lines.

    Replaces 1.0: amounts are per line.
    """

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"lines": [{"sku": "MUG-1", "quantity": 2}]}]}
    )

    event_type: ClassVar[str] = "shop.order.placed"
    schema_version: ClassVar[str] = "2.0"

    lines: list[Line]


class ParcelShipped(DomainEvent):
    """A parcel left the warehouse."""

    event_type: ClassVar[str] = "logistics.parcel.shipped"

    carrier: str = Field(pattern=r"^[A-Z]{3}$", examples=["DHL"])
    weight_grams: int = Field(gt=0, le=30_000)
    lines: list[Line]
    tracking: dict[str, str] | None = None


def registry() -> EventRegistry:
    return EventRegistry([*ALL_EVENTS, OrderPlacedV2, ParcelShipped])


def entries() -> list[Any]:
    return build_catalog(
        registry(),
        producer="shop-service",
        topic_template="events.{aggregate_type}",
        dataschema_base_url="https://schemas.example.com/events",
    )


def test_every_type_is_described_with_its_versions_topic_and_producer() -> None:
    catalog = {entry.event_type: entry for entry in entries()}
    placed = catalog["shop.order.placed"]
    assert [version.version for version in placed.versions] == ["1.0", "2.0"]
    assert placed.topic == "events.shop.order"
    assert placed.producer == "shop-service"
    assert (
        placed.description
        == "A customer placed an order, with its lines.\n\nReplaces 1.0: amounts are per line."
    )
    assert placed.versions[1].dataschema == (
        "https://schemas.example.com/events/shop.order.placed/2.0.json"
    )
    assert placed.versions[1].schema["$id"] == placed.versions[1].dataschema


def test_examples_are_valid_events_and_match_their_schemas() -> None:
    events = registry()
    for entry in entries():
        for version in entry.versions:
            example = version.example
            assert example["type"] == entry.event_type
            assert example["schemaversion"] == version.version
            assert example["source"] == "shop-service"
            Draft202012Validator(version.schema).validate(example["data"])
            event_class = events.get(entry.event_type, version.version)
            assert event_class.from_cloudevent(example).event_type == entry.event_type


def test_model_and_field_examples_are_used() -> None:
    catalog = {entry.event_type: entry for entry in entries()}
    placed_v2 = catalog["shop.order.placed"].versions[1].example["data"]
    assert placed_v2 == {"lines": [{"sku": "MUG-1", "quantity": 2}]}
    shipped = catalog["logistics.parcel.shipped"].versions[0].example["data"]
    assert shipped["carrier"] == "DHL"
    assert shipped["weight_grams"] == 1
    assert shipped["lines"] == [{"sku": "MUG-1", "quantity": 1}]


def test_the_markdown_page_has_a_section_per_type_with_schema_and_example() -> None:
    page = catalog_markdown(entries(), title="Shop events")
    assert page.startswith("# Shop events\n")
    assert "| [`shop.order.placed`](#shoporderplaced) | 1.0, 2.0 | `events.shop.order` |" in page
    assert "## logistics.parcel.shipped" in page
    assert "### shop.order.placed 2.0" in page
    assert page.index("### shop.order.placed 2.0") < page.index("### shop.order.placed 1.0")
    assert '"weight_grams": {' in page
    assert catalog_markdown([]).endswith("No event types are registered.\n")


def test_the_json_catalog_is_machine_readable() -> None:
    document = json.loads(json.dumps(catalog_json(entries())))
    types = [event["type"] for event in document["events"]]
    assert types == sorted(types)
    placed = next(event for event in document["events"] if event["type"] == "shop.order.placed")
    assert placed["aggregateType"] == "shop.order"
    assert [version["version"] for version in placed["versions"]] == ["1.0", "2.0"]


def test_the_asyncapi_document_is_valid_asyncapi_3() -> None:
    document = asyncapi_document(entries(), title="shop-service events", version="1.4.0")
    jsonschema.validate(document, ASYNCAPI_SCHEMA, cls=Draft7Validator)
    assert document["asyncapi"] == "3.0.0"
    assert set(document["channels"]) == {"billing.payment", "logistics.parcel", "shop.order"}
    channel = document["channels"]["shop.order"]
    assert channel["address"] == "events.shop.order"
    assert set(channel["messages"]) == {
        "shop.order.cancelled-1.0",
        "shop.order.placed-1.0",
        "shop.order.placed-2.0",
    }
    message = document["components"]["messages"]["shop.order.placed-2.0"]
    assert message["bindings"]["kafka"]["key"]["format"] == "uuid"
    assert message["contentType"] == "application/cloudevents+json"
    operation = document["operations"]["publish-shop.order"]
    assert operation["action"] == "send"
    assert len(operation["messages"]) == 3


def test_every_asyncapi_reference_resolves_and_payloads_accept_the_examples() -> None:
    document = asyncapi_document(entries(), title="shop-service events", version="1.4.0")

    def resolve(reference: str) -> Any:
        target: Any = document
        for part in reference.removeprefix("#/").split("/"):
            target = target[part]
        return target

    def references(node: Any) -> list[str]:
        if isinstance(node, dict):
            found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
            return found + [ref for value in node.values() for ref in references(value)]
        if isinstance(node, list):
            return [ref for item in node for ref in references(item)]
        return []

    for reference in references(document):
        resolve(reference)
    resolver_schema = {"components": document["components"]}
    for name, message in document["components"]["messages"].items():
        payload = {**resolve(message["payload"]["$ref"]), **resolver_schema}
        Draft202012Validator(payload).validate(message["examples"][0]["payload"])
        assert name.startswith(message["name"])
