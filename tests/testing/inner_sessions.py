"""Running inner pytest sessions, and looking at the server around them."""

from __future__ import annotations

import re
import subprocess
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from fastapi_chassis.testing.postgres import run_sync
from fastapi_chassis.testing.template import TEMPLATE_PREFIX, template_name

if TYPE_CHECKING:
    from pathlib import Path

    import pytest

#: Loop scopes for pytest-asyncio; leaving them unset makes pytest-asyncio warn,
#: which ``-W error`` would turn into a failure that is not the plugin's.
FUNCTION_LOOPS = {
    "asyncio_default_fixture_loop_scope": "function",
    "asyncio_default_test_loop_scope": "function",
}
SESSION_LOOPS = {
    "asyncio_default_fixture_loop_scope": "session",
    "asyncio_default_test_loop_scope": "session",
}


def write_ini(pytester: pytest.Pytester, options: dict[str, str]) -> None:
    """Give the inner session a ``pytest.ini`` (so it never finds the outer one)."""
    lines = ["[pytest]", *(f"{key} = {value}" for key, value in options.items())]
    pytester.makefile(".ini", pytest="\n".join(lines) + "\n")


def run_inner(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """Run pytest in a child process, with every warning an error."""
    return pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-W", "error", *args, timeout=120
    )


def database_names(server_url: str, like: str = "%") -> set[str]:
    """Names of the databases on the server that match the SQL ``LIKE`` pattern."""

    async def query() -> set[str]:
        engine = create_async_engine(server_url, poolclass=NullPool)
        try:
            async with engine.connect() as connection:
                rows = await connection.scalars(
                    text("SELECT datname FROM pg_database WHERE datname LIKE :like"),
                    {"like": like},
                )
                return set(rows)
        finally:
            await engine.dispose()

    return run_sync(query)


# How new_database_name names a database: prefix, worker, pid, random part.
_NAMED_DATABASE = re.compile(r"[a-z_]+?_[a-z0-9]+_(?P<pid>[0-9]+)_[0-9a-f]{8}")


def databases_made_by(
    pid: int, before: set[str], after: set[str], *, project: Path | None = None
) -> set[str]:
    """Databases that appeared between two listings, except other processes' databases.

    Other test runs may share the server (pytest-xdist workers, a second run,
    other suites): the databases they make carry their pid, so they are told
    apart, and their templates carry their project's name. A template counts
    only if it is the one of ``project``; any other new name counts against ``pid``.
    """
    own_template = template_name(project) if project is not None else None
    made = set()
    for name in after - before:
        if name.startswith(TEMPLATE_PREFIX):
            if name == own_template:
                made.add(name)
            continue
        match = _NAMED_DATABASE.fullmatch(name)
        if match is None or int(match["pid"]) == pid:
            made.add(name)
    return made


def template_facts(server_url: str, name: str) -> tuple[int, str] | None:
    """The oid and comment of a database (a template), or ``None`` if it does not exist."""

    async def query() -> tuple[int, str] | None:
        engine = create_async_engine(server_url, poolclass=NullPool)
        try:
            async with engine.connect() as connection:
                row = (
                    await connection.execute(
                        text(
                            "SELECT oid::bigint, shobj_description(oid, 'pg_database')"
                            " FROM pg_database WHERE datname = :name"
                        ),
                        {"name": name},
                    )
                ).first()
                return None if row is None else (int(row[0]), str(row[1]))
        finally:
            await engine.dispose()

    return run_sync(query)


def command_lines_mentioning(fragment: str) -> list[str]:
    """Command lines of running processes that contain ``fragment``."""
    listing = subprocess.run(
        ["ps", "-A", "-ww", "-o", "args="],  # noqa: S607 - ps is found on PATH on purpose
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [line for line in listing.splitlines() if fragment in line]
