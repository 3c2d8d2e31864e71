from __future__ import annotations

from typing import ClassVar

import pytest

from fastapi_chassis.events import DomainEvent, InvalidEventDefinition
from fastapi_chassis.events.naming import (
    IRREGULAR_PAST_PARTICIPLES,
    aggregate_type_of,
    check_event_type,
    parse_schema_version,
)


@pytest.mark.parametrize(
    "event_type",
    [
        "shop.order.placed",
        "billing.invoice.paid",
        "catalog.product.price_changed",
        "shop.order_line.added",
        "auth.user2.created",
        "mail.message.sent",
        "docs.page.rewritten",
    ],
)
def test_well_formed_types_pass(event_type: str) -> None:
    check_event_type(event_type)


@pytest.mark.parametrize(
    ("event_type", "complaint"),
    [
        ("shop.order", "three lowercase parts"),
        ("shop.order.line.added", "three lowercase parts"),
        ("Shop.order.placed", "three lowercase parts"),
        ("shop.order.", "three lowercase parts"),
        ("shop..placed", "three lowercase parts"),
        ("shop.2order.placed", "three lowercase parts"),
        ("shop.order.place", "past-tense verb"),
        ("shop.order.ship", "past-tense verb"),
        ("catalog.product.price_change", "past-tense verb"),
        ("shop.order.placing", "past-tense verb"),
    ],
)
def test_malformed_types_are_rejected_with_the_rule(event_type: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        check_event_type(event_type)


def test_irregular_participles_are_accepted_and_listed() -> None:
    for verb in ("paid", "sent", "sold", "built", "withdrawn"):
        assert verb in IRREGULAR_PAST_PARTICIPLES
        check_event_type(f"shop.order.{verb}")


def test_schema_versions_are_major_dot_minor_and_compare_numerically() -> None:
    assert parse_schema_version("1.0") == (1, 0)
    assert parse_schema_version("2.10") > parse_schema_version("2.9")
    assert str(parse_schema_version("3.4")) == "3.4"
    for bad in ("1", "1.0.0", "v1.0", "01.0", "1.a", ""):
        with pytest.raises(ValueError, match="major"):
            parse_schema_version(bad)


def test_the_aggregate_type_is_the_first_two_parts() -> None:
    assert aggregate_type_of("shop.order.placed") == "shop.order"


def test_a_misnamed_event_class_fails_when_it_is_defined() -> None:
    with pytest.raises(InvalidEventDefinition, match="past-tense"):

        class OrderPlace(DomainEvent):
            event_type: ClassVar[str] = "shop.order.place"

    with pytest.raises(InvalidEventDefinition, match="major"):

        class OrderPlacedBadVersion(DomainEvent):
            event_type: ClassVar[str] = "shop.order.placed"
            schema_version: ClassVar[str] = "1"


def test_type_and_version_must_be_class_variables() -> None:
    with pytest.raises(InvalidEventDefinition, match="ClassVar"):

        class Misdeclared(DomainEvent):
            event_type: str = "shop.order.placed"  # type: ignore[misc]


def test_classes_without_a_type_are_abstract_bases() -> None:
    class ShopEvent(DomainEvent):
        shop_id: int

    class Placed(ShopEvent):
        event_type: ClassVar[str] = "shop.order.placed"

    assert not ShopEvent.is_concrete()
    assert Placed.is_concrete()
    assert Placed.schema_version == "1.0"
    assert list(Placed.model_fields) == ["aggregate_id", "event_id", "occurred_at", "shop_id"]
