"""``chassis events ...`` and ``chassis cdc doctor``, run through typer's CliRunner."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import httpx
import pytest
import typer
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from typer.testing import CliRunner

from fastapi_chassis import ChassisSettings, create_app, hookimpl
from fastapi_chassis.db import uuid7
from fastapi_chassis.events import DomainEvent, OutboxRelay, record_events
from fastapi_chassis.events.metrics import RelayMetrics
from fastapi_chassis.events.plugin import OutboxPlugin
from fastapi_chassis.events.publishers import InMemoryPublisher
from tests.events.events import ALL_EVENTS, OrderCancelled, OrderPlaced
from tests.events.publishers import FlakyPublisher

_T = TypeVar("_T")
ROOT = Path(__file__).resolve().parents[2]


class ShopEvents:
    """The application's plugin: its event types and a publisher to watch."""

    name = "test.shop-events"

    def __init__(self, *events: type[DomainEvent]) -> None:
        self.events = events or ALL_EVENTS
        self.publisher = InMemoryPublisher()

    @hookimpl
    def chassis_event_types(self) -> list[type[DomainEvent]]:
        return list(self.events)

    @hookimpl
    def chassis_event_publishers(self) -> list[InMemoryPublisher]:
        return [self.publisher]


def build(database_url: str | None, plugin: ShopEvents, **settings: Any) -> FastAPI:
    return create_app(
        ChassisSettings(
            database_url=database_url,
            service_name="test-service",
            log_configure=False,
            **settings,
        ),
        plugins=[plugin],
    )


def cli_for(app: FastAPI) -> typer.Typer:
    """A root command like ``chassis``'s, with only the events plugin's groups."""
    root = typer.Typer()

    @root.callback()
    def main(ctx: typer.Context) -> None:
        ctx.obj = app

    OutboxPlugin().chassis_cli(root)
    return root


def invoke(app: FastAPI, *args: str, input: str | None = None) -> Any:  # noqa: A002
    return CliRunner().invoke(cli_for(app), list(args), input=input)


def on_database(url: str, work: Callable[[async_sessionmaker[AsyncSession]], Awaitable[_T]]) -> _T:
    async def run() -> _T:
        engine = create_async_engine(url)
        try:
            return await work(async_sessionmaker(engine, expire_on_commit=False))
        finally:
            await engine.dispose()

    return asyncio.run(run())


