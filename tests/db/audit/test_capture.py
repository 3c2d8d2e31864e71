"""What the triggers record, whoever writes: the ORM, Core statements, raw SQL."""

# The "secrets" here are sample values that must stay out of the audit log.
# ruff: noqa: S105, S106

from __future__ import annotations

import datetime
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import pytest
import pytest_asyncio
from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from fastapi_chassis.context import request_context
from fastapi_chassis.db.audit import AuditAction, audit_history
from tests.db.audit.helpers import current_user, log_entries, transaction_id
from tests.db.audit.models import Account, Counter, Invoice, Membership, Note, table_of

pytestmark = [pytest.mark.db, pytest.mark.asyncio]

ACCOUNTS = "public.audit_accounts"
SECRETS = {"password_hash", "token", "api_token"}
IMAGE_KEYS = {
    "id",
    "email",
    "balance",
    "note",
    "profile",
    "created_at",
    "updated_at",
    "version",
    "deleted_at",
    "is_deleted",
}


class Writer(Protocol):
    """Changes one account through one interface."""

    async def insert(self, session: AsyncSession, email: str) -> uuid.UUID: ...
    async def update(self, session: AsyncSession, key: uuid.UUID, email: str) -> None: ...
    async def soft_delete(self, session: AsyncSession, key: uuid.UUID) -> None: ...
    async def restore(self, session: AsyncSession, key: uuid.UUID) -> None: ...
    async def delete(self, session: AsyncSession, key: uuid.UUID) -> None: ...


@dataclass
class OrmWriter:
    objects: dict[uuid.UUID, Account] = field(default_factory=dict)

    async def insert(self, session: AsyncSession, email: str) -> uuid.UUID:
        account = Account(email=email, password_hash="hash-secret", api_token="token-secret")
        session.add(account)
        await session.commit()
        self.objects[account.id] = account
        return account.id

    async def update(self, session: AsyncSession, key: uuid.UUID, email: str) -> None:
        self.objects[key].email = email
        self.objects[key].note = "changed"
        await session.commit()

    async def soft_delete(self, session: AsyncSession, key: uuid.UUID) -> None:
        self.objects[key].soft_delete()
        await session.commit()

    async def restore(self, session: AsyncSession, key: uuid.UUID) -> None:
        self.objects[key].restore()
        await session.commit()

    async def delete(self, session: AsyncSession, key: uuid.UUID) -> None:
        await session.delete(self.objects[key])
        await session.commit()


class CoreWriter:
    table = table_of(Account)

    async def insert(self, session: AsyncSession, email: str) -> uuid.UUID:
        result = await session.execute(
            insert(self.table)
            # pragma: allowlist nextline secret
            .values(email=email, password_hash="hash-secret", token="token-secret")
            .returning(self.table.c.id)
        )
        key: uuid.UUID = result.scalar_one()
        await session.commit()
        return key

    async def _update(self, session: AsyncSession, key: uuid.UUID, **values: Any) -> None:
        await session.execute(update(self.table).where(self.table.c.id == key).values(**values))
        await session.commit()

    async def update(self, session: AsyncSession, key: uuid.UUID, email: str) -> None:
        await self._update(session, key, email=email, note="changed")

    async def soft_delete(self, session: AsyncSession, key: uuid.UUID) -> None:
        await self._update(session, key, deleted_at=func.now())

    async def restore(self, session: AsyncSession, key: uuid.UUID) -> None:
        await self._update(session, key, deleted_at=None)

    async def delete(self, session: AsyncSession, key: uuid.UUID) -> None:
        await session.execute(delete(self.table).where(self.table.c.id == key))
        await session.commit()


