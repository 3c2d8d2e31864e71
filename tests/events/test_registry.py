from __future__ import annotations

from typing import ClassVar

import pytest
from jsonschema import Draft202012Validator

from fastapi_chassis import hookimpl
from fastapi_chassis.db import uuid7
from fastapi_chassis.errors import ConfigurationError
from fastapi_chassis.events import (
    DomainEvent,
    DuplicateEventType,
    EventRegistry,
    EventValidationError,
    InvalidEventDefinition,
    UnknownEventType,
)
from fastapi_chassis.events.registry import validate_event
from fastapi_chassis.plugins import ChassisPluginManager
from tests.events.events import ALL_EVENTS, OrderCancelled, OrderPlaced


class OrderPlacedV2(DomainEvent):
    """A customer placed an order (amounts with currency per line)."""

    event_type: ClassVar[str] = "shop.order.placed"
    schema_version: ClassVar[str] = "2.0"

    total_cents: int
    currency: str
    channel: str


def test_types_register_directly_with_their_versions() -> None:
    registry = EventRegistry([OrderPlaced, OrderCancelled])
    registry.register(OrderPlacedV2, OrderPlaced)
    assert registry.event_types() == ["shop.order.cancelled", "shop.order.placed"]
    assert registry.versions("shop.order.placed") == ["1.0", "2.0"]
    assert registry.get("shop.order.placed") is OrderPlacedV2
    assert registry.get("shop.order.placed", "1.0") is OrderPlaced
    assert len(registry) == 3
    assert "shop.order.placed" in registry
    assert list(registry) == [OrderCancelled, OrderPlaced, OrderPlacedV2]


def test_unknown_types_and_versions_are_reported() -> None:
    registry = EventRegistry([OrderPlaced])
    with pytest.raises(UnknownEventType, match="not registered"):
        registry.get("shop.order.cancelled")
    with pytest.raises(UnknownEventType, match=r"registered: \['1.0'\]"):
        registry.get("shop.order.placed", "3.0")


def test_two_classes_cannot_claim_one_type_and_version() -> None:
    class Impostor(DomainEvent):
        event_type: ClassVar[str] = "shop.order.placed"

    with pytest.raises(DuplicateEventType, match="Impostor"):
        EventRegistry([OrderPlaced, Impostor])


def test_only_concrete_event_classes_register() -> None:
    class Base(DomainEvent):
        pass

    with pytest.raises(InvalidEventDefinition, match="no event_type"):
        EventRegistry([Base])
    with pytest.raises(InvalidEventDefinition, match="not a DomainEvent"):
        EventRegistry([dict])  # type: ignore[list-item]


def test_exported_schemas_are_valid_draft_2020_12_and_match_the_data() -> None:
    registry = EventRegistry([*ALL_EVENTS, OrderPlacedV2])
    for event_class in registry:
        schema = registry.json_schema(event_class.event_type, event_class.schema_version)
        Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(registry.json_schema("shop.order.placed", "1.0"))
    assert validator.is_valid(OrderPlaced(aggregate_id=uuid7(), total_cents=5).data())
    assert not validator.is_valid({"total_cents": -1})
    assert not validator.is_valid({"total_cents": "5"})


def test_validation_rejects_what_the_constructor_let_through() -> None:
    registry = EventRegistry([OrderPlaced])
    constructed = OrderPlaced.model_construct(
        aggregate_id=uuid7(),
        event_id=uuid7(),
        occurred_at=None,  # type: ignore[arg-type]
        total_cents="lots",  # type: ignore[arg-type]
    )
    with pytest.raises(EventValidationError) as raised:
        registry.validate(constructed)
    assert raised.value.event_type == "shop.order.placed"
    assert any("total_cents" in problem for problem in raised.value.errors)


def test_values_that_do_not_survive_json_are_rejected() -> None:
    class Measured(DomainEvent):
        event_type: ClassVar[str] = "lab.sample.measured"
        value: float

    with pytest.raises(EventValidationError, match="value"):
        validate_event(Measured(aggregate_id=uuid7(), value=float("nan")))


def test_the_registry_refuses_unregistered_types_and_versions() -> None:
    registry = EventRegistry([OrderPlaced])
    with pytest.raises(UnknownEventType, match="chassis_event_types"):
        registry.validate(OrderCancelled(aggregate_id=uuid7(), reason="x"))
    with pytest.raises(UnknownEventType):
        registry.validate(
            OrderPlacedV2(aggregate_id=uuid7(), total_cents=1, currency="EUR", channel="web")
        )


def test_validated_events_are_in_canonical_json_form() -> None:
    event = OrderPlaced(aggregate_id=uuid7(), total_cents=7)
    validated = EventRegistry([OrderPlaced]).validate(event)
    assert validated.event_class is OrderPlaced
    assert validated.data == {"total_cents": 7, "currency": "EUR"}
    assert validated.fields["aggregate_id"] == str(event.aggregate_id)


def test_plugins_contribute_types_through_the_hook() -> None:
    class ShopEvents:
        @hookimpl
        def chassis_event_types(self) -> list[type[DomainEvent]]:
            return [OrderPlaced, OrderCancelled]

    class Billing:
        @hookimpl
        def chassis_event_types(self) -> type[DomainEvent]:
            return OrderPlacedV2

    manager = ChassisPluginManager()
    manager.register(ShopEvents(), "shop")
    manager.register(Billing(), "billing")
    registry = EventRegistry.from_plugins(manager)
    assert registry.versions("shop.order.placed") == ["1.0", "2.0"]

    class Broken:
        @hookimpl
        def chassis_event_types(self) -> list[object]:
            return ["shop.order.placed"]

    manager.register(Broken(), "broken")
    with pytest.raises(ConfigurationError, match="DomainEvent subclasses"):
        EventRegistry.from_plugins(manager)


def test_consecutive_registered_versions_are_checked() -> None:
    class OrderPlacedV11(DomainEvent):
        event_type: ClassVar[str] = "shop.order.placed"
        schema_version: ClassVar[str] = "1.1"
        total_cents: str

    checks = EventRegistry([OrderPlaced, OrderPlacedV11]).check_versions()
    assert len(checks) == 1
    assert not checks[0].ok
    assert "major version bump" in checks[0].problems[0]
