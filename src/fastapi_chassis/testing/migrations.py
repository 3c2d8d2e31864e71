"""Checks that an application's Alembic migrations are sound, as functions and ready-made tests.

Three properties are worth a test in every project that migrates with Alembic:

* :func:`assert_single_head`: one head revision, so ``alembic upgrade head``
  is unambiguous (two branches that both added a revision need a merge);
* :func:`assert_round_trip`: upgrading to head, downgrading to base and
  upgrading again works, the downgrade leaves nothing behind, and the second
  upgrade builds the same schema as the first;
* :func:`assert_no_drift`: a database migrated to head matches the models, as
  ``alembic check`` sees it: tables, columns, indexes, constraints and every
  alembic-utils entity ``env.py`` registers (the chassis functions and
  triggers from :func:`~fastapi_chassis.db.migrations.chassis_entities`, the
  audit's included).

Each takes the path of ``alembic.ini`` and, for the last two, the URL of an
empty database. With the plugin, the ``chassis_migrations`` fixture supplies
both (the ``chassis_alembic_ini`` ini option, and a fresh database per check on
the test server), and the ready-made tests need only an import in a test module:

```python
from fastapi_chassis.testing.migrations import (  # noqa: F401
    test_migrations_have_a_single_head,
    test_migrations_match_the_models,
    test_migrations_round_trip,
)
```

``env.py`` gets the database URL as Alembic's ``sqlalchemy.url`` option (which
Alembic's templates read) and, while the migrations run, as the
``CHASSIS_DATABASE_URL`` environment variable (which ``ChassisSettings``
reads). Logging configuration that ``env.py`` applies (``fileConfig``) is
undone afterwards, so it cannot silence the test run's loggers.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    from alembic.config import Config

    from fastapi_chassis.testing.postgres import ServerHandle

__all__ = [
    "MigrationChecks",
    "SchemaSnapshot",
    "alembic_config",
    "assert_no_drift",
    "assert_round_trip",
    "assert_single_head",
    "downgrade",
    "migration_files",
    "schema_snapshot",
    "test_migrations_have_a_single_head",
    "test_migrations_match_the_models",
    "test_migrations_round_trip",
    "upgrade",
]

_URL_ENVIRONMENT = "CHASSIS_DATABASE_URL"
_NAME_LENGTH = 120


def alembic_config(alembic_ini: str | Path, database_url: str | None = None) -> Config:
    """Load ``alembic.ini`` and point it at a database.

    A relative ``script_location`` is taken relative to the directory of
    ``alembic.ini`` when it does not exist relative to the working directory,
    so the tests can run from anywhere.

    Args:
        alembic_ini: The path of ``alembic.ini``.
        database_url: Set as ``sqlalchemy.url`` when given.

    Returns:
        The Alembic configuration.

    Raises:
        FileNotFoundError: If ``alembic.ini`` does not exist.
    """
    from alembic.config import Config  # noqa: PLC0415

    path = Path(alembic_ini).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"no alembic.ini at {path}")
    config = Config(str(path))
    location = config.get_main_option("script_location")
    if location and not Path(location).is_absolute() and not Path(location).exists():
        beside = path.parent / location
        if beside.exists():
            config.set_main_option("script_location", str(beside))
    if database_url is not None:
        # ConfigParser would read a "%" in a password as interpolation.
        config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


@contextlib.contextmanager
def _preserved_logging() -> Iterator[None]:
    # Alembic's env.py templates call logging.config.fileConfig(), which replaces
    # the root logger's handlers and disables every logger that exists already.
    root = logging.getLogger()
    saved_root = (list(root.handlers), root.level)
    saved = {
        name: (logger.disabled, logger.level, logger.propagate, list(logger.handlers))
        for name, logger in logging.Logger.manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }
    try:
        yield
    finally:
        root.handlers[:] = saved_root[0]
        root.setLevel(saved_root[1])
        for name, (disabled, level, propagate, handlers) in saved.items():
            logger = logging.getLogger(name)
            logger.disabled = disabled
            logger.setLevel(level)
            logger.propagate = propagate
            logger.handlers[:] = handlers


@contextlib.contextmanager
def _running_against(database_url: str | None) -> Iterator[None]:
    from alembic_utils.replaceable_entity import registry  # noqa: PLC0415

    # env.py registers its entities in alembic-utils' process-wide registry; a
    # real `alembic` command starts with it empty, and so does each run here.
    registry.clear()  # type: ignore[no-untyped-call]
    previous = os.environ.get(_URL_ENVIRONMENT)
    if database_url is not None:
        os.environ[_URL_ENVIRONMENT] = database_url
    try:
        with _preserved_logging():
            yield
    finally:
        if previous is None:
            os.environ.pop(_URL_ENVIRONMENT, None)
        else:
            os.environ[_URL_ENVIRONMENT] = previous


def upgrade(alembic_ini: str | Path, database_url: str, revision: str = "head") -> None:
    """Run ``alembic upgrade`` against ``database_url``.

    Call it from a thread without a running event loop (``env.py`` usually calls
    :func:`asyncio.run`).

    Args:
        alembic_ini: The path of ``alembic.ini``.
        database_url: The database to migrate.
        revision: The target revision.
    """
    from alembic import command  # noqa: PLC0415

    config = alembic_config(alembic_ini, database_url)
    with _running_against(database_url):
        command.upgrade(config, revision)


def downgrade(alembic_ini: str | Path, database_url: str, revision: str = "base") -> None:
    """Run ``alembic downgrade`` against ``database_url`` (see :func:`upgrade`).

    Args:
        alembic_ini: The path of ``alembic.ini``.
        database_url: The database to migrate.
        revision: The target revision.
    """
    from alembic import command  # noqa: PLC0415

    config = alembic_config(alembic_ini, database_url)
    with _running_against(database_url):
        command.downgrade(config, revision)


def migration_files(alembic_ini: str | Path) -> list[bytes]:
    """Return ``alembic.ini``, ``env.py`` and every revision file, each as name and content.

    The template database's fingerprint includes them, so editing or adding a
    migration rebuilds it.

    Args:
        alembic_ini: The path of ``alembic.ini``.

    Returns:
        One entry per file, sorted by path.
    """
    from alembic.script import ScriptDirectory  # noqa: PLC0415

    path = Path(alembic_ini).resolve()
    script = ScriptDirectory.from_config(alembic_config(path))
    roots = {Path(script.dir).resolve(), *(Path(p).resolve() for p in script.version_locations)}
    files = {
        file
        for root in roots
        if root.is_dir()
        for file in root.rglob("*")
        if file.is_file()
        and file.suffix in {".py", ".sql", ".mako"}
        and "__pycache__" not in file.parts
    }
    entries = [b"alembic.ini\x00" + path.read_bytes()]
    for file in sorted(files):
        root = next(root for root in sorted(roots) if file.is_relative_to(root))
        entries.append(str(file.relative_to(root)).encode() + b"\x00" + file.read_bytes())
    return entries


def assert_single_head(alembic_ini: str | Path) -> None:
    """Fail unless the migrations have exactly one head revision.

    Args:
        alembic_ini: The path of ``alembic.ini``.

    Raises:
        AssertionError: Naming the heads, when there is not exactly one.
    """
    from alembic.script import ScriptDirectory  # noqa: PLC0415

    script = ScriptDirectory.from_config(alembic_config(alembic_ini))
    heads = script.get_revisions("heads")
    if len(heads) == 1:
        return
    if not heads:
        raise AssertionError(f"the migrations in {script.dir} have no revision at all")
    described = ", ".join(
        f"{revision.revision} ({(revision.doc or '').strip() or 'no message'})"
        for revision in heads
    )
    raise AssertionError(
        f"the migrations have {len(heads)} heads: {described}; join them with `alembic merge heads`"
    )


@dataclass(frozen=True)
class SchemaSnapshot:
    """The objects of a database, as text, by kind (see :func:`schema_snapshot`).

    Attributes:
        objects: Kind (``"column"``, ``"index"``, ``"function"``...) to the set of
            descriptions of the objects of that kind.
    """

    objects: Mapping[str, frozenset[str]]

    def differences(self, other: SchemaSnapshot) -> list[str]:
        """Describe what ``other`` has that this snapshot lacks (``+``) and the reverse (``-``).

        Args:
            other: The snapshot to compare with.

        Returns:
            One line per differing object; empty when the two are the same.
        """
        lines: list[str] = []
        for kind in sorted(set(self.objects) | set(other.objects)):
            mine = self.objects.get(kind, frozenset())
            theirs = other.objects.get(kind, frozenset())
            lines.extend(f"+ {kind} {item}" for item in sorted(theirs - mine))
            lines.extend(f"- {kind} {item}" for item in sorted(mine - theirs))
        return lines


# Each kind of object, and the file of the query that lists them.
_SNAPSHOT_QUERIES = {
    "schema": "snapshot_schemas.sql",
    "relation": "snapshot_relations.sql",
    "column": "snapshot_columns.sql",
    "constraint": "snapshot_constraints.sql",
    "index": "snapshot_indexes.sql",
    "function": "snapshot_functions.sql",
    "trigger": "snapshot_triggers.sql",
    "type": "snapshot_types.sql",
    "extension": "snapshot_extensions.sql",
}


def schema_snapshot(database_url: str, *, version_table: str = "alembic_version") -> SchemaSnapshot:
    """Describe every schema object of a database (from the system catalogs).

    Schemas, tables, views, sequences, columns (type, nullability, default),
    constraints, indexes, functions (by a hash of their definition), triggers,
    types and extensions; Alembic's version table is left out.

    Args:
        database_url: The database.
        version_table: The name of Alembic's version table.

    Returns:
        The snapshot.
    """
    from fastapi_chassis.db.sql_files import load_sql  # noqa: PLC0415
    from fastapi_chassis.testing.postgres import run_sync  # noqa: PLC0415

    async def read() -> SchemaSnapshot:
        from sqlalchemy import text  # noqa: PLC0415
        from sqlalchemy.ext.asyncio import create_async_engine  # noqa: PLC0415
        from sqlalchemy.pool import NullPool  # noqa: PLC0415

        engine = create_async_engine(database_url, poolclass=NullPool)
        try:
            async with engine.connect() as connection:
                objects: dict[str, frozenset[str]] = {}
                for kind, file in _SNAPSHOT_QUERIES.items():
                    query = load_sql("fastapi_chassis.testing.sql", file)
                    parameters = {"version_table": version_table}
                    if ":version_table" not in query:
                        parameters = {}
                    rows = await connection.scalars(text(query), parameters)
                    objects[kind] = frozenset(" ".join(str(row).split()) for row in rows)
                return SchemaSnapshot(objects)
        finally:
            await engine.dispose()

    return run_sync(read)


def _in_thread(function: Callable[[], object]) -> None:
    import threading  # noqa: PLC0415

    failure: list[BaseException] = []

    def target() -> None:
        try:
            function()
        except BaseException as error:  # noqa: BLE001 - re-raised in the caller's thread
            failure.append(error)

    # env.py calls asyncio.run(), which refuses to run where a loop is running.
    thread = threading.Thread(target=target, name="chassis-alembic")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]


def assert_round_trip(alembic_ini: str | Path, database_url: str) -> None:
    """Upgrade to head, downgrade to base, upgrade again; fail if anything differs.

    Every revision's upgrade and downgrade runs. After the downgrade the
    database must be as it was before the first upgrade (Alembic's version table
    aside), and the second upgrade must build the same schema as the first.

    Args:
        alembic_ini: The path of ``alembic.ini``.
        database_url: An empty database (it is left at head).

    Raises:
        AssertionError: Listing the objects that differ.
    """
    before = schema_snapshot(database_url)
    _in_thread(lambda: upgrade(alembic_ini, database_url, "head"))
    at_head = schema_snapshot(database_url)
    _in_thread(lambda: downgrade(alembic_ini, database_url, "base"))
    left = before.differences(schema_snapshot(database_url))
    if left:
        raise AssertionError(
            "downgrading to base does not undo the upgrade (+ left behind, - removed):\n"
            + "\n".join(left)
        )
    _in_thread(lambda: upgrade(alembic_ini, database_url, "head"))
    again = at_head.differences(schema_snapshot(database_url))
    if again:
        raise AssertionError(
            "upgrading again after the downgrade builds another schema "
            "(+ only the second time, - only the first time):\n" + "\n".join(again)
        )


def assert_no_drift(alembic_ini: str | Path, database_url: str) -> None:
    """Upgrade an empty database to head and fail if ``alembic check`` finds differences.

    The comparison is autogenerate's, configured by ``env.py``: with the
    chassis recipe it covers the alembic-utils entities (functions, triggers,
    the audit) as well as tables, columns, indexes and constraints.

    Args:
        alembic_ini: The path of ``alembic.ini``.
        database_url: An empty database (it is left at head).

    Raises:
        AssertionError: Listing the differences autogenerate found.
    """
    from alembic import command  # noqa: PLC0415
    from alembic.util.exc import AutogenerateDiffsDetected  # noqa: PLC0415

    _in_thread(lambda: upgrade(alembic_ini, database_url, "head"))
    config = alembic_config(alembic_ini, database_url)

    def check() -> None:
        with _running_against(database_url):
            command.check(config)

    try:
        _in_thread(check)
    except AutogenerateDiffsDetected as error:
        diffs = getattr(error, "diffs", None) or [str(error)]
        listing = "\n".join(f"  {_describe_diff(diff)}" for diff in diffs)
        raise AssertionError(
            "the models differ from the database the migrations build; generate a "
            f"revision (alembic revision --autogenerate). Differences:\n{listing}"
        ) from None


def _describe_diff(diff: object) -> str:
    """One line for one of autogenerate's differences (SQL bodies left out)."""
    if isinstance(diff, list):
        return "; ".join(_describe_diff(item) for item in diff)
    if not isinstance(diff, tuple) or not diff:
        return str(diff)
    parts = [str(diff[0])]
    for item in diff[1:]:
        name = _object_name(item)
        if name:
            parts.append(name)
    return " ".join(parts)


