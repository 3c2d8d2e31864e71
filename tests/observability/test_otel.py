"""OpenTelemetry server spans from the request facts, exported with the SDK's in-memory exporter."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from textwrap import dedent

import pytest
from fastapi import APIRouter, FastAPI
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from fastapi_chassis import ChassisSettings, create_app, hookimpl
from fastapi_chassis.api.outgoing import outgoing_headers
from fastapi_chassis.observability.otel import INSTRUMENTATION_NAME, OpenTelemetryPlugin
from tests.api.conftest import running

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    # A provider of the test's own, not the global one: the global provider can
    # be set once per process, and setting it turns FastAPI's own tracing on.
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider
    provider.shutdown()


class Shop:
    name = "test.shop"

    def __init__(self, provider: TracerProvider) -> None:
        self.router = APIRouter()
        tracer = provider.get_tracer("shop")

        @self.router.get("/items/{item_id}")
        async def item(item_id: int) -> dict[str, object]:
            with tracer.start_as_current_span("load item"):
                return {"id": item_id, "outgoing": outgoing_headers()}

        @self.router.post("/fail")
        async def fail() -> None:
            raise ZeroDivisionError("boom")

    @hookimpl
    def chassis_routers(self) -> list[APIRouter]:
        return [self.router]


def _app(provider: TracerProvider, **settings: object) -> FastAPI:
    """The app with the built-in replaced by an instance on the test's provider."""
    options = {
        "log_configure": False,
        "otel_enabled": True,
        "disabled_plugins": ["chassis.otel"],
        **settings,
    }
    return create_app(
        ChassisSettings.model_validate(options),
        plugins=[Shop(provider), OpenTelemetryPlugin(tracer_provider=provider)],
    )


