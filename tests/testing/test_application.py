"""An application's test suite on the plugin: client, factories, events, logs, committed_db.

The same suite runs in each combination of pytest-asyncio's modes (strict, auto)
and event loop scopes (one loop per test, one per session), with every warning
an error: the plugin must behave the same in all four.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from sqlalchemy.engine import make_url

from fastapi_chassis import ChassisSettings
from fastapi_chassis.testing.application import _base_url, load_app
from fastapi_chassis.testing.template import template_name
from tests.testing import applications
from tests.testing.inner_sessions import (
    FUNCTION_LOOPS,
    SESSION_LOOPS,
    database_names,
    databases_made_by,
    run_inner,
    write_ini,
)
from tests.testing.projects import SHOP_INI, write_shop

SHOP_TESTS = """
import asyncio
import json
import os
from pathlib import Path
from uuid import UUID

import asyncpg
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from fastapi_chassis.events import record_event
from fastapi_chassis.events.listener import asyncpg_dsn
from shop_events import OrderPlaced
from shop_models import Customer, Order, Product


def report(name, **facts):
    with Path("report.jsonl").open("a") as out:
        out.write(json.dumps({"test": name, "pid": os.getpid(), **facts}) + "\\n")


{mark}
async def test_factories_make_related_rows(order_factory, product_factory, db_session):
    order = await order_factory.create()
    assert order.customer.email.startswith("customer")
    assert await db_session.scalar(select(func.count()).select_from(Customer)) == 1
    stored = await db_session.scalar(select(Order.customer_id).where(Order.id == order.id))
    assert stored == order.customer.id
    products = await product_factory.create_batch(3, price_cents=99)
    assert len({product.id for product in products}) == 3
    assert {(product.version, product.price_cents) for product in products} == {(1, 99)}
    unsaved = product_factory.build()
    assert await db_session.scalar(select(func.count()).select_from(Product)) == 3
    assert unsaved not in db_session
    report("factories", database=await db_session.scalar(text("SELECT current_database()")))


{mark}
async def test_the_rows_of_the_previous_test_are_gone(db_session):
    for model in (Customer, Order, Product):
        assert await db_session.scalar(select(func.count()).select_from(model)) == 0
    assert await db_session.scalar(text("SELECT count(*) FROM audit.log")) == 0


{mark}
async def test_a_request_commits_into_the_test_transaction(
    client, customer_factory, db_session, captured_events, captured_logs
):
    customer = await customer_factory.create()
    body = {"customer_id": str(customer.id), "total_cents": 1200}
    response = await client.post("/orders", json=body)
    assert response.status_code == 201, response.text
    order_id = response.json()["id"]
    assert (await client.get("/orders/count")).json() == {"count": 1}
    assert await db_session.scalar(select(func.count()).select_from(Order)) == 1

    event = await captured_events.assert_recorded(
        "shop.order.placed", aggregate_id=order_id, total_cents=1200, customer_id=customer.id
    )
    assert event.envelope["source"] == "shop"
    assert event.envelope["correlationid"] == response.headers["x-correlation-id"]
    with pytest.raises(AssertionError, match="total_cents"):
        await captured_events.assert_recorded("shop.order.placed", total_cents=1)
    assert list(captured_events.published) == []
    assert await captured_events.relay() == 1
    captured_events.assert_published("shop.order.placed", aggregate_id=order_id)
    assert await captured_events.relay() == 0

    line = captured_logs.assert_logged("order placed", order_id=order_id, level="info")
    assert line["logger"] == "shop"
    assert line["correlation_id"] == response.headers["x-correlation-id"]
    stdlib = captured_logs.assert_logged(f"order {order_id} placed", logger="shop.audit")
    assert stdlib["level"] == "warning"
    assert stdlib["correlation_id"] == response.headers["x-correlation-id"]
    requests = [(line["path"], line["status"]) for line in captured_logs.access_lines()]
    assert requests == [("/orders", 201), ("/orders/count", 200)]


{mark}
async def test_what_the_requests_committed_is_gone(client, db_session, captured_events):
    assert await db_session.scalar(select(func.count()).select_from(Order)) == 0
    assert (await client.get("/orders/count")).json() == {"count": 0}
    assert list(await captured_events.recorded()) == []


{mark}
async def test_events_the_test_records_itself_are_captured(
    client, customer_factory, db_session, captured_events
):
    customer = await customer_factory.create()
    order = Order(customer_id=customer.id, total_cents=10)
    db_session.add(order)
    await record_event(
        db_session, OrderPlaced(aggregate_id=order.id, total_cents=10, customer_id=customer.id)
    )
    recorded = await captured_events.of_type("shop.order.placed")
    assert [event.aggregate_id for event in recorded] == [order.id]
    assert recorded[0].envelope["source"] == "shop"


{mark}
async def test_a_failing_request_undoes_only_its_own_work(client, product_factory, db_session):
    product = await product_factory.create(name="kept")
    response = await client.post("/products/lost/fail")
    assert response.status_code == 422
    assert product.name == "kept"
    assert set(await db_session.scalars(select(Product.name))) == {"kept"}


{mark}
async def test_concurrent_requests_take_turns(client, customer_factory):
    customer = await customer_factory.create()
    body = {"customer_id": str(customer.id), "total_cents": 5}
    responses = await asyncio.gather(*(client.post("/orders", json=body) for _ in range(5)))
    assert [response.status_code for response in responses] == [201] * 5
    assert (await client.get("/orders/count")).json() == {"count": 5}


