"""KafkaPublisher and the relay against a real Kafka-API broker (Tansu)."""

from __future__ import annotations

import json
from collections import defaultdict

import pytest
from aiokafka.errors import KafkaError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fastapi_chassis import ChassisSettings
from fastapi_chassis.db import uuid7
from fastapi_chassis.errors import ConfigurationError
from fastapi_chassis.events import OutboxRelay, record_events
from fastapi_chassis.events.metrics import RelayMetrics
from fastapi_chassis.events.publishers import KafkaPublisher
from tests.events.broker import consume
from tests.events.events import OrderCancelled, OrderPlaced, PaymentCaptured


def unique_template() -> str:
    return f"t{uuid7().hex[:12]}.{{aggregate_type}}"


@pytest.mark.asyncio
async def test_events_reach_one_topic_per_aggregate_type_keyed_by_aggregate(
    kafka_broker: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    metrics: RelayMetrics,
) -> None:
    template = unique_template()
    order, payment = uuid7(), uuid7()
    events = [
        OrderPlaced(aggregate_id=order, total_cents=1200),
        PaymentCaptured(aggregate_id=payment, amount_cents=1200),
        OrderCancelled(aggregate_id=order, reason="changed mind"),
    ]
    async with sessionmaker() as session:
        await record_events(session, events)
        await session.commit()
    publisher = KafkaPublisher(kafka_broker, topic_template=template, enable_idempotence=False)
    async with OutboxRelay(sessionmaker, [publisher], listen=False, metrics=metrics) as relay:
        assert await relay.run_once() == 3
    order_topic = template.format(aggregate_type="shop.order")
    payment_topic = template.format(aggregate_type="billing.payment")
    records = await consume(kafka_broker, [order_topic, payment_topic], expect=3)
    by_topic: dict[str, list[dict[str, object]]] = defaultdict(list)
    for item in records:
        envelope = json.loads(item.value)
        assert item.key == envelope["subject"].encode()
        assert dict(item.headers) == {
            "id": envelope["id"].encode(),
            "content-type": b"application/cloudevents+json",
        }
        by_topic[item.topic].append(envelope)
    assert [e["type"] for e in by_topic[order_topic]] == [
        "shop.order.placed",
        "shop.order.cancelled",
    ]
    assert [e["id"] for e in by_topic[payment_topic]] == [str(events[1].event_id)]
    assert by_topic[order_topic][0]["data"] == {"total_cents": 1200, "currency": "EUR"}


@pytest.mark.asyncio
async def test_the_value_is_the_stored_envelope_byte_for_byte(
    kafka_broker: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    metrics: RelayMetrics,
) -> None:
    """What a CDC pipeline would read from the table is what the relay sends."""
    template = unique_template()
    event = OrderPlaced(aggregate_id=uuid7(), total_cents=5)
    async with sessionmaker() as session:
        await record_events(session, [event])
        await session.commit()
        stored = await session.scalar(text("SELECT payload::text FROM chassis_outbox"))
    publisher = KafkaPublisher(kafka_broker, topic_template=template, enable_idempotence=False)
    async with OutboxRelay(sessionmaker, [publisher], listen=False, metrics=metrics) as relay:
        await relay.run_once()
    (record,) = await consume(
        kafka_broker, [template.format(aggregate_type="shop.order")], expect=1
    )
    assert record.value == stored.encode()


@pytest.mark.asyncio
async def test_an_unreachable_broker_fails_each_message(metrics: RelayMetrics) -> None:
    publisher = KafkaPublisher("127.0.0.1:9", enable_idempotence=False, request_timeout_ms=1000)
    with pytest.raises(KafkaError):
        await publisher.start()
    await publisher.stop()
    with pytest.raises(RuntimeError, match="start"):
        await publisher.publish([])


def test_the_publisher_is_configured_from_settings() -> None:
    settings = ChassisSettings(
        service_name="shop",
        events_kafka_bootstrap_servers=["redpanda-0:9092", "redpanda-1:9092"],
        events_topic_template="events.{aggregate_type}",
        events_kafka_idempotence=False,
    )
    publisher = KafkaPublisher.from_settings(settings)
    assert publisher.topic_for("shop.order") == "events.shop.order"
    assert publisher._options["bootstrap_servers"] == ["redpanda-0:9092", "redpanda-1:9092"]
    assert publisher._options["acks"] == "all"
    assert publisher._options["enable_idempotence"] is False
    assert publisher._options["client_id"] == "shop"
    with pytest.raises(ConfigurationError):
        KafkaPublisher.from_settings(ChassisSettings())
    with pytest.raises(ValueError, match="placeholder"):
        KafkaPublisher("b:9092", topic_template="{service}.{aggregate_type}")
    with pytest.raises(ValueError, match="legal"):
        KafkaPublisher("b:9092", topic_template="events/{aggregate_type}")
    with pytest.raises(ValueError, match="acks"):
        KafkaPublisher("b:9092", acks=1)
