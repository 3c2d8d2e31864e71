"""``chassis events ...`` and ``chassis cdc ...``: the operator's and CI's side of events.

The built-in ``chassis.outbox`` plugin adds these groups to the ``chassis``
command through the ``chassis_cli`` hook. Every command works on the
application ``chassis`` loaded (``--app`` or the installed plugins): its
settings, its plugins' event types and publishers, its database.

| Command | What it does |
| --- | --- |
| ``events catalog [--format md/json] [-o FILE]`` | Writes the event catalog |
| ``events asyncapi [-o FILE]`` | Writes the AsyncAPI 3.0 document |
| ``events schema TYPE [--version V]`` | Prints one JSON Schema |
| ``events snapshot [--dir DIR]`` | Writes the schema snapshots to commit |
| ``events check [--dir DIR] [--mode M]`` | Fails on a change without its version bump |
| ``events relay [--once] [--http-port N]`` | Runs the outbox relay until SIGTERM (or one pass) |
| ``events status`` | Pending events, dead letters, lag |
| ``events prune [--older-than-days N] [--unpublished]`` | Deletes old published rows |
| ``events dead-letters list/release/skip`` | Inspects and resolves dead letters |
| ``cdc doctor [--strict]`` | Checks the database for CDC and prints connector configurations |
"""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar
from uuid import UUID

import typer

from fastapi_chassis.app import chassis_state
from fastapi_chassis.cli import current_app
from fastapi_chassis.db.engine import create_engine, create_sessionmaker
from fastapi_chassis.events.asyncapi import asyncapi_document
from fastapi_chassis.events.catalog import build_catalog, catalog_json, catalog_markdown
from fastapi_chassis.events.cdc import (
    DEFAULT_PUBLICATION,
    DEFAULT_SLOT,
    CheckStatus,
    cdc_doctor,
    debezium_connector_config,
    redpanda_connect_config,
)
from fastapi_chassis.events.claims import outbox_stats
from fastapi_chassis.events.compatibility import CompatibilityMode
from fastapi_chassis.events.dead_letters import (
    list_dead_letters,
    release_dead_letters,
    skip_dead_letters,
)
from fastapi_chassis.events.errors import UnknownEventType
from fastapi_chassis.events.plugin import collect_publishers
from fastapi_chassis.events.pruning import prune_outbox
from fastapi_chassis.events.recording import configure_event_sessions
from fastapi_chassis.events.registry import EventRegistry
from fastapi_chassis.events.relay import OutboxRelay
from fastapi_chassis.events.relay_endpoints import RelayEndpoints
from fastapi_chassis.events.snapshots import check_snapshots, schema_json, write_snapshots

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from fastapi_chassis.app import ChassisState

__all__ = ["cdc_cli", "events_cli"]

events_cli = typer.Typer(
    help="Domain events: catalog, schemas, the outbox relay, dead letters.",
    no_args_is_help=True,
)
dead_letters_cli = typer.Typer(
    help="Events that failed every delivery attempt and block their aggregates.",
    no_args_is_help=True,
)
events_cli.add_typer(dead_letters_cli, name="dead-letters")
cdc_cli = typer.Typer(help="Change data capture of the outbox.", no_args_is_help=True)

_T = TypeVar("_T")
_FAILED = 1

OutputOption = Annotated[
    Path | None, typer.Option("--output", "-o", help="Write here instead of standard output.")
]
DirectoryOption = Annotated[
    Path | None,
    typer.Option("--dir", help="The snapshot directory (default: the events_schema_dir setting)."),
]


def _state(ctx: typer.Context) -> ChassisState:
    return chassis_state(current_app(ctx))


def _registry(state: ChassisState) -> EventRegistry:
    return EventRegistry.from_plugins(state.plugins)


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        typer.echo(text, nl=not text.endswith("\n"))
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    typer.echo(f"wrote {output}", err=True)


@asynccontextmanager
async def _database(state: ChassisState) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(state.settings)
    sessionmaker = create_sessionmaker(engine)
    try:
        yield sessionmaker
    finally:
        await engine.dispose()


