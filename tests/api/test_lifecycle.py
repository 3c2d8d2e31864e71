"""The outermost layer's services to inner layers: headers and work before the response."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest

from fastapi_chassis.api.facts import RequestFacts
from fastapi_chassis.api.lifecycle import RequestLifecycleMiddleware, add_headers, before_response
from fastapi_chassis.api.problems import Problem, send_problem
from tests.api.conftest import garbage_left_by_requests

if TYPE_CHECKING:
    from starlette.types import Receive, Scope, Send


def _client(app: RequestLifecycleMiddleware) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


class Inner:
    """An application that registers callbacks, then answers 200 in two body parts."""

    def __init__(self, *callbacks: object) -> None:
        self.callbacks = callbacks
        self.registered: list[bool] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # noqa: ARG002
        send = add_headers(scope, send, [(b"x-inner", b"yes")])
        for callback in self.callbacks:
            self.registered.append(before_response(scope, callback))  # type: ignore[arg-type]
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"app ", "more_body": True})
        await send({"type": "http.response.body", "body": b"body"})


@pytest.mark.asyncio
async def test_a_callback_that_answers_replaces_the_applications_response() -> None:
    calls: list[str] = []

    async def refuse(scope: Scope, send: Send) -> bool:
        calls.append("refuse")
        await send_problem(send, Problem(409, kind="constraint-violation"))
        return True

    async def never(scope: Scope, send: Send) -> bool:  # pragma: no cover - must not run
        calls.append("never")
        return False

    finished: list[RequestFacts] = []
    app = RequestLifecycleMiddleware(Inner(refuse, never), on_finished=[finished.append])
    async with _client(app) as client:
        response = await client.get("/")

    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-inner"] == "yes"
    assert "app body" not in response.text
    assert calls == ["refuse"]
    assert finished[0].status == 409
    assert finished[0].response_ended is not None


@pytest.mark.asyncio
async def test_callbacks_that_pass_run_once_in_order_and_let_the_response_out() -> None:
    calls: list[str] = []

    def passing(name: str) -> object:
        async def callback(scope: Scope, send: Send) -> bool:
            calls.append(name)
            return False

        return callback

    inner = Inner(passing("first"), passing("second"))
    app = RequestLifecycleMiddleware(inner)
    async with _client(app) as client:
        response = await client.get("/")

    assert response.status_code == 200
    assert response.text == "app body"
    assert calls == ["first", "second"]
    assert inner.registered == [True, True]


@pytest.mark.asyncio
async def test_a_failing_callback_is_a_500_from_the_outermost_layer() -> None:
    async def broken(scope: Scope, send: Send) -> bool:
        raise RuntimeError("the commit failed")

    finished: list[RequestFacts] = []
    app = RequestLifecycleMiddleware(Inner(broken), on_finished=[finished.append])
    async with _client(app) as client:
        response = await client.get("/")

    assert response.status_code == 500
    assert response.headers["x-inner"] == "yes"
    assert isinstance(finished[0].exception, RuntimeError)


@pytest.mark.asyncio
async def test_without_the_lifecycle_layer_nothing_is_registered() -> None:
    async def callback(scope: Scope, send: Send) -> bool:  # pragma: no cover - must not run
        raise AssertionError

    inner = Inner(callback)
    transport = httpx.ASGITransport(app=inner)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get("/")

    assert response.text == "app body"
    assert response.headers["x-inner"] == "yes"
    assert inner.registered == [False]


@pytest.mark.asyncio
async def test_requests_leave_no_reference_cycles_for_the_collector() -> None:
    # A cycle per request is freed only by the cyclic collector, whose
    # collections then come every few dozen requests and pause them all.
    async def passing(scope: Scope, send: Send) -> bool:
        return False

    async def answering(scope: Scope, send: Send) -> bool:
        await send_problem(send, Problem(409, kind="constraint-violation"))
        return True

    apps = [
        (RequestLifecycleMiddleware(Inner(), on_finished=[list[RequestFacts]().append]), 200),
        (RequestLifecycleMiddleware(Inner(passing)), 200),
        (RequestLifecycleMiddleware(Inner(answering)), 409),
    ]
    for app, status in apps:
        unreachable, statuses = await garbage_left_by_requests(app)
        assert unreachable == 0
        assert statuses == [status] * 11