class RawWriter:
    async def _run(self, session: AsyncSession, sql: str, **params: Any) -> Any:
        result = await session.execute(text(sql), params)
        await session.commit()
        return result

    async def insert(self, session: AsyncSession, email: str) -> uuid.UUID:
        result = await session.execute(
            text(
                "INSERT INTO audit_accounts (email, balance, password_hash, token) "
                "VALUES (:email, 0, 'hash-secret', 'token-secret') RETURNING id"
            ),
            {"email": email},
        )
        key: uuid.UUID = result.scalar_one()
        await session.commit()
        return key

    async def update(self, session: AsyncSession, key: uuid.UUID, email: str) -> None:
        await self._run(
            session,
            "UPDATE audit_accounts SET email = :email, note = 'changed' WHERE id = :key",
            email=email,
            key=key,
        )

    async def soft_delete(self, session: AsyncSession, key: uuid.UUID) -> None:
        await self._run(
            session, "UPDATE audit_accounts SET deleted_at = now() WHERE id = :key", key=key
        )

    async def restore(self, session: AsyncSession, key: uuid.UUID) -> None:
        await self._run(
            session, "UPDATE audit_accounts SET deleted_at = NULL WHERE id = :key", key=key
        )

    async def delete(self, session: AsyncSession, key: uuid.UUID) -> None:
        await self._run(session, "DELETE FROM audit_accounts WHERE id = :key", key=key)


WRITERS: dict[str, type[Writer]] = {"orm": OrmWriter, "core": CoreWriter, "raw-sql": RawWriter}


def _is_timestamp(value: object) -> bool:
    return isinstance(value, str) and datetime.datetime.fromisoformat(value).tzinfo is not None


@pytest.mark.parametrize("writer_name", list(WRITERS))
async def test_every_change_is_recorded_with_its_diff_and_context(
    session: AsyncSession, writer_name: str
) -> None:
    writer = WRITERS[writer_name]()
    correlation = f"c-{writer_name}"
    with request_context(actor="alice", correlation_id=correlation):
        key = await writer.insert(session, "ann@example.com")
        await writer.update(session, key, "bea@example.com")
        await writer.soft_delete(session, key)
        await writer.restore(session, key)
        await writer.delete(session, key)

    entries = await log_entries(session, table=ACCOUNTS, record_id=str(key))

    inserted, updated, deleted_softly, restored, deleted = entries
    assert [entry.action for entry in entries] == [
        "INSERT",
        "UPDATE",
        "SOFT_DELETE",
        "RESTORE",
        "DELETE",
    ]
    for entry in entries:
        assert (entry.actor, entry.correlation_id) == ("alice", correlation)
        assert entry.transaction_id == await transaction_id(session)
        assert entry.db_user == await current_user(session)
        assert entry.table_name == ACCOUNTS

    assert inserted.old_data is None
    assert inserted.new_data is not None
    assert set(inserted.new_data) == IMAGE_KEYS
    assert inserted.new_data["id"] == str(key)
    assert inserted.new_data["email"] == "ann@example.com"
    assert inserted.new_data["version"] == 1
    assert inserted.new_data["deleted_at"] is None
    assert _is_timestamp(inserted.new_data["created_at"])
    assert inserted.changed_fields == ()

    # Only the changed columns' old values; housekeeping columns are not changes.
    assert updated.changed_fields == ("email", "note")
    assert updated.old_data == {"email": "ann@example.com", "note": None}
    assert updated.new_data is not None
    assert set(updated.new_data) == IMAGE_KEYS
    assert (updated.new_data["email"], updated.new_data["note"]) == ("bea@example.com", "changed")
    assert updated.new_data["version"] == 2

    assert deleted_softly.changed_fields == ("deleted_at",)
    assert deleted_softly.old_data == {"deleted_at": None}
    assert deleted_softly.new_data is not None
    assert _is_timestamp(deleted_softly.new_data["deleted_at"])
    assert deleted_softly.new_data["is_deleted"] is True

    assert restored.changed_fields == ("deleted_at",)
    assert restored.old_data == {"deleted_at": deleted_softly.new_data["deleted_at"]}
    assert restored.new_data is not None
    assert restored.new_data["deleted_at"] is None
    assert restored.new_data["version"] == 4

    assert deleted.old_data == restored.new_data
    assert deleted.new_data is None
    assert deleted.changed_fields == ()