def _run_with_database(
    state: ChassisState, work: Callable[[async_sessionmaker[AsyncSession]], Awaitable[_T]]
) -> _T:
    async def run() -> _T:
        async with _database(state) as sessionmaker:
            return await work(sessionmaker)

    return asyncio.run(run())


@events_cli.command("catalog")
def catalog_command(
    ctx: typer.Context,
    *,
    output_format: Annotated[
        Literal["md", "json"], typer.Option("--format", help="Markdown (docs) or JSON (tools).")
    ] = "md",
    output: OutputOption = None,
) -> None:
    """Write the event catalog: types, versions, descriptions, schemas, examples."""
    state = _state(ctx)
    settings = state.settings
    entries = build_catalog(
        _registry(state),
        producer=settings.events_source or settings.service_name,
        topic_template=settings.events_topic_template,
        dataschema_base_url=settings.events_schema_base_url,
    )
    if output_format == "json":
        text = json.dumps(catalog_json(entries), indent=2, ensure_ascii=False)
    else:
        text = catalog_markdown(entries, title=f"Events of {settings.service_name}")
    _emit(text, output)


@events_cli.command("asyncapi")
def asyncapi_command(ctx: typer.Context, output: OutputOption = None) -> None:
    """Write the AsyncAPI 3.0 document (JSON) of the events the service publishes."""
    app = current_app(ctx)
    state = chassis_state(app)
    settings = state.settings
    entries = build_catalog(
        _registry(state),
        producer=settings.events_source or settings.service_name,
        topic_template=settings.events_topic_template,
        dataschema_base_url=settings.events_schema_base_url,
    )
    document = asyncapi_document(
        entries, title=f"{settings.service_name} events", version=app.version
    )
    _emit(json.dumps(document, indent=2, ensure_ascii=False), output)


@events_cli.command("schema")
def schema_command(
    ctx: typer.Context,
    event_type: Annotated[str, typer.Argument(help="Such as shop.order.placed.")],
    version: Annotated[
        str | None, typer.Option("--version", help="The schema version (default: the latest).")
    ] = None,
) -> None:
    """Print the JSON Schema of one event type's data."""
    try:
        schema = _registry(_state(ctx)).json_schema(event_type, version)
    except UnknownEventType as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(_FAILED) from None
    typer.echo(schema_json(schema), nl=False)


@events_cli.command("snapshot")
def snapshot_command(ctx: typer.Context, directory: DirectoryOption = None) -> None:
    """Write the JSON Schema of every event type and version, for committing."""
    state = _state(ctx)
    target = directory or state.settings.events_schema_dir
    for path in write_snapshots(_registry(state), target):
        typer.echo(f"wrote {path}")


@events_cli.command("check")
def check_command(
    ctx: typer.Context,
    directory: DirectoryOption = None,
    mode: Annotated[
        CompatibilityMode | None,
        typer.Option(
            "--mode", help="The compatibility to require (default: events_compatibility)."
        ),
    ] = None,
) -> None:
    """Fail when a schema changed without the version bump it needs (for CI)."""
    state = _state(ctx)
    target = directory or state.settings.events_schema_dir
    required = mode or CompatibilityMode(state.settings.events_compatibility)
    report = check_snapshots(_registry(state), target, required)
    for note in report.notes:
        typer.echo(f"note: {note}")
    for problem in report.problems:
        typer.echo(f"error: {problem}", err=True)
    if not report.ok:
        raise typer.Exit(_FAILED)
    typer.echo(f"event schemas are consistent with {target} ({required.value} compatibility)")


