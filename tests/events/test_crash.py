"""Relays killed with SIGKILL at random moments while 10,000 events flow: nothing is lost.

Two relay processes publish to a real Kafka-API broker while a producer records
events for many aggregates. Twenty times, one relay is killed mid-work and
started again. Afterwards every event must be on the broker, duplicates (left
by relays that died between publishing and settling) must carry the same id and
bytes as the original, and each aggregate's events, read in topic order and
counting first copies only (as a deduplicating consumer does), must be in the
order they were recorded.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import multiprocessing.process
import os
import random
import signal
import time
from collections import defaultdict
from multiprocessing.connection import Connection
from uuid import UUID

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fastapi_chassis.db import uuid7
from fastapi_chassis.events import DomainEvent, record_events
from tests.events.broker import consume
from tests.events.events import OrderCancelled, OrderPlaced, PaymentCaptured
from tests.events.relay_process import run_relay

EVENTS = 10_000
PER_TRANSACTION = 50
AGGREGATES = 300
KILLS = 20
CONTEXT = multiprocessing.get_context("forkserver")
# Imported once by the fork server, so each relay starts in milliseconds.
CONTEXT.set_forkserver_preload(["tests.events.relay_process"])


class RelayProcess:
    """One relay slot: a process forked from a preloaded server, killed, forked again."""

    def __init__(self, name: str, options: dict[str, str]) -> None:
        self.name = name
        self.options = {**options, "name": name}
        self.process: multiprocessing.process.BaseProcess | None = None
        self.ready = asyncio.Event()
        self.kills = 0

    async def start(self) -> None:
        self.ready.clear()
        receiver, sender = CONTEXT.Pipe(duplex=False)
        self.process = CONTEXT.Process(
            target=run_relay, args=(self.options, sender), name=f"relay-{self.name}"
        )
        self.process.start()
        sender.close()
        try:
            message = await asyncio.to_thread(_receive, receiver, 30.0)
        finally:
            receiver.close()
        assert message == "ready", f"relay {self.name} did not start"
        self.ready.set()

    async def kill(self) -> None:
        assert self.process is not None
        assert self.process.pid is not None
        os.kill(self.process.pid, signal.SIGKILL)
        await asyncio.to_thread(self.process.join)
        self.process.close()
        self.process = None
        self.kills += 1

    async def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        process.terminate()
        await asyncio.to_thread(process.join, 10)
        if process.is_alive():
            process.kill()
            await asyncio.to_thread(process.join)
        process.close()


def _receive(connection: Connection, timeout: float) -> object:
    return connection.recv() if connection.poll(timeout) else None


async def produce(sessionmaker: async_sessionmaker[AsyncSession], chooser: random.Random) -> None:
    aggregates = [(uuid7(), kind) for kind in ("order", "payment") for _ in range(AGGREGATES // 2)]
    for _ in range(EVENTS // PER_TRANSACTION):
        events: list[DomainEvent] = []
        for _ in range(PER_TRANSACTION):
            aggregate_id, kind = chooser.choice(aggregates)
            if kind == "payment":
                events.append(PaymentCaptured(aggregate_id=aggregate_id, amount_cents=1))
            elif chooser.random() < 0.5:
                events.append(OrderPlaced(aggregate_id=aggregate_id, total_cents=1))
            else:
                events.append(OrderCancelled(aggregate_id=aggregate_id, reason="x"))
        async with sessionmaker() as session:
            await record_events(session, events, lock_aggregates=True)
            await session.commit()
        await asyncio.sleep(0.005)


async def pending(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    async with sessionmaker() as session:
        count = await session.scalar(
            text("SELECT count(*) FROM chassis_outbox WHERE published_at IS NULL")
        )
    return int(count or 0)


@pytest.mark.asyncio
async def test_sigkilled_relays_lose_nothing_and_keep_each_aggregate_in_order(  # noqa: PLR0915
    kafka_broker: str,
    chassis_database_url: str,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    chooser = random.Random(20)  # noqa: S311 - reproducible, not secret
    template = f"crash{uuid7().hex[:10]}.{{aggregate_type}}"
    options = {
        "database_url": chassis_database_url,
        "bootstrap": kafka_broker,
        "topic_template": template,
        "batch_size": "100",
    }
    slots = [RelayProcess("a", options), RelayProcess("b", options)]
    await asyncio.gather(*(slot.start() for slot in slots))
    producer = asyncio.create_task(produce(sessionmaker, chooser))
    restarts: set[asyncio.Task[None]] = set()
    try:
        for _ in range(KILLS):
            ready = [slot for slot in slots if slot.ready.is_set()]
            if not ready:
                await asyncio.wait(
                    [asyncio.create_task(slot.ready.wait()) for slot in slots],
                    return_when=asyncio.FIRST_COMPLETED,
                )
                ready = [slot for slot in slots if slot.ready.is_set()]
            victim = chooser.choice(ready)
            await asyncio.sleep(chooser.uniform(0.05, 0.5))
            await victim.kill()
            victim.ready.clear()
            restart = asyncio.create_task(victim.start())
            restarts.add(restart)
            restart.add_done_callback(restarts.discard)
        await producer
        await asyncio.gather(*restarts)
        # Killed relays' leases run out (3 s) and the survivors take over.
        deadline = time.monotonic() + 60
        while await pending(sessionmaker) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        assert await pending(sessionmaker) == 0
    finally:
        producer.cancel()
        for restart in list(restarts):
            restart.cancel()
        await asyncio.gather(*(slot.stop() for slot in slots), return_exceptions=True)
    assert sum(slot.kills for slot in slots) == KILLS

    async with sessionmaker() as session:
        rows = (
            await session.execute(
                text("SELECT id, sequence, aggregateid FROM chassis_outbox ORDER BY sequence")
            )
        ).all()
    assert len(rows) == EVENTS
    sequence_of = {str(row.id): row.sequence for row in rows}
    aggregate_of = {str(row.id): row.aggregateid for row in rows}

    topics = [template.format(aggregate_type=kind) for kind in ("shop.order", "billing.payment")]
    records = await consume(kafka_broker, topics, expect=EVENTS, timeout=60)
    copies: dict[str, set[bytes]] = defaultdict(set)
    first_seen: dict[UUID, list[int]] = defaultdict(list)
    seen: set[str] = set()
    for record in records:
        event_id = dict(record.headers)["id"].decode()
        copies[event_id].add(record.value)
        assert record.key == str(aggregate_of[event_id]).encode()
        if event_id not in seen:
            seen.add(event_id)
            first_seen[aggregate_of[event_id]].append(sequence_of[event_id])
    assert seen == set(sequence_of), f"{len(set(sequence_of) - seen)} events never arrived"
    assert all(len(values) == 1 for values in copies.values()), "a duplicate differs"
    for sequences in first_seen.values():
        assert sequences == sorted(sequences)
    duplicates = len(records) - EVENTS
    # Each kill can leave at most one claimed batch (100 events) to be sent again.
    assert duplicates <= KILLS * 100
    print(f"\n{KILLS} kills, {EVENTS} events, {duplicates} duplicates")  # noqa: T201
