"""Domain events with a transactional outbox, published in order, at least once.

Importing this package adds the outbox table (``chassis_outbox``) to
``fastapi_chassis.db.Base.metadata``, so ``create_all()`` and Alembic's
autogenerate include it: import it where your models are defined.

```python
from typing import ClassVar

from fastapi_chassis.events import DomainEvent, OutboxRelay, record_event
from fastapi_chassis.events.publishers import InMemoryPublisher


class OrderPlaced(DomainEvent):
    event_type: ClassVar[str] = "shop.order.placed"
    schema_version: ClassVar[str] = "1.0"
    total_cents: int


await record_event(session, OrderPlaced(aggregate_id=order.id, total_cents=1200))
await session.commit()

publisher = InMemoryPublisher()
relay = OutboxRelay(sessionmaker, publishers=[publisher])
await relay.run_once()   # 1
publisher.published      # [{"specversion": "1.0", "type": "shop.order.placed", ...}]
```
"""

from fastapi_chassis.events.compatibility import CompatibilityMode, VersionCheck
from fastapi_chassis.events.dead_letters import (
    DeadLetter,
    list_dead_letters,
    release_dead_letters,
    skip_dead_letters,
)
from fastapi_chassis.events.domain_event import DomainEvent
from fastapi_chassis.events.errors import (
    DuplicateEventType,
    EventError,
    EventValidationError,
    InvalidEventDefinition,
    UnknownEventType,
)
from fastapi_chassis.events.outbox import outbox_table
from fastapi_chassis.events.pruning import prune_outbox
from fastapi_chassis.events.recording import configure_event_sessions, record_event, record_events
from fastapi_chassis.events.registry import EventRegistry
from fastapi_chassis.events.relay import OutboxRelay
from fastapi_chassis.events.relay_endpoints import RelayEndpoints

__all__ = [
    "CompatibilityMode",
    "DeadLetter",
    "DomainEvent",
    "DuplicateEventType",
    "EventError",
    "EventRegistry",
    "EventValidationError",
    "InvalidEventDefinition",
    "OutboxRelay",
    "RelayEndpoints",
    "UnknownEventType",
    "VersionCheck",
    "configure_event_sessions",
    "list_dead_letters",
    "outbox_table",
    "prune_outbox",
    "record_event",
    "record_events",
    "release_dead_letters",
    "skip_dead_letters",
]
