"""The outermost layer of a chassis application: request facts, last-resort errors, hooks.

Starlette's ``ServerErrorMiddleware`` sends a 500 for an unhandled exception and
then re-raises it, so the server logs it a second time (uvicorn prints the whole
traceback). This layer sits outside it: it owns the request's
:class:`~fastapi_chassis.api.facts.RequestFacts`, stops the re-raised exception
(after recording it in the facts, where logging and the
``chassis_request_finished`` hook find it), renders a problem response itself if
nothing was sent yet, and calls the ``chassis_request_finished`` implementations
once the response is complete.

It also adds the headers that inner layers ask for through the scope (see
:data:`RESPONSE_HEADERS`), and runs the work they ask to have done just before
the response starts (see :func:`before_response`): a layer that knows its header
when the request arrives (the correlation id), or that must act before the first
byte leaves (the commit of the request's transaction), then needs no ``send``
wrapper of its own, which saves two calls per request for each such layer.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from fastapi_chassis.api.facts import (
    RequestFacts,
    begin_request,
    end_request,
    track_route_templates,
)
from fastapi_chassis.api.problems import Problem, send_problem

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "RESPONSE_HEADERS",
    "BeforeResponse",
    "RequestFinished",
    "RequestLifecycleMiddleware",
    "add_headers",
    "before_response",
]

RESPONSE_HEADERS = "fastapi_chassis.response_headers"
"""Scope key of a list of ``(name, value)`` byte pairs added to the response's headers.

Set by :class:`RequestLifecycleMiddleware` for every HTTP request it handles; a
layer inside it appends to the list instead of wrapping ``send``. Its presence
also means the facts' ``status``, ``response_started`` and ``response_ended``
are kept up to date by that layer, so inner layers need not watch ``send`` for
them. Absent when no such layer runs outside (a middleware used on its own
wraps ``send`` instead).
"""

_BEFORE_RESPONSE = "fastapi_chassis.before_response"

logger = logging.getLogger("fastapi_chassis.requests")

BeforeResponse = Callable[["Scope", "Send"], Awaitable[bool]]
"""Work done just before a response starts: ``(scope, send) -> answered``.

It may send a whole response of its own through ``send`` (a problem document)
and return ``True``: the application's response is then dropped. Returning
``False`` lets the application's response go out.
"""


def before_response(scope: Scope, callback: BeforeResponse) -> bool:
    """Have ``callback`` run just before the response of an HTTP request starts.

    Only under :class:`RequestLifecycleMiddleware`; elsewhere nothing is
    registered and the caller must watch ``send`` itself. Callbacks run once, in
    the order registered, when the application sends ``http.response.start``;
    the first that answers (returns ``True``) stops the others. An exception
    from a callback propagates into the application's ``send`` call, as it
    would from a ``send`` wrapper.

    Args:
        scope: The request's scope.
        callback: The work to do.

    Returns:
        Whether the callback was registered.
    """
    if RESPONSE_HEADERS not in scope:
        return False
    scope.setdefault(_BEFORE_RESPONSE, []).append(callback)
    return True


def add_headers(scope: Scope, send: Send, headers: Iterable[tuple[bytes, bytes]]) -> Send:
    """Have ``headers`` added to the response of an HTTP request; return the ``send`` to use.

    Under :class:`RequestLifecycleMiddleware` the headers join its
    :data:`RESPONSE_HEADERS` list and ``send`` comes back unchanged; elsewhere
    ``send`` is wrapped to append them to the ``http.response.start`` message.
    Either way they are on every response, a 500 rendered by the outermost layer
    included when that layer is the lifecycle one.

    Args:
        scope: The request's scope.
        send: The ``send`` the caller was given.
        headers: ``(name, value)`` byte pairs, names in lower case.
    """
    outer: list[tuple[bytes, bytes]] | None = scope.get(RESPONSE_HEADERS)
    if outer is not None:
        outer.extend(headers)
        return send
    added = tuple(headers)

    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", ()), *added]
        await send(message)

    return send_with_headers


async def _run_callbacks(callbacks: list[BeforeResponse], scope: Scope, send: Send) -> bool:
    """Run the before-response callbacks until one answers; return whether one did."""
    for callback in callbacks:
        if await callback(scope, send):
            return True
    return False


def _answering(facts: RequestFacts, extra_headers: list[tuple[bytes, bytes]], send: Send) -> Send:
    """The ``send`` a before-response callback answers through.

    It observes and adds headers as the lifecycle layer's own ``send`` does, but
    is a closure of its own: handing the callbacks that ``send`` itself would make
    it refer to itself, a reference cycle per request, which only the cyclic
    garbage collector frees (and whose collections then pause every request).
    """

    async def send_answer(message: Message) -> None:
        if message["type"] == "http.response.start" and extra_headers:
            message["headers"] = [*message.get("headers", ()), *extra_headers]
        facts.observe(message)
        await send(message)

    return send_answer


RequestFinished = Callable[[RequestFacts], None]
"""A callback that receives the facts of every finished request."""


class RequestLifecycleMiddleware:
    """Own the request facts, stop escaped exceptions, and report finished requests.

    Args:
        app: The ASGI application to wrap (the rest of the stack).
        on_finished: Called with the facts of every finished request, in order;
            an exception in one is logged and does not affect the others.
    """

    def __init__(self, app: ASGIApp, *, on_finished: Sequence[RequestFinished] = ()) -> None:
        self.app = app
        self.on_finished = tuple(on_finished)
        self._routes_tracked = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not self._routes_tracked:
            # Mounts added once the stack was built (by a startup hook) are
            # complete by the first request.
            self._routes_tracked = True
            track_route_templates(scope.get("app"))
        facts, token = begin_request(scope)
        extra_headers: list[tuple[bytes, bytes]] = []
        scope[RESPONSE_HEADERS] = extra_headers
        answered_instead = False

        async def send_observed(message: Message) -> None:
            nonlocal answered_instead
            if answered_instead:
                return  # the application's response, after a callback answered instead
            if message["type"] == "http.response.start":
                callbacks = scope.pop(_BEFORE_RESPONSE, None)
                if callbacks is not None and await _run_callbacks(
                    callbacks, scope, _answering(facts, extra_headers, send)
                ):
                    answered_instead = True
                    return
                if extra_headers:
                    message["headers"] = [*message.get("headers", ()), *extra_headers]
            facts.observe(message)
            await send(message)

        try:
            await self.app(scope, receive, send_observed)
        except Exception as error:  # noqa: BLE001 - the last line of defence, by design
            facts.exception = error
            if not facts.response_started:
                await self._answer(facts, send_observed)
        finally:
            if token is not None:
                end_request(scope, facts, token)
            else:
                facts.finish(scope)
            for callback in self.on_finished:
                try:
                    callback(facts)
                except Exception as error:
                    # Named in the message, for log lines read without the traceback.
                    logger.exception("a request_finished callback failed: %s", error)  # noqa: TRY401

    @staticmethod
    async def _answer(facts: RequestFacts, send: Send) -> None:
        # ``send`` adds the headers inner layers asked for, the correlation id among them.
        problem = Problem(500, kind="internal-error", instance=facts.path)
        problem.extensions["correlation_id"] = facts.correlation_id
        await send_problem(send, problem)
