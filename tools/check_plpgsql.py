"""Check every PL/pgSQL function the chassis installs with the plpgsql_check extension.

SQLFluff lints the ``.sql`` files but sees a function body as a string. This
script installs the real functions and triggers (``metadata.create_all()`` on
models that use every mixin) into a throwaway database on a server that has the
extension, then asks ``plpgsql_check_function`` about each one; trigger
functions are checked against each table they are attached to, with their
transition tables.

Usage::

    python tools/check_plpgsql.py [--url URL] module[:attribute] ...

The URL defaults to ``CHASSIS_TEST_DATABASE_URL``; each module names a MetaData or
declarative base (``tests.db.models:Base``). Exits 1 when a function has errors.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from importlib import import_module
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from fastapi_chassis.testing.postgres import with_database

_FUNCTIONS = text(
    """
    SELECT
        p.oid::integer AS oid,
        p.oid::regprocedure::text AS signature,
        p.prorettype = 'trigger'::regtype AS is_trigger
    FROM pg_proc AS p
    JOIN pg_language AS l ON l.oid = p.prolang
    JOIN pg_namespace AS n ON n.oid = p.pronamespace
    WHERE l.lanname = 'plpgsql'
      AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND p.proname NOT LIKE 'plpgsql_check%'
    ORDER BY signature
    """
)
_TRIGGERS = text(
    """
    SELECT t.tgrelid::integer AS tgrelid, t.tgrelid::regclass::text AS table_name,
        t.tgoldtable::text AS tgoldtable, t.tgnewtable::text AS tgnewtable
    FROM pg_trigger AS t
    WHERE t.tgfoid = :function AND NOT t.tgisinternal
    ORDER BY table_name
    """
)
_CHECK = text(
    """
    SELECT * FROM plpgsql_check_function_tb(
        CAST(CAST(:function AS integer) AS oid),
        CAST(CAST(CAST(:relid AS integer) AS oid) AS regclass),
        oldtable => :oldtable, newtable => :newtable,
        fatal_errors => false, other_warnings => true, performance_warnings => false
    )
    """
)


def _load(spec: str) -> MetaData:
    module_name, _, attribute = spec.partition(":")
    target: Any = import_module(module_name)
    for part in (attribute or "Base").split("."):
        target = getattr(target, part)
    metadata = getattr(target, "metadata", target)
    if not isinstance(metadata, MetaData):
        raise SystemExit(f"{spec} is not a MetaData or declarative base")
    return metadata


async def _check(url: str, metadatas: list[MetaData]) -> int:
    engine = create_async_engine(url, poolclass=NullPool)
    problems = 0
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE EXTENSION IF NOT EXISTS plpgsql_check"))
            schemas = {table.schema for m in metadatas for table in m.tables.values()}
            for schema in sorted(name for name in schemas if name):
                await connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
            for metadata in metadatas:
                await connection.run_sync(metadata.create_all)
        async with engine.connect() as connection:
            functions = (await connection.execute(_FUNCTIONS)).all()
            for function in functions:
                targets: list[Any] = [None]
                if function.is_trigger:
                    targets = list(
                        (await connection.execute(_TRIGGERS, {"function": function.oid})).all()
                    )
                    if not targets:
                        print(f"skip  {function.signature}: no trigger uses it")
                        continue
                for target in targets:
                    where = f" on {target.table_name}" if target is not None else ""
                    rows = (
                        await connection.execute(
                            _CHECK,
                            {
                                "function": function.oid,
                                "relid": target.tgrelid if target is not None else 0,
                                "oldtable": target.tgoldtable if target is not None else None,
                                "newtable": target.tgnewtable if target is not None else None,
                            },
                        )
                    ).all()
                    errors = [row for row in rows if row.level == "error"]
                    for row in rows:
                        print(
                            f"{row.level:7} {function.signature}{where}: line {row.lineno}: "
                            f"{row.message}"
                        )
                    problems += len(errors)
                    if not rows:
                        print(f"ok    {function.signature}{where}")
    finally:
        await engine.dispose()
    return problems


def main() -> int:
    """Run the checks; return the process exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("CHASSIS_TEST_DATABASE_URL"))
    parser.add_argument("models", nargs="+")
    arguments = parser.parse_args()
    if not arguments.url:
        print("error: give --url or set CHASSIS_TEST_DATABASE_URL", file=sys.stderr)
        return 2
    sys.path.insert(0, str(Path.cwd()))
    metadatas = [_load(spec) for spec in arguments.models]
    server = make_url(arguments.url).set(drivername="postgresql+asyncpg")
    with with_database(server.render_as_string(hide_password=False), "plpgsql_check") as url:
        problems = asyncio.run(_check(url, metadatas))
    print(f"plpgsql_check: {problems} error(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
