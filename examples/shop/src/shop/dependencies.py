"""FastAPI dependencies shared by the shop's routers: who is acting, and which page.

The actor comes from an ``X-Actor`` header, a stand-in for real authentication
that keeps the example self-contained: a real service would take it from a
verified token. Either way it goes to :func:`fastapi_chassis.context.set_actor`,
which puts it on the request's log lines and on every audit row the request's
transaction writes.
"""

from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Depends, Header, Query
from fastapi_chassis.context import set_actor

ACTOR_PATTERN = r"^[A-Za-z0-9._@:+-]{1,64}$"
MAX_PAGE_SIZE = 100


async def current_actor(
    x_actor: Annotated[
        str | None,
        Header(
            pattern=ACTOR_PATTERN,
            description="Who is acting (a user or service name); recorded in the audit log.",
        ),
    ] = None,
) -> str | None:
    """Record the request's actor, when the client named one, and return it."""
    if x_actor is not None:
        # Before the endpoint's session begins its transaction, so the audit
        # triggers see the actor from the first statement on.
        set_actor(x_actor)
    return x_actor


ActorDep = Annotated[str | None, Depends(current_actor)]


@dataclass(frozen=True, slots=True)
class PageParams:
    """Where a listing starts and how much of it to return.

    Attributes:
        limit: Items per page.
        after: The ``next_cursor`` of the previous page, or ``None`` for the first.
    """

    limit: int
    after: str | None


async def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Items per page.")] = 20,
    after: Annotated[
        str | None,
        Query(
            max_length=512,
            description="The next_cursor of the previous page; omit it for the first page.",
        ),
    ] = None,
) -> PageParams:
    """Read the keyset pagination parameters of a listing."""
    return PageParams(limit=limit, after=after)


PageDep = Annotated[PageParams, Depends(page_params)]

Deleted = Literal["exclude", "include", "only"]
"""Which rows a listing of soft-deletable records shows."""


@dataclass(frozen=True, slots=True)
class DeletedView:
    """Which rows a listing of soft-deletable records shows.

    Attributes:
        include_deleted: Live and deleted rows.
        only_deleted: Deleted rows only (the trash).
    """

    include_deleted: bool
    only_deleted: bool


async def deleted_filter(
    deleted: Annotated[
        Deleted,
        Query(description="exclude: live records; include: live and deleted; only: the trash."),
    ] = "exclude",
) -> DeletedView:
    """Turn the ``deleted`` query parameter into ``AsyncRepository.list`` options."""
    return DeletedView(include_deleted=deleted == "include", only_deleted=deleted == "only")


DeletedDep = Annotated[DeletedView, Depends(deleted_filter)]
