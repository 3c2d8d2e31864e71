"""Matching captured events: types, aggregates, payload fields in their JSON form."""

from __future__ import annotations

import datetime
import decimal
from uuid import UUID

import pytest

from fastapi_chassis.testing.events import CapturedEvent, EventList

ORDER = UUID("01964f4c-8a40-7e55-b0c4-6f1f3a2d8e77")
CUSTOMER = UUID("01964f4c-8a40-7e55-b0c4-6f1f3a2d8e78")


def envelope(event_type: str, subject: UUID, **data: object) -> dict[str, object]:
    return {
        "specversion": "1.0",
        "id": "01964f4c-8a4e-7c3a-9f1e-2b7d5c0e9a11",
        "source": "shop",
        "type": event_type,
        "subject": str(subject),
        "data": data,
    }


PLACED = CapturedEvent.from_envelope(
    envelope(
        "shop.order.placed",
        ORDER,
        total="12.50",
        customer_id=str(CUSTOMER),
        placed_at="2024-01-01T00:00:00Z",
        lines=2,
    )
)
SHIPPED = CapturedEvent.from_envelope(envelope("shop.order.shipped", ORDER, carrier="post"))
OTHER = CapturedEvent.from_envelope(envelope("shop.order.placed", CUSTOMER, total="1.00"))


def test_an_envelope_becomes_an_event() -> None:
    assert PLACED.type == "shop.order.placed"
    assert PLACED.aggregate_type == "shop.order"
    assert PLACED.aggregate_id == ORDER
    assert PLACED.id == UUID("01964f4c-8a4e-7c3a-9f1e-2b7d5c0e9a11")
    assert PLACED.data["lines"] == 2
    assert PLACED.envelope["source"] == "shop"


def test_expected_values_are_compared_in_their_json_form() -> None:
    assert PLACED.matches(
        "shop.order.placed",
        aggregate_id=ORDER,
        total=decimal.Decimal("12.50"),
        customer_id=CUSTOMER,
        placed_at=datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC),
    )
    assert PLACED.matches(aggregate_id=str(ORDER), lines=2)
    assert not PLACED.matches(total=decimal.Decimal("12.51"))
    assert not PLACED.matches(missing=None)
    assert not PLACED.matches("shop.order.shipped")
    assert not PLACED.matches(aggregate_id=CUSTOMER)


def test_lists_filter_by_type_and_aggregate() -> None:
    events = EventList([PLACED, SHIPPED, OTHER])

    assert events.types == ["shop.order.placed", "shop.order.shipped", "shop.order.placed"]
    assert events.of_type("shop.order.placed") == [PLACED, OTHER]
    assert events.for_aggregate(ORDER) == [PLACED, SHIPPED]
    assert events.matching(total="1.00") == [OTHER]
    assert events[1:] == EventList([SHIPPED, OTHER])
    assert events[0] is PLACED


def test_find_returns_the_first_match() -> None:
    events = EventList([PLACED, SHIPPED, OTHER])

    assert events.find("shop.order.placed") is PLACED
    assert events.find("shop.order.placed", aggregate_id=CUSTOMER) is OTHER
    assert events.find("shop.order.placed", count=2) is PLACED


def test_a_failed_find_lists_what_there_is() -> None:
    events = EventList([PLACED, SHIPPED])

    with pytest.raises(AssertionError) as caught:
        events.find("shop.order.placed", what="published", total=decimal.Decimal("99"))

    message = str(caught.value)
    assert message.startswith("expected published shop.order.placed {'total': '99'} none found")
    assert f"shop.order.shipped {ORDER} {{'carrier': 'post'}}" in message
    with pytest.raises(AssertionError, match=r"1 time\(s\), found 2"):
        EventList([PLACED, OTHER]).find("shop.order.placed", count=1)
    with pytest.raises(AssertionError, match=r"\(nothing\)"):
        EventList().find("shop.order.placed")
