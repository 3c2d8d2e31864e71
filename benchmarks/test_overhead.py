"""What the test plugin's fixtures cost per test, against a bare test in the same run.

Run with::

    CHASSIS_TEST_DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/postgres \\
        pytest benchmarks/test_overhead.py -s

(without the variable an embedded PostgreSQL is started for each inner run).
``CHASSIS_BENCH_TESTS`` sets how many tests of each kind an inner run holds
(default 150).

Each loop scope gets one inner pytest session holding, interleaved, ``N`` tests
of each kind: a bare async test, a test that asks for ``db_session``, one that
asks for ``client``, and one that also sends a request through it. A test's
time is its set-up, call and teardown as pytest reports them; the overhead of a
kind is its median time minus the bare test's median, so pytest's own cost
per test, and the machine, cancel out. Medians also leave out the first test of
each kind, which pays for the session's set-up (template, server, lifespan).

The target is the one the plugin is designed to: ``db_session`` under 5 ms per
test with session-scoped event loops (pooled connections). With a loop per test
every test opens a connection of its own (a PostgreSQL backend starting), which
is reported, not asserted.
"""

from __future__ import annotations

import json
import os
import statistics
from importlib import import_module

import pytest

from fastapi_chassis.testing.postgres import TEST_DATABASE_URL_ENV, drop_database, start_server
from fastapi_chassis.testing.template import template_name

# pytester drops from sys.modules whatever a test imported first, and asyncpg's
# compiled protocol crashes the interpreter when imported a second time; so it
# is imported before any test runs.
import_module("asyncpg")

TESTS = int(os.environ.get("CHASSIS_BENCH_TESTS", "150"))
TARGET_MS = 5.0

APP = """
from sqlalchemy.orm import Mapped

from fastapi_chassis import ChassisSettings, create_app
from fastapi_chassis.db import Base, TimestampMixin, UUIDv7PrimaryKeyMixin


class Item(UUIDv7PrimaryKeyMixin, TimestampMixin, Base):
    __tablename__ = "bench_items"

    name: Mapped[str]


def make_app():
    return create_app(ChassisSettings(service_name="bench", log_level="WARNING"))
"""

TESTS_MODULE = """
import pytest

pytestmark = pytest.mark.parametrize("round_", range({tests}))


@pytest.mark.asyncio
async def test_bare(round_):
    pass


@pytest.mark.asyncio
async def test_db_session(round_, db_session):
    pass


@pytest.mark.asyncio
async def test_client(round_, client):
    pass


@pytest.mark.asyncio
async def test_client_request(round_, client):
    assert (await client.get("/health/live")).status_code == 200
"""

# Interleaves the kinds (so drift in the machine's speed hits all alike) and
# records each test's set-up, call and teardown time.
RECORDER = """
import json
from collections import defaultdict
from pathlib import Path

durations = defaultdict(float)


def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: item.callspec.params["round_"])


def pytest_runtest_logreport(report):
    durations[report.nodeid] += report.duration


def pytest_sessionfinish(session):
    Path("durations.json").write_text(json.dumps(durations))
"""

LOOPS = {
    "session": {
        "asyncio_default_fixture_loop_scope": "session",
        "asyncio_default_test_loop_scope": "session",
    },
    "function": {
        "asyncio_default_fixture_loop_scope": "function",
        "asyncio_default_test_loop_scope": "function",
    },
}
KINDS = ("bare", "db_session", "client", "client_request")


def _drop_template(pytester: pytest.Pytester) -> None:
    # A server given through the environment keeps templates between runs; the
    # inner runs' project directories are temporary, so theirs would pile up.
    if os.environ.get(TEST_DATABASE_URL_ENV):
        server = start_server()
        drop_database(server.url, template_name(pytester.path))


def _medians(pytester: pytest.Pytester, loops: dict[str, str]) -> dict[str, float]:
    options = {
        "chassis_app": "bench_app:make_app",
        "chassis_metadata": "bench_app:Base",
        "pythonpath": ".",
        "asyncio_mode": "strict",
        **loops,
    }
    pytester.makefile(
        ".ini", pytest="[pytest]\n" + "\n".join(f"{k} = {v}" for k, v in options.items())
    )
    pytester.makeconftest(RECORDER)
    pytester.makepyfile(bench_app=APP, test_bench=TESTS_MODULE.format(tests=TESTS))
    try:
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q", timeout=1800)
    finally:
        _drop_template(pytester)
    result.assert_outcomes(passed=TESTS * len(KINDS))
    durations: dict[str, float] = json.loads((pytester.path / "durations.json").read_text())
    medians = {}
    for kind in KINDS:
        times = [
            seconds * 1000
            for node, seconds in durations.items()
            if node.split("::")[1].startswith(f"test_{kind}[")
        ]
        medians[kind] = statistics.median(sorted(times)[1:] if len(times) > 1 else times)
    return medians


@pytest.mark.parametrize("scope", list(LOOPS))
def test_per_test_overhead_of_the_fixtures(pytester: pytest.Pytester, scope: str) -> None:
    medians = _medians(pytester, LOOPS[scope])

    bare = medians["bare"]
    overhead = {kind: medians[kind] - bare for kind in KINDS if kind != "bare"}
    print(f"\n{scope}-scoped event loops, {TESTS} tests of each kind (median per test):")
    print(f"  bare test                 {bare:7.2f} ms")
    for kind, extra in overhead.items():
        print(f"  {kind:<25} {medians[kind]:7.2f} ms  (+{extra:.2f} ms)")
    if scope == "session":
        assert overhead["db_session"] < TARGET_MS, overhead