{mark}
async def test_committed_rows_are_seen_by_other_connections(
    committed_db, db_session, customer_factory
):
    listener = await asyncpg.connect(asyncpg_dsn(committed_db.url))
    notified = asyncio.Event()
    await listener.add_listener("chassis_outbox", lambda *_: notified.set())
    try:
        customer = await customer_factory.create(email="real@example.com")
        await record_event(
            db_session,
            OrderPlaced(aggregate_id=customer.id, total_cents=1, customer_id=customer.id),
        )
        await db_session.commit()
        await asyncio.wait_for(notified.wait(), timeout=5)
    finally:
        await listener.close()
    other = create_async_engine(committed_db.url, poolclass=NullPool)
    try:
        async with other.connect() as connection:
            emails = await connection.scalars(text("SELECT email FROM customers"))
            assert list(emails) == ["real@example.com"]
    finally:
        await other.dispose()


{mark}
async def test_the_application_relay_publishes_committed_events(
    committed_db, client, customer_factory, db_session, captured_events
):
    customer = await customer_factory.create()
    await db_session.commit()
    body = {"customer_id": str(customer.id), "total_cents": 7}
    response = await client.post("/orders", json=body)
    assert response.status_code == 201
    published = await captured_events.wait_published(1)
    assert published.types == ["shop.order.placed"]
    assert published[0].aggregate_id == UUID(response.json()["id"])
    await captured_events.assert_recorded("shop.order.placed", total_cents=7)


{mark}
async def test_what_committed_tests_wrote_is_cleaned_up(db_session):
    for table in ("customers", "orders", "products", "chassis_outbox", "audit.log"):
        assert await db_session.scalar(text(f"SELECT count(*) FROM {table}")) == 0, table
"""

STRICT = "@pytest.mark.asyncio"
AUTO = ""


@dataclass(frozen=True)
class Mode:
    ini: dict[str, str]
    mark: str
    #: How often the application's lifespan runs for the suite's six client tests.
    lifespans: int


STRICT_MODE = {"asyncio_mode": "strict"}
AUTO_MODE = {"asyncio_mode": "auto"}
MODES = [
    pytest.param(Mode({**FUNCTION_LOOPS, **STRICT_MODE}, STRICT, 6), id="strict-function"),
    pytest.param(Mode({**SESSION_LOOPS, **STRICT_MODE}, STRICT, 1), id="strict-session"),
    pytest.param(Mode({**FUNCTION_LOOPS, **AUTO_MODE}, AUTO, 6), id="auto-function"),
    pytest.param(Mode({**SESSION_LOOPS, **AUTO_MODE}, AUTO, 1), id="auto-session"),
]


@pytest.mark.parametrize("mode", MODES)
def test_an_application_suite_passes_in_every_mode_and_loop_scope(
    pytester: pytest.Pytester, inner_server: str, mode: Mode
) -> None:
    write_ini(pytester, {**SHOP_INI, **mode.ini})
    write_shop(pytester)
    pytester.makepyfile(test_shop=SHOP_TESTS.replace("{mark}", mode.mark))
    before = database_names(inner_server)

    result = run_inner(pytester)

    result.assert_outcomes(passed=10)
    lines = (pytester.path / "lifespans.log").read_text().splitlines()
    # Once per event loop, on the test database (the application's settings name none).
    assert len(lines) == mode.lifespans
    (report,) = [
        json.loads(line) for line in (pytester.path / "report.jsonl").read_text().splitlines()
    ]
    assert {make_url(line.split()[1]).database for line in lines} == {report["database"]}
    assert {line.split()[2] for line in lines} == {"None"}
    after = database_names(inner_server)
    assert report["database"] not in after
    # The run's database is gone; the template stays for the next run.
    assert databases_made_by(report["pid"], before, after, project=pytester.path) == {
        template_name(pytester.path)
    }


# --- pieces of the client fixture ---------------------------------------------------


@pytest.mark.parametrize(
    ("hosts", "expected"),
    [
        ([], "http://testserver"),
        (["*"], "http://testserver"),
        (["api.example.com", "*.example.com"], "http://api.example.com"),
        (["*.example.com"], "http://test.example.com"),
    ],
)
def test_the_client_uses_a_host_the_application_trusts(hosts: list[str], expected: str) -> None:
    assert _base_url(ChassisSettings(trusted_hosts=hosts)) == expected


HERE = "tests.testing.applications"


def test_the_application_is_loaded_once_per_spec() -> None:
    first = load_app(f"{HERE}:make")
    again = load_app(f"{HERE}:make")

    assert first is again
    assert isinstance(first, FastAPI)
    assert applications.calls == [1]


@pytest.mark.parametrize(
    ("spec", "complaint"),
    [
        (HERE, "must look like 'package.module:app'"),
        (f"{HERE}:missing", "has no attribute 'missing'"),
        (f"{HERE}:plain", "not made by create_app()"),
        (f"{HERE}:not_an_app", "is a int, not an application"),
        ("no_such_module_here:app", "cannot find module"),
    ],
)
def test_a_bad_application_spec_says_what_is_wrong(spec: str, complaint: str) -> None:
    with pytest.raises(pytest.UsageError, match="chassis_app") as caught:
        load_app(spec)

    assert complaint in str(caught.value)