def _server_spans(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [span for span in exporter.get_finished_spans() if span.kind is SpanKind.SERVER]


@pytest.mark.asyncio
async def test_a_request_gets_one_server_span_named_by_its_route_in_the_callers_trace(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    async with running(_app(provider)) as client:
        response = await client.get(
            "/items/7", headers={"traceparent": TRACEPARENT, "X-Correlation-ID": "order-7"}
        )

    (span,) = _server_spans(exporter)
    assert span.name == "GET /items/{item_id}"
    assert span.instrumentation_scope is not None
    assert span.instrumentation_scope.name == INSTRUMENTATION_NAME
    assert f"{span.context.trace_id:032x}" == TRACE_ID
    assert span.parent is not None
    assert span.parent.is_remote
    assert f"{span.parent.span_id:016x}" == PARENT_ID
    assert span.status.status_code is StatusCode.UNSET
    attributes = dict(span.attributes or {})
    assert attributes["http.route"] == "/items/{item_id}"
    assert attributes["http.request.method"] == "GET"
    assert attributes["http.response.status_code"] == 200
    assert attributes["url.path"] == "/items/7"
    assert attributes["chassis.correlation_id"] == "order-7"
    assert attributes["chassis.api_version"] == "1"
    assert attributes["chassis.db.query_count"] == 0
    assert response.json()["id"] == 7


@pytest.mark.asyncio
async def test_spans_and_calls_made_during_the_request_are_children_of_its_span(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    async with running(_app(provider)) as client:
        response = await client.get("/items/7", headers={"traceparent": TRACEPARENT})

    (server,) = _server_spans(exporter)
    (child,) = [span for span in exporter.get_finished_spans() if span.name == "load item"]
    assert child.parent is not None
    assert child.parent.span_id == server.context.span_id
    # Calls from the endpoint name the open span as their parent.
    outgoing = response.json()["outgoing"]["traceparent"]
    assert outgoing == f"00-{TRACE_ID}-{child.context.span_id:016x}-01"


@pytest.mark.asyncio
async def test_unmatched_requests_and_other_methods_do_not_make_span_names(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    async with running(_app(provider)) as client:
        await client.get("/wp-admin/setup.php")
        await client.request("PURGE", "/anything")

    unmatched, other = _server_spans(exporter)
    assert unmatched.name == "GET"
    assert "http.route" not in (unmatched.attributes or {})
    assert (unmatched.attributes or {})["http.response.status_code"] == 404
    assert unmatched.status.status_code is StatusCode.UNSET
    assert other.name == "HTTP"
    assert (other.attributes or {})["http.request.method"] == "_OTHER"
    assert (other.attributes or {})["http.request.method_original"] == "PURGE"


@pytest.mark.asyncio
async def test_an_escaped_exception_marks_the_span_failed_with_the_500_the_client_got(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    async with running(_app(provider)) as client:
        response = await client.post("/fail")

    (span,) = _server_spans(exporter)
    attributes = dict(span.attributes or {})
    assert response.status_code == 500
    assert span.name == "POST /fail"
    assert attributes["http.response.status_code"] == 500
    assert attributes["error.type"] == "builtins.ZeroDivisionError"
    assert span.status.status_code is StatusCode.ERROR
    assert [event.name for event in span.events] == ["exception"]


@pytest.mark.asyncio
async def test_without_a_traceparent_the_span_starts_a_trace(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    async with running(_app(provider)) as client:
        response = await client.get("/items/1", headers={"traceparent": "00-not-valid"})

    (span,) = _server_spans(exporter)
    assert span.parent is None
    # The endpoint's calls continue the new trace.
    assert response.json()["outgoing"]["traceparent"].startswith(
        f"00-{span.context.trace_id:032x}-"
    )


@pytest.mark.asyncio
async def test_nothing_is_traced_unless_enabled(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    app = _app(provider, otel_enabled=False)
    async with running(app) as client:
        response = await client.get("/items/1", headers={"traceparent": TRACEPARENT})

    assert response.status_code == 200
    assert _server_spans(exporter) == []
    # The endpoint's own span has no parent: no span was opened, no context extracted.
    (child,) = exporter.get_finished_spans()
    assert child.parent is None


def test_the_builtin_is_registered_where_opentelemetry_is_installed() -> None:
    app = create_app(ChassisSettings.model_validate({"log_configure": False}))

    names = [info.name for info in app.state.chassis.plugins.plugins()]
    assert "chassis.otel" in names


@pytest.mark.asyncio
async def test_enabled_without_a_configured_provider_warns_at_startup(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = create_app(ChassisSettings.model_validate({"log_configure": False, "otel_enabled": True}))

    with caplog.at_level(logging.WARNING, logger="fastapi_chassis.otel"):
        async with running(app) as client:
            assert (await client.get("/")).status_code == 404

    assert any("no OpenTelemetry tracer provider" in r.getMessage() for r in caplog.records)


def _run(code: str) -> subprocess.CompletedProcess[str]:
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("CHASSIS_", "OTEL_"))
    }
    return subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _last_line(result: subprocess.CompletedProcess[str]) -> str:
    # What the script prints comes last; access log lines may come before it.
    return result.stdout.strip().splitlines()[-1]


def test_disabled_tracing_imports_no_opentelemetry_code_of_its_own() -> None:
    result = _run(
        """
        import asyncio, sys
        import fastapi, httpx  # FastAPI 0.165 imports the OpenTelemetry API itself
        before = set(sys.modules)
        from fastapi_chassis import ChassisSettings, create_app

        async def main():
            app = create_app(ChassisSettings.model_validate({"log_configure": False}))
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
                    await c.get("/")

        asyncio.run(main())
        print(sorted(m for m in set(sys.modules) - before if m.startswith("opentelemetry")))
        """
    )

    assert result.returncode == 0, result.stderr
    assert _last_line(result) == "[]"


def test_the_builtin_is_not_registered_where_opentelemetry_is_missing() -> None:
    result = _run(
        """
        import sys
        import fastapi  # needs the API itself; hide it from the chassis afterwards
        sys.modules["opentelemetry.trace"] = None
        from fastapi_chassis.app import BUILTIN_PLUGINS
        print([name for name, _ in BUILTIN_PLUGINS])
        """
    )

    assert result.returncode == 0, result.stderr
    names = json.loads(_last_line(result).replace("'", '"'))
    assert "chassis.otel" not in names
    assert "chassis.correlation" in names


def test_with_fastapi_tracing_on_each_request_still_has_exactly_one_server_span() -> None:
    # A global tracer provider turns FastAPI's own telemetry on; it can be set
    # only once per process, hence the separate interpreter.
    result = _run(
        """
        import asyncio, json
        import httpx
        from fastapi import APIRouter
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        from fastapi_chassis import ChassisSettings, create_app, hookimpl

        TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)

        router = APIRouter()

        @router.get("/items/{item_id}")
        async def item(item_id: int):
            return {"id": item_id}

        class Shop:
            @hookimpl
            def chassis_routers(self):
                return [router]

        async def main():
            for enabled in (True, False):
                settings = {"log_configure": False, "otel_enabled": enabled}
                app = create_app(ChassisSettings.model_validate(settings), plugins=[Shop()])
                async with app.router.lifespan_context(app):
                    transport = httpx.ASGITransport(app=app)
                    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
                        await c.get(
                            "/items/3",
                            headers={
                                "traceparent": TRACEPARENT,
                                "X-Correlation-ID": f"enabled-{enabled}",
                            },
                        )

        asyncio.run(main())
        print(json.dumps([
            {
                "name": span.name,
                "scope": span.instrumentation_scope.name,
                "kind": span.kind.name,
                "trace_id": format(span.context.trace_id, "032x"),
                "attributes": dict(span.attributes),
            }
            for span in exporter.get_finished_spans()
        ]))
        """
    )

    assert result.returncode == 0, result.stderr
    spans = json.loads(_last_line(result))
    servers = [span for span in spans if span["kind"] == "SERVER"]
    assert len(servers) == 2, spans
    enabled, disabled = servers
    for span in servers:
        assert span["scope"] == "fastapi"
        assert span["trace_id"] == TRACE_ID
    # With the plugin on, FastAPI's span carries the chassis's facts, route included.
    assert enabled["name"] == "GET /items/{item_id}"
    assert enabled["attributes"]["http.route"] == "/items/{item_id}"
    assert enabled["attributes"]["chassis.correlation_id"] == "enabled-True"
    assert "chassis.correlation_id" not in disabled["attributes"]
