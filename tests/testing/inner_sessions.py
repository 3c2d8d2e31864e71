"""Running inner pytest sessions, and looking at the server around them."""

from __future__ import annotations

import re
import subprocess
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from fastapi_chassis.testing.postgres import run_sync

if TYPE_CHECKING:
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


# How new_database_name names a test database: prefix, worker, pid, random part.
_TEST_DATABASE = re.compile(r"chassis_test_[a-z0-9]+_(?P<pid>[0-9]+)_[0-9a-f]{8}")


def databases_made_by(pid: int, before: set[str], after: set[str]) -> set[str]:
    """Databases that appeared between two listings, except other processes' test databases.

    Other test runs may share the server (pytest-xdist workers, a second run);
    their databases carry their pid, so they are told apart. Any other new name
    counts against ``pid``.
    """
    made = set()
    for name in after - before:
        match = _TEST_DATABASE.fullmatch(name)
        if match is None or int(match["pid"]) == pid:
            made.add(name)
    return made


def command_lines_mentioning(fragment: str) -> list[str]:
    """Command lines of running processes that contain ``fragment``."""
    listing = subprocess.run(
        ["ps", "-A", "-ww", "-o", "args="],  # noqa: S607 - ps is found on PATH on purpose
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [line for line in listing.splitlines() if fragment in line]
