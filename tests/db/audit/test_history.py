"""Reading a record's history, and serving it over HTTP."""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from fastapi_chassis import ChassisSettings, create_app, hookimpl
from fastapi_chassis.api import SessionDep
from fastapi_chassis.context import set_actor
from fastapi_chassis.db.audit import AuditAction, AuditEntry, audit_history, audit_history_router
from tests.db.audit.models import Account, Counter, Membership, Note, table_of

pytestmark = [pytest.mark.db, pytest.mark.asyncio]


async def test_history_is_newest_first_and_typed(session: AsyncSession) -> None:
    account = Account(email="h1@example.com")
    session.add(account)
    await session.commit()
    for note in ("one", "two"):
        account.note = note
        await session.commit()
    account.soft_delete()
    await session.commit()

    entries = await audit_history(session, Account, account.id)

    assert [entry.action for entry in entries] == ["SOFT_DELETE", "UPDATE", "UPDATE", "INSERT"]
    assert [entry.old_data for entry in entries[1:3]] == [{"note": "one"}, {"note": None}]
    times = [entry.occurred_at for entry in entries]
    assert times == sorted(times, reverse=True)
    for entry in entries:
        assert isinstance(entry, AuditEntry)
        assert isinstance(entry.action, AuditAction)
        assert isinstance(entry.id, uuid.UUID)
        assert entry.id.version == 7
        assert isinstance(entry.occurred_at, datetime.datetime)
        assert entry.occurred_at.tzinfo is not None
        assert isinstance(entry.transaction_id, int)
        assert isinstance(entry.changed_fields, tuple)
        assert entry.record_id == str(account.id)
    with pytest.raises(dataclasses.FrozenInstanceError):
        entries[0].actor = "mallory"  # type: ignore[misc]


async def test_limit_keeps_the_newest_entries(session: AsyncSession) -> None:
    await session.execute(text("INSERT INTO audit_counters (id, value) VALUES (1, 0), (2, 0)"))
    for value in range(1, 4):
        await session.execute(
            text("UPDATE audit_counters SET value = :v WHERE id = 1"), {"v": value}
        )

    entries = await audit_history(session, Counter, 1, limit=2)

    assert [entry.old_data for entry in entries] == [{"value": 2}, {"value": 1}]
    # The rows of one statement share its time, and their ids follow row order.
    first = (await audit_history(session, Counter, 1))[-1]
    second = (await audit_history(session, Counter, 2))[-1]
    assert first.occurred_at == second.occurred_at
    assert first.id < second.id  # in row order
    assert first.id.version == second.id.version == 7
    # The id's time is the statement's, to the millisecond.
    epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
    milliseconds = (first.occurred_at - epoch) // datetime.timedelta(milliseconds=1)
    assert int.from_bytes(first.id.bytes[:6], "big") == milliseconds


async def test_deleted_records_keep_their_history(session: AsyncSession) -> None:
    account = Account(email="gone@example.com")
    session.add(account)
    await session.commit()
    await session.delete(account)
    await session.commit()

    entries = await audit_history(session, table_of(Account), account.id)

    assert [entry.action for entry in entries] == ["DELETE", "INSERT"]


async def test_a_record_without_history_has_an_empty_one(session: AsyncSession) -> None:
    assert await audit_history(session, Account, uuid.uuid4()) == []


async def test_history_needs_an_audited_table_and_a_fitting_key(session: AsyncSession) -> None:
    with pytest.raises(ValueError, match="not audited"):
        await audit_history(session, Note, uuid.uuid4())
    with pytest.raises(TypeError, match="not a mapped class"):
        await audit_history(session, str, "x")
    with pytest.raises(ValueError, match="2-column key"):
        await audit_history(session, Membership, uuid.uuid4())


class NewAccount(BaseModel):
    email: str


class ShopPlugin:
    """Creates accounts over HTTP and serves their history."""

    name = "test.audit-shop"

    def __init__(self) -> None:
        self.router = APIRouter()

        async def current_user(request: Request) -> str:
            user = request.headers.get("x-user")
            if user is None:
                raise HTTPException(status_code=401)
            set_actor(user)
            return user

        @self.router.post("/accounts", dependencies=[Depends(current_user)])
        async def create(body: NewAccount, session: SessionDep) -> dict[str, str]:
            account = Account(email=body.email)
            session.add(account)
            await session.flush()
            return {"id": str(account.id)}

        @self.router.patch("/accounts/{account_id}", dependencies=[Depends(current_user)])
        async def rename(account_id: uuid.UUID, body: NewAccount, session: SessionDep) -> None:
            await session.execute(
                text("UPDATE audit_accounts SET email = :email WHERE id = :id"),
                {"email": body.email, "id": account_id},
            )

    @hookimpl
    def chassis_routers(self, version: str) -> list[APIRouter]:
        if version != "1":
            return []
        history = audit_history_router(Account, prefix="/accounts", max_limit=10)
        return [self.router, history]


@pytest_asyncio.fixture
async def client(audit_database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = ChassisSettings(
        database_url=audit_database_url, service_name="audit-test", log_configure=False
    )
    app: FastAPI = create_app(settings, plugins=[ShopPlugin()])
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


async def test_requests_are_audited_with_their_user_and_correlation_id(
    client: httpx.AsyncClient,
) -> None:
    created = await client.post(
        "/accounts",
        json={"email": "web@example.com"},
        headers={"x-user": "user-17", "x-correlation-id": "req-web-1"},
    )
    assert created.status_code == 200, created.text
    key = created.json()["id"]
    renamed = await client.patch(
        f"/accounts/{key}",
        json={"email": "web2@example.com"},
        headers={"x-user": "user-18", "x-correlation-id": "req-web-2"},
    )
    assert renamed.status_code == 200, renamed.text

    response = await client.get(f"/accounts/{key}/history")

    assert response.status_code == 200
    body = response.json()
    assert [entry["action"] for entry in body] == ["UPDATE", "INSERT"]
    assert [(entry["actor"], entry["correlation_id"]) for entry in body] == [
        ("user-18", "req-web-2"),
        ("user-17", "req-web-1"),
    ]
    assert body[0]["old_data"] == {"email": "web@example.com"}
    assert body[0]["changed_fields"] == ["email"]
    assert body[0]["new_data"]["email"] == "web2@example.com"
    assert set(body[0]) == {field.name for field in dataclasses.fields(AuditEntry)}

    limited = await client.get(f"/accounts/{key}/history", params={"limit": 1})
    assert [entry["action"] for entry in limited.json()] == ["UPDATE"]


async def test_the_history_route_validates_its_input(client: httpx.AsyncClient) -> None:
    missing = await client.get(f"/accounts/{uuid.uuid4()}/history")
    malformed = await client.get("/accounts/not-a-uuid/history")
    too_many = await client.get(f"/accounts/{uuid.uuid4()}/history", params={"limit": 11})

    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert malformed.status_code == 422
    assert too_many.status_code == 422
