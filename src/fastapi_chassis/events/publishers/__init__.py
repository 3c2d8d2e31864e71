"""Where the outbox relay delivers events: a broker, the log, or memory (tests).

A publisher is any object with ``name``, ``start()``, ``stop()`` and
``publish(messages)`` (see :class:`Publisher`). Applications add theirs through
the ``chassis_event_publishers`` plugin hook or pass them to
:class:`~fastapi_chassis.events.OutboxRelay`.
"""

from fastapi_chassis.events.publishers.base import OutboxMessage, Publisher
from fastapi_chassis.events.publishers.kafka import KafkaPublisher
from fastapi_chassis.events.publishers.log import LogPublisher
from fastapi_chassis.events.publishers.memory import InMemoryPublisher
from fastapi_chassis.events.publishers.topics import (
    DEFAULT_TOPIC_TEMPLATE,
    check_topic_template,
    topic_for,
)

__all__ = [
    "DEFAULT_TOPIC_TEMPLATE",
    "InMemoryPublisher",
    "KafkaPublisher",
    "LogPublisher",
    "OutboxMessage",
    "Publisher",
    "check_topic_template",
    "topic_for",
]
