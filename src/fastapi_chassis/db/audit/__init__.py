"""Trigger-based audit: every change to an audited table, in ``audit.log``.

Mark a model with :class:`AuditMixin` (or a Core table with :func:`enable_audit`).
Statement-level triggers then record each inserted, updated, soft-deleted,
restored and deleted row, and each TRUNCATE, with the actor and correlation id
that the session copies from :func:`fastapi_chassis.context.request_context`.
``create_all()`` installs the audit with the tables; :func:`audit_entities` (part
of :func:`~fastapi_chassis.db.migrations.chassis_entities`) puts it in Alembic
migrations; :func:`install_audit` installs it on tables that already exist.
:func:`audit_history` reads one record's history.

The names are loaded on first use, so importing the mixin does not import
Alembic, FastAPI or typer.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi_chassis.db.audit.cli import audit_cli
    from fastapi_chassis.db.audit.entities import audit_entities
    from fastapi_chassis.db.audit.history import AuditAction, AuditEntry, audit_history, audit_log
    from fastapi_chassis.db.audit.install import install_audit
    from fastapi_chassis.db.audit.mixin import AuditMixin
    from fastapi_chassis.db.audit.partitions import (
        PartitionInfo,
        create_partitions,
        drop_partitions,
        list_partitions,
        parse_age,
    )
    from fastapi_chassis.db.audit.pause import audit_paused, pause_auditing, resume_auditing
    from fastapi_chassis.db.audit.propagation import apply_audit_context
    from fastapi_chassis.db.audit.router import audit_history_router
    from fastapi_chassis.db.audit.tables import (
        AUDIT_SCHEMA,
        DEFAULT_OWNER_ROLE,
        AuditOptions,
        configure_audit,
        enable_audit,
    )

__all__ = [
    "AUDIT_SCHEMA",
    "DEFAULT_OWNER_ROLE",
    "AuditAction",
    "AuditEntry",
    "AuditMixin",
    "AuditOptions",
    "PartitionInfo",
    "apply_audit_context",
    "audit_cli",
    "audit_entities",
    "audit_history",
    "audit_history_router",
    "audit_log",
    "audit_paused",
    "configure_audit",
    "create_partitions",
    "drop_partitions",
    "enable_audit",
    "install_audit",
    "list_partitions",
    "parse_age",
    "pause_auditing",
    "resume_auditing",
]

_LAZY = {
    "AUDIT_SCHEMA": "tables",
    "DEFAULT_OWNER_ROLE": "tables",
    "AuditAction": "history",
    "AuditEntry": "history",
    "AuditMixin": "mixin",
    "AuditOptions": "tables",
    "PartitionInfo": "partitions",
    "apply_audit_context": "propagation",
    "audit_cli": "cli",
    "audit_entities": "entities",
    "audit_history": "history",
    "audit_history_router": "router",
    "audit_log": "history",
    "audit_paused": "pause",
    "configure_audit": "tables",
    "create_partitions": "partitions",
    "drop_partitions": "partitions",
    "enable_audit": "tables",
    "install_audit": "install",
    "list_partitions": "partitions",
    "parse_age": "partitions",
    "pause_auditing": "pause",
    "resume_auditing": "pause",
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