async def test_an_update_that_changes_nothing_records_nothing(session: AsyncSession) -> None:
    account = Account(email="same@example.com", note="n")
    session.add(account)
    await session.commit()
    table = table_of(Account)

    await session.execute(text("UPDATE audit_accounts SET email = email, note = note"))
    await session.execute(update(table).values(email=table.c.email))
    # Housekeeping columns alone: the server keeps them as they were.
    await session.execute(text("UPDATE audit_accounts SET version = 99, updated_at = now()"))
    # A statement that matches no row at all.
    await session.execute(text("UPDATE audit_accounts SET note = 'x' WHERE false"))

    entries = await log_entries(session, table=ACCOUNTS, record_id=str(account.id))
    assert [entry.action for entry in entries] == ["INSERT"]


async def test_excluded_columns_never_reach_the_log(session: AsyncSession) -> None:
    account = Account(email="s@example.com", password_hash="hash-1", api_token="tok-1")
    session.add(account)
    await session.commit()
    account.password_hash = "hash-2"  # pragma: allowlist secret
    account.api_token = "tok-2"
    await session.commit()
    account.email = "t@example.com"
    account.password_hash = "hash-3"  # pragma: allowlist secret
    await session.commit()
    await session.delete(account)
    await session.commit()

    entries = await log_entries(session, table=ACCOUNTS, record_id=str(account.id))

    # A change to excluded columns alone records nothing.
    assert [entry.action for entry in entries] == ["INSERT", "UPDATE", "DELETE"]
    assert entries[1].changed_fields == ("email",)
    for entry in entries:
        for data in (entry.old_data or {}, entry.new_data or {}):
            assert not SECRETS & set(data)
        assert not SECRETS & set(entry.changed_fields)
    leaked = (
        await session.execute(
            text(
                "SELECT count(*) FROM audit.log WHERE concat(old_data::text, new_data::text, "
                "changed_fields::text) ~ '(hash|tok)-[0-9]|password_hash|token'"
            )
        )
    ).scalar_one()
    assert leaked == 0


async def test_jsonb_columns_are_compared_and_stored_as_json(session: AsyncSession) -> None:
    account = Account(email="j@example.com", profile={"tags": ["a"], "level": 1})
    session.add(account)
    await session.commit()
    account.profile = {"tags": ["a", "b"], "level": 1}
    await session.commit()

    _, updated = await log_entries(session, table=ACCOUNTS, record_id=str(account.id))

    assert updated.changed_fields == ("profile",)
    assert updated.old_data == {"profile": {"tags": ["a"], "level": 1}}
    assert updated.new_data is not None
    assert updated.new_data["profile"] == {"tags": ["a", "b"], "level": 1}


async def test_unaudited_tables_write_nothing(session: AsyncSession) -> None:
    session.add(Note(body="x"))
    await session.commit()

    assert await log_entries(session, table="public.audit_notes") == []


async def test_truncate_is_recorded_once_for_the_table(session: AsyncSession) -> None:
    session.add_all([Counter(id=1, value=1), Counter(id=2, value=2)])
    await session.commit()
    with request_context(actor="ops", correlation_id="c-truncate"):
        await session.execute(text("TRUNCATE audit_counters"))
        await session.commit()

    entries = await log_entries(session, table="public.audit_counters", action="TRUNCATE")

    (truncated,) = entries
    assert truncated.record_id is None
    assert (truncated.old_data, truncated.new_data) == (None, None)
    assert (truncated.actor, truncated.correlation_id) == ("ops", "c-truncate")


async def test_a_changed_primary_key_is_recorded_as_delete_and_insert(
    session: AsyncSession,
) -> None:
    session.add(Counter(id=10, value=5))
    await session.commit()

    await session.execute(text("UPDATE audit_counters SET id = 11 WHERE id = 10"))

    entries = await log_entries(session, table="public.audit_counters", action="DELETE")
    assert [(entry.record_id, entry.old_data) for entry in entries] == [
        ("10", {"id": 10, "value": 5})
    ]
    moved = await log_entries(session, table="public.audit_counters", record_id="11")
    assert [(entry.action, entry.new_data) for entry in moved] == [
        ("INSERT", {"id": 11, "value": 5})
    ]


