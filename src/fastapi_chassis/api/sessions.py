"""One database session and transaction per request, committed before the response.

``get_session`` is a FastAPI dependency with ``yield``. FastAPI runs the code after
``yield`` of an ordinary dependency only after the response has been sent, which
is too late to commit: a unique violation or a version conflict found at commit
would leave the client with a 200 for a change that never happened. So:

* declared as ``Depends(get_session, scope="function")`` (or through the
  :data:`SessionDep` alias), the dependency commits as soon as the endpoint
  returns, before the response is built; an error at commit becomes a 409
  problem response;
* declared as plain ``Depends(get_session)``, the :class:`TransactionMiddleware`
  that ``create_app`` installs commits when the response starts, before a single
  byte of it leaves, and answers with a problem document instead when the
  commit fails. (Under the chassis's outermost layer it does so through
  :func:`~fastapi_chassis.api.lifecycle.before_response`, registered by the
  first session a request opens, so requests without one pay nothing.)

Either way the transaction is rolled back when the endpoint raises. Commit
happens whatever the status code of a response the endpoint returned itself
(as Django's ``ATOMIC_REQUESTS`` does); raise to roll back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from fastapi_chassis.api.errors import problem_for
from fastapi_chassis.api.lifecycle import RESPONSE_HEADERS, before_response
from fastapi_chassis.api.problems import send_problem
from fastapi_chassis.errors import ConfigurationError
from fastapi_chassis.plugins.contributions import MiddlewareOrder, MiddlewareSpec
from fastapi_chassis.plugins.markers import hookimpl

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["SessionDep", "TransactionMiddleware", "TransactionPlugin", "get_session"]

_SCOPE_KEY = "fastapi_chassis.transactions"
# Set by TransactionMiddleware under the lifecycle layer: the first session of the
# request registers the commit with that layer instead of a send wrapper.
_COMMIT_BEFORE_RESPONSE = "fastapi_chassis.commit_before_response"


class _RequestTransaction:
    """A request's session, committed or rolled back exactly once."""

    __slots__ = ("done", "session")

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.done = False

    async def commit(self) -> None:
        if not self.done:
            self.done = True
            await self.session.commit()

    async def rollback(self) -> None:
        if not self.done:
            self.done = True
            await self.session.rollback()


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """FastAPI dependency: the request's :class:`~sqlalchemy.ext.asyncio.AsyncSession`.

    The session comes from the application's sessionmaker (``expire_on_commit``
    off) and its transaction is committed before the response is sent (see the
    module documentation), or rolled back when the endpoint raises.

    Raises:
        ConfigurationError: If the application has no database configured.
    """
    state = getattr(request.app.state, "chassis", None)
    sessionmaker = getattr(state, "sessionmaker", None)
    if sessionmaker is None:
        raise ConfigurationError(
            "get_session needs a database: set CHASSIS_DATABASE_URL and build the app "
            "with create_app()"
        )
    async with sessionmaker() as session:
        transaction = _RequestTransaction(session)
        scope = request.scope
        transactions: list[_RequestTransaction] | None = scope.get(_SCOPE_KEY)
        if transactions is None:
            transactions = scope[_SCOPE_KEY] = []
            if scope.get(_COMMIT_BEFORE_RESPONSE):
                before_response(scope, _commit_or_answer)
        transactions.append(transaction)
        try:
            yield session
        except BaseException:
            await transaction.rollback()
            raise
        else:
            await transaction.commit()


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
"""``session: SessionDep`` in an endpoint: the request's session, committed before the response."""


class TransactionMiddleware:
    """Commit the request's sessions when the response starts; answer a failed commit.

    Args:
        app: The ASGI application to wrap.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if RESPONSE_HEADERS in scope:
            # The lifecycle layer outside runs the commit, if a session opens.
            scope[_COMMIT_BEFORE_RESPONSE] = True
            await self.app(scope, receive, send)
            return
        replaced = False

        async def send_after_commit(message: Message) -> None:
            nonlocal replaced
            if replaced:
                return  # the endpoint's own body, after we answered instead
            # Most requests open no session: one dict lookup and they pass.
            if message["type"] == "http.response.start" and _SCOPE_KEY in scope:
                replaced = await _commit_or_answer(scope, send)
                if replaced:
                    return
            await send(message)

        await self.app(scope, receive, send_after_commit)


async def _commit_or_answer(scope: Scope, send: Send) -> bool:
    """Commit the request's open transactions; answer with a problem if that fails.

    Returns whether a problem was sent in place of the application's response.
    """
    try:
        for transaction in scope[_SCOPE_KEY]:
            await transaction.commit()
    except Exception as error:
        conditional = any(name == b"if-match" for name, _ in scope["headers"])
        problem = problem_for(error, conditional=conditional, instance=scope.get("path"))
        if problem.status >= 500:  # noqa: PLR2004
            raise
        await send_problem(send, problem)
        return True
    return False


class TransactionPlugin:
    """Built-in plugin ``chassis.transactions``: adds :class:`TransactionMiddleware`."""

    name = "chassis.transactions"

    @hookimpl
    def chassis_middleware(self) -> list[MiddlewareSpec]:
        """Place the commit layer innermost among the chassis layers."""
        return [MiddlewareSpec(TransactionMiddleware, order=MiddlewareOrder.TRANSACTION)]
