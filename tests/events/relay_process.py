"""A relay in a process of its own, for the crash test (which kills it with SIGKILL).

The test starts :func:`run_relay` through multiprocessing's forkserver, with
this module preloaded, so a relay is running a few milliseconds after it is
asked for, and twenty kills take seconds, not minutes.
"""

from __future__ import annotations

import asyncio
from multiprocessing.connection import Connection

from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from fastapi_chassis.events import OutboxRelay
from fastapi_chassis.events.metrics import RelayMetrics
from fastapi_chassis.events.publishers import KafkaPublisher


async def _relay(options: dict[str, str], ready: Connection) -> None:
    engine = create_async_engine(options["database_url"], pool_size=3)
    publisher = KafkaPublisher(
        options["bootstrap"],
        topic_template=options["topic_template"],
        # Tansu's in-memory storage rejects the idempotent producer.
        enable_idempotence=False,
        linger_ms=2,
    )
    relay = OutboxRelay(
        async_sessionmaker(engine, expire_on_commit=False),
        [publisher],
        name=options["name"],
        batch_size=int(options["batch_size"]),
        lease_seconds=3.0,
        publish_timeout=1.0,
        poll_interval=0.05,
        retry_backoff=0.05,
        metrics=RelayMetrics(CollectorRegistry()),
    )
    async with relay:
        ready.send("ready")
        await relay.run()
    await engine.dispose()


def run_relay(options: dict[str, str], ready: Connection) -> None:
    """Run a relay until killed; send ``"ready"`` on ``ready`` once it is connected."""
    asyncio.run(_relay(options, ready))
