"""pytest-xdist: every worker gets its own clone of the one template."""

from __future__ import annotations

import json

import pytest

from fastapi_chassis.testing.template import template_name
from tests.testing.inner_sessions import (
    FUNCTION_LOOPS,
    database_names,
    databases_made_by,
    run_inner,
    write_ini,
)
from tests.testing.projects import SHOP_INI, write_shop

pytest.importorskip("xdist")

WORKER_TESTS = """
import json
import os
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from shop_models import Customer


@pytest.mark.asyncio
@pytest.mark.parametrize("round_", range(6))
async def test_each_worker_writes_in_its_own_database(round_, customer_factory, db_session):
    assert await db_session.scalar(select(func.count()).select_from(Customer)) == 0
    await customer_factory.create_batch(2)
    await db_session.commit()
    with Path("workers.jsonl").open("a") as out:
        out.write(json.dumps({
            "worker": os.environ["PYTEST_XDIST_WORKER"],
            "pid": os.getpid(),
            "database": await db_session.scalar(text("SELECT current_database()")),
        }) + "\\n")


@pytest.mark.asyncio
async def test_a_request_too(client, customer_factory):
    customer = await customer_factory.create()
    body = {"customer_id": str(customer.id), "total_cents": 1}
    assert (await client.post("/orders", json=body)).status_code == 201
"""


def test_two_workers_clone_one_template(pytester: pytest.Pytester, inner_server: str) -> None:
    write_ini(pytester, {**SHOP_INI, **FUNCTION_LOOPS})
    write_shop(pytester)
    pytester.makepyfile(test_workers=WORKER_TESTS)
    before = database_names(inner_server)

    # --dist each: both workers run every test, each on its own database.
    result = run_inner(pytester, "-p", "xdist", "-n", "2", "--dist", "each")

    result.assert_outcomes(passed=14)
    records = [
        json.loads(line) for line in (pytester.path / "workers.jsonl").read_text().splitlines()
    ]
    databases: dict[str, set[str]] = {}
    for record in records:
        databases.setdefault(record["worker"], set()).add(record["database"])
    assert set(databases) == {"gw0", "gw1"}
    assert all(len(names) == 1 for names in databases.values())
    (gw0,) = databases["gw0"]
    (gw1,) = databases["gw1"]
    assert gw0 != gw1
    assert gw0.startswith("chassis_test_gw0_")
    assert gw1.startswith("chassis_test_gw1_")
    after = database_names(inner_server)
    made = set()
    for pid in {record["pid"] for record in records}:
        made |= databases_made_by(pid, before, after, project=pytester.path)
    assert made == {template_name(pytester.path)}
