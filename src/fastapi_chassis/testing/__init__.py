"""Test support for applications built on fastapi-chassis, shipped as a pytest plugin.

Installing ``fastapi-chassis[testing]`` registers the plugin (entry point
``pytest11``). It stays inert until a test asks for one of its fixtures:

- ``db_session``: an ``AsyncSession`` in a transaction that is rolled back after
  the test, including whatever the code under test committed (it commits to a
  SAVEPOINT). In a test that also asks for ``committed_db`` its commits are real.
- ``client``: an ``httpx.AsyncClient`` calling the application (ini option
  ``chassis_app``) in process; its requests join the test's transaction.
- ``<name>_factory``: one fixture per factory (``ProductFactory`` gives
  ``product_factory``), creating through ``db_session``.
- ``captured_events`` and ``captured_logs``: the events recorded and published,
  and the structured log lines written, during the test.
- ``committed_db``: real commits, seen by other connections; the database is put
  back as it was after the test.
- ``db_engine``, ``chassis_database_url``, ``chassis_metadata``,
  ``chassis_postgres``, ``chassis_app``, ``chassis_migrations``: the pieces
  underneath, each overridable in ``conftest.py``.

The schema is built once in a template database (from ``create_all()`` or from
the Alembic migrations, ini option ``chassis_schema``), rebuilt only when the
models or migrations change, and cloned for every run and xdist worker.

Also importable from here: :func:`measure` and :func:`compare` (latency
ratios for performance tests), and the types the fixtures return. The migration
checks are in :mod:`fastapi_chassis.testing.migrations`. The names are loaded on
first use: pytest imports this package with the plugin in every run.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi_chassis.testing.committed import CommittedDatabase
    from fastapi_chassis.testing.events import CapturedEvent, CapturedEvents, EventList
    from fastapi_chassis.testing.factories import BoundFactory
    from fastapi_chassis.testing.latency import Comparison, Measurement, compare, measure
    from fastapi_chassis.testing.logs import CapturedLogs, LogLine

__all__ = [
    "BoundFactory",
    "CapturedEvent",
    "CapturedEvents",
    "CapturedLogs",
    "CommittedDatabase",
    "Comparison",
    "EventList",
    "LogLine",
    "Measurement",
    "compare",
    "measure",
]

_LAZY = {
    "BoundFactory": "factories",
    "CapturedEvent": "events",
    "CapturedEvents": "events",
    "CapturedLogs": "logs",
    "CommittedDatabase": "committed",
    "Comparison": "latency",
    "EventList": "events",
    "LogLine": "logs",
    "Measurement": "latency",
    "compare": "latency",
    "measure": "latency",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
