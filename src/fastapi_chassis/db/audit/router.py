"""An optional read-only endpoint for a model's audit history."""

# No ``from __future__ import annotations``: FastAPI reads the endpoint's
# annotations at run time, and they refer to this function's local values.

import uuid
from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Query, params

from fastapi_chassis.api.sessions import SessionDep
from fastapi_chassis.db.audit.history import AuditEntry, audit_history
from fastapi_chassis.db.audit.tables import audited_table
from fastapi_chassis.db.errors import NotFound

__all__ = ["audit_history_router"]


def audit_history_router(
    model: type[object],
    *,
    prefix: str,
    tags: Sequence[str] = ("audit",),
    dependencies: Sequence[params.Depends] = (),
    max_limit: int = 1000,
) -> APIRouter:
    """Return a router serving ``GET {prefix}/{id}/history`` for an audited model.

    The response is the record's :class:`~fastapi_chassis.db.audit.AuditEntry` list,
    newest first, read through :func:`~fastapi_chassis.api.get_session`; ``?limit=``
    caps it (default 100). A record without any audit entry answers 404. The audit
    log holds old values of every audited column: protect the route, for example
    with ``dependencies=[Depends(require_auditor)]``.

    Args:
        model: An audited model class with a single-column primary key.
        prefix: The path the model's resources live under (``"/products"``).
        tags: OpenAPI tags of the route.
        dependencies: Dependencies run before the endpoint (authorization).
        max_limit: The largest ``limit`` a client may ask for.

    Returns:
        The router; include it like any other (for example from ``chassis_routers``).

    Raises:
        ValueError: If the model is not audited or has a composite primary key.

    Example:
        >>> router = audit_history_router(Product, prefix="/products",
        ...                               dependencies=[Depends(require_admin)])
    """
    table = audited_table(model)
    keys = list(table.primary_key.columns)
    if len(keys) != 1:
        raise ValueError(f"{table.fullname} has a composite primary key; query audit_history()")
    try:
        key_type: type[object] = keys[0].type.python_type
    except NotImplementedError:
        key_type = str
    entity = getattr(model, "__name__", table.name)
    router = APIRouter(prefix=prefix, tags=list(tags), dependencies=list(dependencies))

    async def history(
        record_id: uuid.UUID,
        session: SessionDep,
        limit: Annotated[int, Query(ge=1, le=max_limit)] = 100,
    ) -> list[AuditEntry]:
        entries = await audit_history(session, model, record_id, limit=limit)
        if not entries:
            raise NotFound(entity, record_id)
        return entries

    # The path parameter is parsed as the key's own type (UUID, int, ...).
    history.__annotations__["record_id"] = key_type
    router.add_api_route(
        "/{record_id}/history",
        history,
        methods=["GET"],
        response_model=list[AuditEntry],
        name=f"{table.name}_audit_history",
        summary=f"Audit history of one {entity}",
    )
    return router