@pytest.fixture
def database(chassis_database_url: str) -> Iterator[str]:
    async def truncate(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        async with sessionmaker() as session:
            await session.execute(text("TRUNCATE chassis_outbox"))
            await session.commit()

    on_database(chassis_database_url, truncate)
    yield chassis_database_url
    on_database(chassis_database_url, truncate)


def test_catalog_as_markdown_and_json(tmp_path: Path) -> None:
    app = build(None, ShopEvents())
    result = invoke(app, "events", "catalog")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("# Events of test-service\n")
    assert "## shop.order.placed" in result.stdout
    target = tmp_path / "docs" / "events.json"
    result = invoke(app, "events", "catalog", "--format", "json", "--output", str(target))
    assert result.exit_code == 0, result.output
    document = json.loads(target.read_text())
    assert [event["type"] for event in document["events"]] == [
        "billing.payment.captured",
        "shop.order.cancelled",
        "shop.order.placed",
    ]
    assert document["events"][0]["producer"] == "test-service"


def test_asyncapi_and_schema_commands(tmp_path: Path) -> None:
    app = build(None, ShopEvents(), events_topic_template="prod.{aggregate_type}")
    target = tmp_path / "asyncapi.json"
    assert invoke(app, "events", "asyncapi", "-o", str(target)).exit_code == 0
    document = json.loads(target.read_text())
    assert document["asyncapi"] == "3.0.0"
    assert document["channels"]["shop.order"]["address"] == "prod.shop.order"
    result = invoke(app, "events", "schema", "shop.order.placed")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == OrderPlaced.data_schema()
    result = invoke(app, "events", "schema", "shop.order.shipped")
    assert result.exit_code == 1
    assert "not registered" in result.stderr


class OrderPlacedBroken(DomainEvent):
    event_type: ClassVar[str] = "shop.order.placed"
    schema_version: ClassVar[str] = "1.1"
    total_cents: str


class OrderPlacedMajor(DomainEvent):
    event_type: ClassVar[str] = "shop.order.placed"
    schema_version: ClassVar[str] = "2.0"
    total_cents: str


def test_snapshot_then_check_fails_only_on_an_unbumped_breaking_change(tmp_path: Path) -> None:
    snapshots = tmp_path / "event-schemas"
    app = build(None, ShopEvents(), events_schema_dir=str(snapshots))
    result = invoke(app, "events", "snapshot")
    assert result.exit_code == 0, result.output
    assert (snapshots / "shop.order.placed" / "1.0.json").is_file()
    result = invoke(app, "events", "check")
    assert result.exit_code == 0, result.output
    assert "consistent" in result.stdout

    broken = build(None, ShopEvents(OrderPlacedBroken, OrderCancelled))
    result = invoke(broken, "events", "check", "--dir", str(snapshots))
    assert result.exit_code == 1
    assert "without a major version bump" in result.stderr

    bumped = build(None, ShopEvents(OrderPlacedMajor, OrderCancelled))
    result = invoke(bumped, "events", "check", "--dir", str(snapshots))
    assert result.exit_code == 0, result.output
    result = invoke(bumped, "events", "check", "--dir", str(snapshots), "--mode", "forward")
    assert result.exit_code == 0, result.output


def _dead_letters(url: str) -> tuple[Any, Any]:
    """Record a dead letter (with an event behind it) and a publishable event."""
    stuck = uuid7()
    poison = OrderPlaced(aggregate_id=stuck, total_cents=1)
    behind = OrderCancelled(aggregate_id=stuck, reason="waits")

    async def work(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        async with sessionmaker() as session:
            await record_events(session, [poison, behind])
            await session.commit()
        publisher = FlakyPublisher(lambda message: message.id == poison.event_id)
        relay = OutboxRelay(
            sessionmaker,
            [publisher],
            listen=False,
            max_attempts=1,
            metrics=RelayMetrics(CollectorRegistry()),
        )
        async with relay:
            await relay.run_once()

    on_database(url, work)
    return poison, behind


def test_dead_letters_can_be_listed_released_and_skipped(database: str) -> None:
    poison, behind = _dead_letters(database)
    plugin = ShopEvents()
    app = build(database, plugin)

    result = invoke(app, "events", "dead-letters", "list")
    assert result.exit_code == 0, result.output
    assert str(poison.event_id) in result.stdout
    assert "blocked=1" in result.stdout
    result = invoke(app, "events", "dead-letters", "list", "--json")
    (line,) = result.stdout.splitlines()
    assert json.loads(line)["id"] == str(poison.event_id)

    result = invoke(app, "events", "status")
    assert "pending: 2" in result.stdout
    assert "dead letters: 1" in result.stdout

    result = invoke(app, "events", "dead-letters", "release")
    assert result.exit_code == 1
    result = invoke(app, "events", "dead-letters", "release", str(uuid7()))
    assert result.exit_code == 1
    assert "is not a dead letter" in result.stderr

    result = invoke(app, "events", "dead-letters", "release", str(poison.event_id))
    assert result.exit_code == 0, result.output
    assert f"released {poison.event_id}" in result.stdout
    result = invoke(app, "events", "relay", "--once")
    assert result.exit_code == 0, result.output
    assert "published 2 event(s)" in result.stdout
    assert [envelope["id"] for envelope in plugin.publisher.published] == [
        str(poison.event_id),
        str(behind.event_id),
    ]

    result = invoke(app, "events", "prune", "--older-than-days", "0")
    assert result.exit_code == 0, result.output
    assert "deleted 2 outbox row(s)" in result.stdout


def test_skipping_asks_first(database: str) -> None:
    poison, behind = _dead_letters(database)
    app = build(database, ShopEvents())
    result = invoke(app, "events", "dead-letters", "skip", "--all", input="n\n")
    assert result.exit_code == 1
    result = invoke(app, "events", "dead-letters", "skip", str(poison.event_id), input="y\n")
    assert result.exit_code == 0, result.output
    result = invoke(app, "events", "dead-letters", "list")
    assert "no dead letters" in result.stdout
    assert "pending: 1" in invoke(app, "events", "status").stdout
    del behind


def test_the_relay_command_needs_a_publisher(database: str) -> None:
    app = build(database, ShopEvents())

    class Silent:
        name = "test.silent"

    silent = create_app(
        ChassisSettings(database_url=database, log_configure=False), plugins=[Silent()]
    )
    result = invoke(silent, "events", "relay", "--once")
    assert result.exit_code == 1
    assert "no publisher" in result.stderr
    assert invoke(app, "events", "relay", "--once").stdout == "published 0 event(s)\n"


def test_cdc_doctor_reports_what_the_server_lacks_and_prints_configurations(
    database: str,
) -> None:
    async def wal_level(sessionmaker: async_sessionmaker[AsyncSession]) -> str:
        async with sessionmaker() as session:
            return str(await session.scalar(text("SHOW wal_level")))

    level = on_database(database, wal_level)
    app = build(database, ShopEvents(), events_topic_template="events.{aggregate_type}")
    result = invoke(app, "cdc", "doctor")
    assert result.exit_code == 0, result.output
    if level == "logical":
        assert "[ok     ] wal_level: wal_level is logical" in result.stdout
    else:
        assert f"[PROBLEM] wal_level: wal_level is {level}" in result.stdout
        assert "ALTER SYSTEM SET wal_level = logical" in result.stdout
    assert "[PROBLEM] publication: publication chassis_outbox does not exist" in result.stdout
    assert "[ok     ] outbox table: public.chassis_outbox exists" in result.stdout
    assert '"transforms.outbox.route.topic.replacement": "events.${routedByValue}"' in result.stdout
    assert "topic: 'events.${! @aggregate_type }'" in result.stdout
    assert "CDC cannot read the outbox yet" in result.stdout
    assert invoke(app, "cdc", "doctor", "--strict").exit_code == 1


def test_the_relay_command_serves_nothing_over_http_with_once(database: str) -> None:
    app = build(database, ShopEvents())

    result = invoke(app, "events", "relay", "--once", "--http-port", "9100")

    assert result.exit_code == 1
    assert result.stderr == (
        "error: --http-port serves a running relay; it cannot go with --once\n"
    )


def test_the_relay_command_serves_probes_and_metrics_until_sigterm(database: str) -> None:
    environment = {**os.environ, "CHASSIS_DATABASE_URL": database, "CHASSIS_LOG_JSON": "false"}
    command = [
        sys.executable, "-m", "fastapi_chassis.cli",
        "--app", "tests.events.relay_app:create_relay_app",
        "events", "relay", "--http-host", "127.0.0.1", "--http-port", "0",
    ]  # fmt: skip
    with subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        command, cwd=ROOT, env=environment, stderr=subprocess.PIPE, text=True
    ) as process:
        try:
            assert process.stderr is not None
            port = None
            for line in process.stderr:
                found = re.search(r"serving /metrics and /health on 127\.0\.0\.1:(\d+)", line)
                if found:
                    port = int(found.group(1))
                    break
            assert port is not None, "the relay never said where it serves"
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
                assert client.get("/health/ready").status_code == 200
                assert "chassis_outbox_pending_events" in client.get("/metrics").text

            process.send_signal(signal.SIGTERM)
            _, rest = process.communicate(timeout=30)

            assert process.returncode == 0, rest
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()


def test_the_relay_command_says_when_its_port_is_taken(database: str) -> None:
    app = build(database, ShopEvents())
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        result = invoke(
            app, "events", "relay", "--http-host", "127.0.0.1", "--http-port", str(port)
        )

    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: cannot listen on 127.0.0.1:{port}: ")
    assert len(result.stderr.splitlines()) == 1
