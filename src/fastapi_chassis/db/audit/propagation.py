"""Handing the request's actor and correlation id to the audit triggers.

The triggers read two transaction-local settings, ``chassis.actor`` and
``chassis.correlation_id``. A listener on SQLAlchemy's
:class:`~sqlalchemy.orm.Session` class sets them from
:func:`fastapi_chassis.context.current_context` when a session's transaction
begins, so every audited change made in that transaction carries them: ORM
flushes, Core statements and raw SQL run through the session alike. Because it
listens on the class, it works in any session, whatever made it.

Cost: one ``SELECT set_config(...)`` per transaction, and only when the context
has something to set and some table of the process is audited (marked with
:class:`~fastapi_chassis.db.AuditMixin` or
:func:`~fastapi_chassis.db.audit.enable_audit`). When the context changes inside
a transaction (an authentication dependency calls
:func:`~fastapi_chassis.context.set_actor` after loading the user through the same
session), the settings are updated before the next statement or flush.

Connections used without a session get the same with :func:`apply_audit_context`.

The settings are ``SET LOCAL`` values: they end with the transaction, so a pooled
connection (PgBouncer in transaction mode included) never carries one request's
actor into another.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import event, text
from sqlalchemy.orm import Session

from fastapi_chassis.context import current_context

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection
    from sqlalchemy.orm import ORMExecuteState, SessionTransaction

__all__ = ["ACTOR_SETTING", "CORRELATION_ID_SETTING", "apply_audit_context"]

ACTOR_SETTING = "chassis.actor"
"""The transaction-local setting the triggers read the actor from."""

CORRELATION_ID_SETTING = "chassis.correlation_id"
"""The transaction-local setting the triggers read the correlation id from."""

_APPLIED = "chassis_audit_context"
_Values = tuple[str | None, str | None]
_NOTHING: _Values = (None, None)
_STATEMENTS = {
    (True, True): text(
        f"SELECT set_config('{ACTOR_SETTING}', :actor, true), "
        f"set_config('{CORRELATION_ID_SETTING}', :correlation_id, true)"
    ),
    (True, False): text(f"SELECT set_config('{ACTOR_SETTING}', :actor, true)"),
    (False, True): text(f"SELECT set_config('{CORRELATION_ID_SETTING}', :correlation_id, true)"),
}


class _Switch:
    """Whether any table of this process is audited (nothing to do otherwise)."""

    on = False


def enable_propagation() -> None:
    """Start copying the context into transactions (called when a table is audited)."""
    _Switch.on = True


def _current() -> _Values:
    context = current_context()
    return context.actor, context.correlation_id


def _set(connection: Connection, values: _Values, previous: _Values) -> None:
    # A setting that was set earlier in the transaction and is now unknown is
    # cleared (the triggers read an empty value as NULL).
    actor, correlation_id = values
    change_actor = actor != previous[0]
    change_correlation = correlation_id != previous[1]
    if not (change_actor or change_correlation):
        return
    connection.execute(
        _STATEMENTS[change_actor, change_correlation],
        {"actor": actor or "", "correlation_id": correlation_id or ""},
    )


def apply_audit_context(connection: Connection) -> None:
    """Copy the current actor and correlation id into the connection's transaction.

    Sessions do this by themselves; call it for a Core connection used without a
    session, after the transaction began (from async code,
    ``await connection.run_sync(apply_audit_context)``).

    Args:
        connection: A connection inside the transaction to audit.
    """
    _set(connection, _current(), _NOTHING)


@event.listens_for(Session, "after_begin")
def _copy_context(
    session: Session, _transaction: SessionTransaction, connection: Connection
) -> None:
    if not _Switch.on:
        return
    values = _current()
    _set(connection, values, _NOTHING)
    session.info[_APPLIED] = values


def _refresh(session: Session, bind_arguments: dict[str, object] | None = None) -> None:
    if not _Switch.on or not session.in_transaction():
        return  # the transaction has not begun: after_begin will copy the context
    values = _current()
    previous = session.info.get(_APPLIED, _NOTHING)
    if values != previous:
        _set(session.connection(bind_arguments=bind_arguments), values, previous)
        session.info[_APPLIED] = values


@event.listens_for(Session, "before_flush")
def _refresh_before_flush(session: Session, *_: object) -> None:
    _refresh(session)


@event.listens_for(Session, "do_orm_execute")
def _refresh_before_execute(state: ORMExecuteState) -> None:
    _refresh(state.session, dict(state.bind_arguments))