def _object_name(item: object) -> str | None:
    from sqlalchemy import Column, Table  # noqa: PLC0415

    if isinstance(item, Column):
        table = getattr(item, "table", None)
        return f"{table.name}.{item.name}" if isinstance(table, Table) else str(item.name)
    name = getattr(item, "name", None)
    if isinstance(name, str) and not isinstance(item, str):
        return name
    # Short strings are names and identities; long ones are SQL bodies.
    if isinstance(item, str) and len(item) <= _NAME_LENGTH and "\n" not in item:
        return item
    return None


@dataclass(frozen=True)
class MigrationChecks:
    """The migration checks, bound to ``alembic.ini`` and a test server (``chassis_migrations``).

    Each check that needs a database creates an empty one on the server and
    drops it afterwards.

    Attributes:
        alembic_ini: The path of ``alembic.ini``.
        server: The test server.
    """

    alembic_ini: Path
    server: ServerHandle

    def assert_single_head(self) -> None:
        """See :func:`assert_single_head`."""
        assert_single_head(self.alembic_ini)

    def assert_round_trip(self) -> None:
        """See :func:`assert_round_trip`."""
        from fastapi_chassis.testing.postgres import with_database  # noqa: PLC0415

        with with_database(self.server.url, prefix="chassis_migrations") as url:
            assert_round_trip(self.alembic_ini, url)

    def assert_no_drift(self) -> None:
        """See :func:`assert_no_drift`."""
        from fastapi_chassis.testing.postgres import with_database  # noqa: PLC0415

        with with_database(self.server.url, prefix="chassis_migrations") as url:
            assert_no_drift(self.alembic_ini, url)


def test_migrations_have_a_single_head(chassis_migrations: MigrationChecks) -> None:
    """Ready-made test: the migrations have one head (import it into a test module)."""
    chassis_migrations.assert_single_head()


def test_migrations_round_trip(chassis_migrations: MigrationChecks) -> None:
    """Ready-made test: upgrade, downgrade to base and upgrade again leave the same schema."""
    chassis_migrations.assert_round_trip()


def test_migrations_match_the_models(chassis_migrations: MigrationChecks) -> None:
    """Ready-made test: ``alembic check`` finds no drift after ``upgrade head``."""
    chassis_migrations.assert_no_drift()
