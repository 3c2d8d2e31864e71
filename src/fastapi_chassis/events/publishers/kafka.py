"""``KafkaPublisher``: delivers events to Kafka, or anything speaking its protocol (Redpanda).

Each event goes to the topic of its aggregate type (see
:mod:`~fastapi_chassis.events.publishers.topics`) with the aggregate id as key,
so an aggregate's events share a partition and keep their order, and with the
CloudEvents envelope as value. Two headers travel with it: ``id`` (the event id,
as Debezium's outbox router sets it) and ``content-type:
application/cloudevents+json`` (structured mode of the CloudEvents Kafka
binding). Writes use ``acks=all``: a message counts as published once every
in-sync replica has it.

The idempotent producer is on by default: a retried send cannot then be
written twice or out of order by the broker. Turn it off
(``enable_idempotence=False``) only for brokers that do not support it.

Needs the ``kafka`` extra (``pip install 'fastapi-chassis[kafka]'``, which brings
aiokafka).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from importlib import import_module
from typing import TYPE_CHECKING, Protocol

from fastapi_chassis.errors import ConfigurationError
from fastapi_chassis.events.envelope import CLOUDEVENTS_CONTENT_TYPE
from fastapi_chassis.events.publishers.base import OutboxMessage
from fastapi_chassis.events.publishers.topics import (
    DEFAULT_TOPIC_TEMPLATE,
    check_topic_template,
    topic_for,
)

if TYPE_CHECKING:
    from fastapi_chassis.settings import ChassisSettings

__all__ = ["KafkaPublisher"]

_CONTENT_TYPE = CLOUDEVENTS_CONTENT_TYPE.encode()


class _Producer(Protocol):
    """The part of ``aiokafka.AIOKafkaProducer`` the publisher uses."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def send(
        self,
        topic: str,
        value: bytes,
        key: bytes,
        headers: list[tuple[str, bytes]],
    ) -> Awaitable[object]: ...


class KafkaPublisher:
    """Publishes events to a Kafka-API broker with aiokafka.

    Args:
        bootstrap_servers: ``host:port`` of one or more brokers.
        topic_template: Names the topic of each aggregate type.
        enable_idempotence: Use the idempotent producer (needs broker support).
        client_id: The client id the broker sees.
        linger_ms: How long the producer waits to fill a batch.
        request_timeout_ms: How long one produce request may take.
        name: Names the publisher in logs and metrics.
        **producer_options: Further ``AIOKafkaProducer`` options (TLS, SASL,
            compression, batch size); ``acks`` is always ``"all"``.

    Raises:
        ValueError: If the topic template is not usable.

    Example:
        >>> publisher = KafkaPublisher("redpanda:9092", topic_template="events.{aggregate_type}")
        >>> publisher.topic_for("shop.order")
        'events.shop.order'
    """

    def __init__(
        self,
        bootstrap_servers: str | Sequence[str],
        *,
        topic_template: str = DEFAULT_TOPIC_TEMPLATE,
        enable_idempotence: bool = True,
        client_id: str = "fastapi-chassis",
        linger_ms: int = 5,
        request_timeout_ms: int = 30_000,
        name: str = "kafka",
        **producer_options: object,
    ) -> None:
        if "acks" in producer_options:
            raise ValueError("KafkaPublisher always uses acks='all'")
        self.name = name
        self.topic_template = check_topic_template(topic_template)
        self._options: dict[str, object] = {
            "bootstrap_servers": (
                bootstrap_servers if isinstance(bootstrap_servers, str) else list(bootstrap_servers)
            ),
            "client_id": client_id,
            "acks": "all",
            "enable_idempotence": enable_idempotence,
            "linger_ms": linger_ms,
            "request_timeout_ms": request_timeout_ms,
            **producer_options,
        }
        self._producer: _Producer | None = None

    @classmethod
    def from_settings(cls, settings: ChassisSettings) -> KafkaPublisher:
        """Build a publisher from the ``events_kafka_*`` and topic settings.

        Raises:
            ConfigurationError: If ``events_kafka_bootstrap_servers`` is empty.
        """
        if not settings.events_kafka_bootstrap_servers:
            raise ConfigurationError("set events_kafka_bootstrap_servers to publish to Kafka")
        return cls(
            settings.events_kafka_bootstrap_servers,
            topic_template=settings.events_topic_template,
            enable_idempotence=settings.events_kafka_idempotence,
            client_id=settings.service_name,
        )

    def topic_for(self, aggregate_type: str) -> str:
        """Return the topic the events of ``aggregate_type`` go to."""
        return topic_for(aggregate_type, self.topic_template)

    async def start(self) -> None:
        """Connect to the brokers.

        Raises:
            ConfigurationError: If aiokafka is not installed.
        """
        if self._producer is not None:
            return
        try:
            aiokafka = import_module("aiokafka")
        except ImportError:
            raise ConfigurationError(
                "KafkaPublisher needs aiokafka: pip install 'fastapi-chassis[kafka]'"
            ) from None
        producer: _Producer = aiokafka.AIOKafkaProducer(**self._options)
        try:
            await producer.start()
        except BaseException:
            # A producer that failed to connect still holds a client to close.
            await producer.stop()
            raise
        self._producer = producer

    async def stop(self) -> None:
        """Flush pending messages and disconnect."""
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    async def publish(self, messages: Sequence[OutboxMessage]) -> Sequence[BaseException | None]:
        """Send every message and wait for each acknowledgement.

        Raises:
            RuntimeError: If the publisher was not started.
        """
        if self._producer is None:
            raise RuntimeError("KafkaPublisher.start() was not called")
        outcomes: list[BaseException | None] = [None] * len(messages)
        acks: list[Awaitable[object]] = []
        waiting: list[int] = []
        for index, message in enumerate(messages):
            try:
                ack = await self._producer.send(
                    self.topic_for(message.aggregate_type),
                    value=message.payload,
                    key=message.key,
                    headers=[("id", str(message.id).encode()), ("content-type", _CONTENT_TYPE)],
                )
            except Exception as error:  # noqa: BLE001 - reported per message
                outcomes[index] = error
            else:
                acks.append(ack)
                waiting.append(index)
        # aiokafka returns futures: gathering them directly avoids a task per message.
        results = await asyncio.gather(*acks, return_exceptions=True)
        for index, result in zip(waiting, results, strict=True):
            if isinstance(result, BaseException):
                outcomes[index] = result
        return outcomes