@events_cli.command("relay")
def relay_command(
    ctx: typer.Context,
    *,
    once: Annotated[
        bool, typer.Option("--once", help="Publish what is pending now, then exit.")
    ] = False,
    http_port: Annotated[
        int | None,
        typer.Option(
            "--http-port",
            min=0,
            max=65535,
            help="Serve /metrics, /health/live and /health/ready on this port while running.",
        ),
    ] = None,
    http_host: Annotated[
        str, typer.Option("--http-host", help="The address --http-port listens on.")
    ] = "0.0.0.0",  # noqa: S104 - scrapes and probes come from outside the container
) -> None:
    """Run the outbox relay on its own, until SIGTERM or SIGINT (graceful)."""
    state = _state(ctx)
    settings = state.settings
    if once and http_port is not None:
        typer.echo("error: --http-port serves a running relay; it cannot go with --once", err=True)
        raise typer.Exit(_FAILED)
    publishers = collect_publishers(state)
    if not publishers:
        typer.echo(
            "error: no publisher: set events_kafka_bootstrap_servers or contribute one "
            "with the chassis_event_publishers hook",
            err=True,
        )
        raise typer.Exit(_FAILED)

    async def work(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        configure_event_sessions(
            sessionmaker, source=settings.events_source or settings.service_name
        )
        relay = OutboxRelay.from_settings(settings, sessionmaker, publishers)
        async with AsyncExitStack() as running:
            await running.enter_async_context(relay)
            if once:
                typer.echo(f"published {await relay.run_once()} event(s)")
                return
            if http_port is not None:
                endpoints = RelayEndpoints(relay, host=http_host, port=http_port)
                try:
                    await running.enter_async_context(endpoints)
                except OSError as error:
                    typer.echo(
                        f"error: cannot listen on {http_host}:{http_port}: {error.strerror}",
                        err=True,
                    )
                    raise typer.Exit(_FAILED) from None
                typer.echo(
                    f"serving /metrics and /health on {http_host}:{endpoints.port}", err=True
                )
            loop = asyncio.get_running_loop()
            for received in (signal.SIGTERM, signal.SIGINT):
                with suppress(NotImplementedError):
                    loop.add_signal_handler(received, relay.request_stop)
            typer.echo(f"outbox relay {relay.name} running; SIGTERM stops it", err=True)
            await relay.run()

    _run_with_database(state, work)


@events_cli.command("status")
def status_command(ctx: typer.Context) -> None:
    """Show pending events, dead letters and the age of the oldest pending event."""

    async def work(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        async with sessionmaker() as session:
            stats = await outbox_stats(session)
        typer.echo(f"pending: {stats.pending}")
        typer.echo(f"dead letters: {stats.dead_letters}")
        typer.echo(f"oldest pending: {stats.lag_seconds:.1f}s")

    _run_with_database(_state(ctx), work)


@events_cli.command("prune")
def prune_command(
    ctx: typer.Context,
    *,
    older_than_days: Annotated[
        float | None,
        typer.Option("--older-than-days", help="Retention (default: events_retention_days)."),
    ] = None,
    unpublished: Annotated[
        bool,
        typer.Option(
            "--unpublished",
            help="Also delete old rows never marked published (outboxes read by CDC).",
        ),
    ] = False,
) -> None:
    """Delete outbox rows published longer ago than the retention period."""
    state = _state(ctx)
    days = state.settings.events_retention_days if older_than_days is None else older_than_days

    async def work(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
        return await prune_outbox(sessionmaker, timedelta(days=days), unpublished=unpublished)

    deleted = _run_with_database(state, work)
    typer.echo(f"deleted {deleted} outbox row(s) older than {days:g} day(s)")


@dead_letters_cli.command("list")
def dead_letters_list_command(
    ctx: typer.Context,
    *,
    limit: Annotated[int, typer.Option("--limit", help="Show at most this many.")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """List dead letters, oldest first, with how many events wait behind each."""

    async def work(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        async with sessionmaker() as session:
            letters = await list_dead_letters(session, limit=limit)
        if not letters:
            typer.echo("no dead letters")
            return
        for letter in letters:
            if as_json:
                record: dict[str, Any] = {
                    "id": str(letter.id),
                    "type": letter.event_type,
                    "aggregate_type": letter.aggregate_type,
                    "aggregate_id": str(letter.aggregate_id),
                    "attempts": letter.attempts,
                    "dead_at": letter.dead_at.isoformat(),
                    "blocked": letter.blocked,
                    "last_error": letter.last_error,
                }
                typer.echo(json.dumps(record))
            else:
                typer.echo(
                    f"{letter.id}  {letter.event_type}  {letter.aggregate_type} "
                    f"{letter.aggregate_id}  attempts={letter.attempts}  "
                    f"blocked={letter.blocked}  dead since {letter.dead_at:%Y-%m-%d %H:%M:%S%z}\n"
                    f"    {letter.last_error or ''}"
                )

    _run_with_database(_state(ctx), work)


IdsArgument = Annotated[list[UUID] | None, typer.Argument(help="Event ids of dead letters.")]
AllOption = Annotated[bool, typer.Option("--all", help="Every dead letter.")]


@dead_letters_cli.command("release")
def dead_letters_release_command(
    ctx: typer.Context, ids: IdsArgument = None, *, every: AllOption = False
) -> None:
    """Retry dead letters with a fresh set of attempts (after fixing the cause)."""
    _decide(ctx, ids, every=every, decision="released", action=release_dead_letters)


@dead_letters_cli.command("skip")
def dead_letters_skip_command(
    ctx: typer.Context,
    ids: IdsArgument = None,
    *,
    every: AllOption = False,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Never publish these dead letters; the events behind them flow again."""
    if not yes:
        what = "every dead letter" if every else f"{len(ids or [])} dead letter(s)"
        typer.confirm(f"Skip {what}? Consumers will never receive them.", abort=True, err=True)
    _decide(ctx, ids, every=every, decision="skipped", action=skip_dead_letters)


def _decide(
    ctx: typer.Context,
    ids: list[UUID] | None,
    *,
    every: bool,
    decision: str,
    action: Callable[..., Awaitable[list[UUID]]],
) -> None:
    if not ids and not every:
        typer.echo("error: name dead letters by id, or pass --all", err=True)
        raise typer.Exit(_FAILED)

    async def work(sessionmaker: async_sessionmaker[AsyncSession]) -> list[UUID]:
        async with sessionmaker() as session:
            done = await action(session, ids or [], every=every)
            await session.commit()
        return done

    done = _run_with_database(_state(ctx), work)
    for event_id in done:
        typer.echo(f"{decision} {event_id}")
    missing = set(ids or []) - set(done)
    for event_id in sorted(missing, key=str):
        typer.echo(f"error: {event_id} is not a dead letter", err=True)
    typer.echo(f"{len(done)} dead letter(s) {decision}")
    if missing:
        raise typer.Exit(_FAILED)


_MARKS = {
    CheckStatus.OK: "ok     ",
    CheckStatus.PROBLEM: "PROBLEM",
    CheckStatus.WARNING: "warning",
    CheckStatus.INFO: "info   ",
}


@cdc_cli.command("doctor")
def doctor_command(
    ctx: typer.Context,
    *,
    publication: Annotated[
        str, typer.Option("--publication", help="The publication the connector reads.")
    ] = DEFAULT_PUBLICATION,
    slot: Annotated[
        str, typer.Option("--slot", help="The replication slot the connector uses.")
    ] = DEFAULT_SLOT,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit with status 1 when a problem is found.")
    ] = False,
) -> None:
    """Check the database for CDC of the outbox, and print matching connector configurations."""
    state = _state(ctx)
    settings = state.settings

    async def work(sessionmaker: async_sessionmaker[AsyncSession]) -> Any:
        async with sessionmaker() as session:
            return await cdc_doctor(session, publication=publication)

    report = _run_with_database(state, work)
    for check in report.checks:
        typer.echo(f"[{_MARKS[check.status]}] {check.name}: {check.detail}")
        if check.remedy:
            typer.echo(f"           fix: {check.remedy}")
    url = settings.require_database_url()
    debezium = debezium_connector_config(
        url,
        name=f"{settings.service_name}-outbox",
        topic_template=settings.events_topic_template,
        publication=publication,
        slot=slot,
    )
    typer.echo("\nDebezium (Kafka Connect REST API, POST /connectors):\n")
    typer.echo(json.dumps(debezium, indent=2))
    typer.echo("\nRedpanda Connect (rpk connect run outbox.yaml):\n")
    typer.echo(
        redpanda_connect_config(url, topic_template=settings.events_topic_template, slot=slot)
    )
    if report.ok:
        typer.echo("CDC can read the outbox.")
    else:
        typer.echo("CDC cannot read the outbox yet: fix the problems above.")
        if strict:
            raise typer.Exit(_FAILED)
