from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from fastapi_chassis.db import uuid7
from fastapi_chassis.events.domain_event import JSON_SCHEMA_DIALECT
from fastapi_chassis.events.recording import RecordingSettings
from tests.events.events import OrderPlaced


def test_instances_carry_an_aggregate_id_a_v7_id_and_an_aware_time() -> None:
    aggregate_id = uuid7()
    first = OrderPlaced(aggregate_id=aggregate_id, total_cents=1200)
    second = OrderPlaced(aggregate_id=aggregate_id, total_cents=1200)
    assert first.aggregate_id == aggregate_id
    assert first.event_id.version == 7
    assert first.event_id < second.event_id
    assert first.occurred_at.tzinfo is not None
    assert first.data() == {"total_cents": 1200, "currency": "EUR"}


def test_events_are_immutable_and_times_must_be_aware() -> None:
    event = OrderPlaced(aggregate_id=uuid7(), total_cents=1)
    with pytest.raises(ValidationError):
        event.total_cents = 2  # type: ignore[misc]
    with pytest.raises(ValidationError, match="timezone"):
        OrderPlaced(aggregate_id=uuid7(), total_cents=1, occurred_at=datetime(2026, 1, 1))  # noqa: DTZ001


def test_the_data_schema_describes_the_payload_only() -> None:
    schema = OrderPlaced.data_schema()
    assert schema["$schema"] == JSON_SCHEMA_DIALECT
    assert set(schema["properties"]) == {"total_cents", "currency"}
    assert schema["required"] == ["total_cents"]
    assert schema["x-event-type"] == "shop.order.placed"
    schema["properties"].clear()
    assert OrderPlaced.data_schema()["properties"], "callers get a copy"


def test_an_envelope_round_trips_to_an_equal_event() -> None:
    event = OrderPlaced(aggregate_id=uuid7(), total_cents=1200, occurred_at=datetime.now(UTC))
    fields = event.model_dump(mode="json")
    envelope = RecordingSettings().envelope.envelope(
        fields,
        event_type=OrderPlaced.event_type,
        schema_version=OrderPlaced.schema_version,
        data=event.data(),
        correlation_id="c-1",
        traceparent=None,
    )
    assert envelope["subject"] == str(event.aggregate_id)
    assert envelope["id"] == str(event.event_id)
    assert OrderPlaced.from_cloudevent(envelope) == event
    with pytest.raises(ValueError, match="type"):
        OrderPlaced.from_cloudevent({**envelope, "type": "shop.order.cancelled"})
