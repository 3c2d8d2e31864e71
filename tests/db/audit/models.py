"""Audited models of the audit tests, in a metadata of their own.

The owner role of the audit log is cluster-wide: every run names its own and
drops it at the end (see ``conftest.py``).
"""

from __future__ import annotations

import datetime
import decimal
import os
import secrets
from typing import Any
from uuid import UUID

from sqlalchemy import MetaData, Numeric, Table
from sqlalchemy.orm import Mapped, mapped_column

from fastapi_chassis.db import (
    NAMING_CONVENTION,
    AuditMixin,
    Base,
    SoftDeleteMixin,
    TimestampMixin,
    UUIDv7PrimaryKeyMixin,
    VersionMixin,
)
from fastapi_chassis.db.audit import configure_audit

OWNER_ROLE = f"chassis_audit_t{os.getpid()}_{secrets.token_hex(3)}"


class AuditTestBase(Base):
    __abstract__ = True
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


configure_audit(AuditTestBase.metadata, owner_role=OWNER_ROLE)
AUDIT_METADATA = AuditTestBase.metadata


class Account(
    UUIDv7PrimaryKeyMixin, TimestampMixin, SoftDeleteMixin, VersionMixin, AuditMixin, AuditTestBase
):
    """Every chassis mixin, two secrets (one by attribute name, one by column name)."""

    __tablename__ = "audit_accounts"
    __audit_exclude__ = frozenset({"password_hash", "api_token"})

    email: Mapped[str]
    balance: Mapped[decimal.Decimal] = mapped_column(Numeric(12, 2), default=decimal.Decimal(0))
    note: Mapped[str | None]
    profile: Mapped[dict[str, Any] | None]
    password_hash: Mapped[str | None]
    api_token: Mapped[str | None] = mapped_column("token")


class Counter(AuditMixin, AuditTestBase):
    """No chassis mixins: an integer key and nothing else to keep quiet."""

    __tablename__ = "audit_counters"

    id: Mapped[int] = mapped_column(primary_key=True)
    value: Mapped[int] = mapped_column(default=0)


class Membership(AuditMixin, AuditTestBase):
    """A composite primary key."""

    __tablename__ = "audit_memberships"

    account_id: Mapped[UUID] = mapped_column(primary_key=True)
    team: Mapped[str] = mapped_column(primary_key=True)
    role: Mapped[str]


class Invoice(UUIDv7PrimaryKeyMixin, AuditMixin, AuditTestBase):
    """A table outside the public schema."""

    __tablename__ = "audit_invoices"
    __table_args__ = {"schema": "ledger"}

    total: Mapped[int]
    issued_on: Mapped[datetime.date | None]


class Note(UUIDv7PrimaryKeyMixin, TimestampMixin, AuditTestBase):
    """Not audited."""

    __tablename__ = "audit_notes"

    body: Mapped[str]


def table_of(model: type[object]) -> Table:
    """The model's table, typed as the ``Table`` it is."""
    table = getattr(model, "__table__", None)
    assert isinstance(table, Table)
    return table