async def test_composite_keys_are_recorded_as_json_arrays(session: AsyncSession) -> None:
    member = uuid.uuid4()
    session.add(Membership(account_id=member, team="blue", role="member"))
    await session.commit()
    await session.execute(
        update(Membership).where(Membership.account_id == member).values(role="lead")
    )
    await session.commit()

    entries = await audit_history(session, Membership, (member, "blue"))

    assert [entry.action for entry in entries] == ["UPDATE", "INSERT"]
    assert entries[0].record_id == f'["{member}", "blue"]'
    assert entries[0].old_data == {"role": "member"}


async def test_tables_outside_public_are_named_with_their_schema(session: AsyncSession) -> None:
    invoice = Invoice(total=100, issued_on=datetime.date(2024, 2, 29))
    session.add(invoice)
    await session.commit()
    invoice.total = 120
    await session.commit()

    entries = await audit_history(session, Invoice, invoice.id)

    assert [entry.table_name for entry in entries] == ["ledger.audit_invoices"] * 2
    assert entries[0].old_data == {"total": 100}
    assert entries[1].new_data is not None
    assert entries[1].new_data["issued_on"] == "2024-02-29"


@pytest_asyncio.fixture
async def counters(audit_engine: AsyncEngine) -> AsyncIterator[range]:
    """Ten thousand committed counters, deleted afterwards."""
    keys = range(100_000, 110_000)
    async with audit_engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO audit_counters (id, value) "
                "SELECT g, g % 97 "
                "FROM generate_series(CAST(:first AS integer), CAST(:last AS integer)) AS g"
            ),
            {"first": keys.start, "last": keys.stop - 1},
        )
    yield keys
    async with audit_engine.begin() as connection:
        await connection.execute(
            text("DELETE FROM audit_counters WHERE id BETWEEN :first AND :last"),
            {"first": keys.start, "last": keys.stop - 1},
        )


async def test_one_statement_over_ten_thousand_rows_records_each_row_in_one_transaction(
    audit_engine: AsyncEngine, counters: range
) -> None:
    async with audit_engine.begin() as connection:
        # Rows reach the trigger in another order than they were inserted in.
        await connection.execute(
            text(
                "UPDATE audit_counters SET value = value + id % 7 + 1 "
                "WHERE id BETWEEN :first AND :last"
            ),
            {"first": counters.start, "last": counters.stop - 1},
        )
        updating_transaction = await transaction_id(connection)

    async with audit_engine.connect() as connection:
        summary = (
            await connection.execute(
                text(
                    """
                    SELECT count(*) AS rows,
                        count(DISTINCT record_id) AS records,
                        count(DISTINCT transaction_id) AS transactions,
                        min(transaction_id) AS transaction_id,
                        count(*) FILTER (
                            WHERE (new_data ->> 'value')::int
                                = (old_data ->> 'value')::int + record_id::int % 7 + 1
                            AND changed_fields = ARRAY['value']
                            AND (new_data ->> 'id') = record_id
                        ) AS paired_correctly,
                        count(DISTINCT id) AS ids
                    FROM audit.log
                    WHERE table_name = 'public.audit_counters' AND action = 'UPDATE'
                        AND record_id::int BETWEEN :first AND :last
                    """
                ),
                {"first": counters.start, "last": counters.stop - 1},
            )
        ).one()

    assert summary.rows == summary.records == summary.ids == 10_000
    assert summary.transactions == 1
    assert summary.transaction_id == updating_transaction
    assert summary.paired_correctly == 10_000


async def test_actions_are_typed(session: AsyncSession) -> None:
    account = Account(email="typed@example.com")
    session.add(account)
    await session.commit()

    (entry,) = await audit_history(session, Account, account.id)

    assert entry.action is AuditAction.INSERT
    assert entry.action == "INSERT"


async def test_orm_select_of_the_log_is_unaffected_by_soft_delete_filtering(
    session: AsyncSession,
) -> None:
    account = Account(email="gone@example.com")
    session.add(account)
    await session.commit()
    account.soft_delete()
    await session.commit()

    hidden = (await session.execute(select(Account).where(Account.id == account.id))).first()
    entries = await audit_history(session, Account, account.id)

    assert hidden is None
    assert [entry.action for entry in entries] == ["SOFT_DELETE", "INSERT"]
