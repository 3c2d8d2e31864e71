from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from fastapi_chassis import hookimpl
from fastapi_chassis.api.health import HEALTH_MEDIA_TYPE
from fastapi_chassis.plugins import CheckLevel, PluginError, ReadinessCheck
from tests.api.conftest import AppFactory, running

SECRET = "hunter2-do-not-show"  # noqa: S105 - must never reach a response  # pragma: allowlist secret


class Checks:
    """A plugin contributing the readiness checks it is given."""

    name = "test.checks"

    def __init__(self, *checks: ReadinessCheck) -> None:
        self.checks = list(checks)

    @hookimpl
    def chassis_readiness_checks(self) -> list[ReadinessCheck]:
        return self.checks


class Counter:
    """A check that counts its runs and takes ``seconds`` to answer."""

    def __init__(self, seconds: float = 0.0) -> None:
        self.runs = 0
        self.seconds = seconds

    async def __call__(self) -> str:
        self.runs += 1
        await asyncio.sleep(self.seconds)
        return f"run {self.runs}"


async def _broken() -> None:
    raise ConnectionError(f"broker unreachable at amqp://guest:{SECRET}@mq:5672/")


async def _fine() -> str:
    return "all good"


def _checks(response: httpx.Response) -> dict[str, dict[str, object]]:
    body = response.json()
    return {name: entries[0] for name, entries in body["checks"].items()}


# Other built-in plugins contribute checks too; these tests are about these.
OURS = ("shutdown", "database", "cache", "counted", "broker")


def _ours(names: Iterable[str]) -> list[str]:
    return [name for name in names if name in OURS]


@pytest.mark.asyncio
async def test_readiness_passes_with_a_short_health_json_body(make_app: AppFactory) -> None:
    async with running(make_app()) as client:
        response = await client.get("/health/ready")
    assert response.status_code == 200
    assert response.headers["content-type"] == HEALTH_MEDIA_TYPE
    assert response.headers["cache-control"] == "no-store"
    assert response.json() == {"status": "pass"}


@pytest.mark.asyncio
async def test_verbose_readiness_reports_every_check(make_app: AppFactory) -> None:
    before = datetime.now(UTC)
    async with running(make_app([Checks(ReadinessCheck("cache", _fine))])) as client:
        response = await client.get("/health/ready?verbose")
    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "pass"
    assert body["serviceId"] == "test-service"
    checks = _checks(response)
    assert _ours(checks) == ["shutdown", "database", "cache"]
    database = checks["database"]
    assert database["status"] == "pass"
    assert database["observedUnit"] == "ms"
    assert isinstance(database["observedValue"], float)
    assert "output" not in database
    observed = datetime.fromisoformat(str(database["time"]))
    assert before - timedelta(seconds=1) <= observed <= datetime.now(UTC)
    assert checks["cache"]["output"] == "all good"


@pytest.mark.asyncio
async def test_liveness_checks_nothing(make_app: AppFactory) -> None:
    counter = Counter()
    app = make_app(
        [Checks(ReadinessCheck("counted", counter))],
        database_url=f"postgresql+asyncpg://postgres:{SECRET}@127.0.0.1:1/nowhere",
    )
    async with running(app) as client:
        app.state.chassis.draining = True
        response = await client.get("/health/live")
    assert response.status_code == 200
    assert response.headers["content-type"] == HEALTH_MEDIA_TYPE
    assert response.json() == {"status": "pass"}
    assert counter.runs == 0


@pytest.mark.asyncio
async def test_a_failing_check_makes_the_service_unready_without_saying_why(
    make_app: AppFactory,
) -> None:
    async with running(make_app([Checks(ReadinessCheck("broker", _broken))])) as client:
        short = await client.get("/health/ready")
        verbose = await client.get("/health/ready?verbose")
    assert short.status_code == 503
    assert short.headers["content-type"] == HEALTH_MEDIA_TYPE
    assert short.json() == {"status": "fail"}
    assert verbose.status_code == 503
    checks = _checks(verbose)
    assert checks["database"]["status"] == "pass"
    assert checks["broker"]["status"] == "fail"
    assert checks["broker"]["output"] == (
        "ConnectionError: broker unreachable at amqp://***@mq:5672/"
    )
    assert SECRET not in verbose.text


@pytest.mark.asyncio
async def test_a_warn_level_failure_keeps_the_service_ready(make_app: AppFactory) -> None:
    check = ReadinessCheck("search", _broken, level=CheckLevel.WARN)
    async with running(make_app([Checks(check)])) as client:
        short = await client.get("/health/ready")
        verbose = await client.get("/health/ready?verbose")
    assert short.status_code == 200
    assert short.json() == {"status": "warn"}
    assert _checks(verbose)["search"]["status"] == "warn"
    assert _checks(verbose)["database"]["status"] == "pass"


async def _sleeps() -> None:
    await asyncio.sleep(10)


async def _ignores_cancellation() -> None:
    try:
        await asyncio.sleep(10)
    except asyncio.CancelledError:
        await asyncio.sleep(1.0)


def _blocks() -> None:
    time.sleep(1.0)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "slow", [_sleeps, _ignores_cancellation, _blocks], ids=["sleeps", "stubborn", "blocking"]
)
async def test_a_check_past_its_timeout_fails_and_the_answer_stays_prompt(
    make_app: AppFactory, slow: object
) -> None:
    check = ReadinessCheck("slow", slow, timeout=0.1)  # type: ignore[arg-type]
    async with running(make_app([Checks(check)])) as client:
        started = time.perf_counter()
        response, live = await asyncio.gather(
            client.get("/health/ready?verbose"), client.get("/health/live")
        )
        elapsed = time.perf_counter() - started
    # Waiting for the check would take a second or more.
    assert elapsed < 0.8
    assert response.status_code == 503
    assert live.status_code == 200
    slow_check = _checks(response)["slow"]
    assert slow_check["status"] == "fail"
    assert slow_check["output"] == "TimeoutError: no answer within 0.1 s"
    assert 90 <= float(slow_check["observedValue"]) < 800  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_checks_run_concurrently(make_app: AppFactory) -> None:
    first, second = Counter(seconds=0.5), Counter(seconds=0.5)
    plugin = Checks(ReadinessCheck("first", first), ReadinessCheck("second", second))
    async with running(make_app([plugin])) as client:
        started = time.perf_counter()
        response = await client.get("/health/ready")
        elapsed = time.perf_counter() - started
    assert response.status_code == 200
    assert (first.runs, second.runs) == (1, 1)
    assert elapsed < 0.9


def _raises_synchronously() -> None:
    raise ValueError("bad configuration")


class _AsyncCallable:
    async def __call__(self) -> str:
        return "called"


@pytest.mark.asyncio
async def test_checks_that_are_not_async_are_isolated(make_app: AppFactory) -> None:
    plugin = Checks(
        ReadinessCheck("raises", _raises_synchronously),
        ReadinessCheck("plain", lambda: "plain answer"),
        ReadinessCheck("lambda", lambda: _fine()),  # noqa: PLW0108 - returns a coroutine
        ReadinessCheck("callable", _AsyncCallable()),
    )
    async with running(make_app([plugin])) as client:
        response = await client.get("/health/ready?verbose")
    checks = _checks(response)
    assert response.status_code == 503
    assert checks["raises"]["status"] == "fail"
    assert checks["raises"]["output"] == "ValueError: bad configuration"
    assert checks["plain"]["output"] == "plain answer"
    assert checks["lambda"]["output"] == "all good"
    assert checks["callable"]["output"] == "called"
    assert checks["database"]["status"] == "pass"


@pytest.mark.asyncio
async def test_a_cached_result_is_reused_within_cache_seconds(make_app: AppFactory) -> None:
    cached, uncached = Counter(seconds=0.05), Counter()
    plugin = Checks(
        ReadinessCheck("cached", cached, cache_seconds=60),
        ReadinessCheck("uncached", uncached),
    )
    async with running(make_app([plugin])) as client:
        concurrent = await asyncio.gather(*(client.get("/health/ready?verbose") for _ in range(5)))
        later = await client.get("/health/ready?verbose")
    assert cached.runs == 1
    assert uncached.runs == 6
    times = {_checks(response)["cached"]["time"] for response in [*concurrent, later]}
    assert len(times) == 1
    assert _checks(later)["cached"]["output"] == "run 1"


@pytest.mark.asyncio
async def test_a_cached_result_expires(make_app: AppFactory) -> None:
    counter = Counter()
    plugin = Checks(ReadinessCheck("cached", counter, cache_seconds=0.2))
    async with running(make_app([plugin])) as client:
        await client.get("/health/ready")
        await client.get("/health/ready")
        assert counter.runs == 1
        await asyncio.sleep(0.3)
        await client.get("/health/ready")
    assert counter.runs == 2


@pytest.mark.asyncio
async def test_excluded_checks_do_not_run(make_app: AppFactory) -> None:
    counter = Counter()
    plugin = Checks(ReadinessCheck("broker", _broken), ReadinessCheck("counted", counter))
    async with running(make_app([plugin])) as client:
        one = await client.get("/health/ready?exclude=broker&verbose")
        two = await client.get("/health/ready?exclude=broker&exclude=counted&exclude=nope&verbose")
    assert one.status_code == 200
    assert _ours(_checks(one)) == ["shutdown", "database", "counted"]
    assert two.status_code == 200
    assert _ours(_checks(two)) == ["shutdown", "database"]
    assert two.json()["notes"] == ["exclude: no check named 'nope'"]
    assert counter.runs == 1


@pytest.mark.asyncio
async def test_one_check_by_name(make_app: AppFactory) -> None:
    counter = Counter()
    plugin = Checks(ReadinessCheck("broker", _broken), ReadinessCheck("counted", counter))
    async with running(make_app([plugin])) as client:
        database = await client.get("/health/ready/database?verbose")
        short = await client.get("/health/ready/database")
        broker = await client.get("/health/ready/broker")
        unknown = await client.get("/health/ready/nope")
    assert database.status_code == 200
    assert list(_checks(database)) == ["database"]
    assert short.json() == {"status": "pass"}
    assert broker.status_code == 503
    assert broker.json() == {"status": "fail"}
    assert counter.runs == 0
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"
    assert _ours(unknown.json()["checks"]) == ["shutdown", "database", "broker", "counted"]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("address", "error"),
    [
        ("127.0.0.1:1/nowhere", "ConnectionRefusedError"),
        ("127.0.0.1:5432/chassis_no_such_database", "InvalidCatalogNameError"),
    ],
    ids=["closed-port", "missing-database"],
)
async def test_an_unreachable_database_fails_readiness_but_not_liveness(
    make_app: AppFactory, chassis_database_url: str, address: str, error: str
) -> None:
    if "5432" in address:
        # The missing database lives on the test server, wherever that is.
        server = chassis_database_url.rsplit("/", 1)[0].split("@", 1)[1]
        address = f"{server}/chassis_no_such_database"
    url = f"postgresql+asyncpg://postgres:{SECRET}@{address}"
    async with running(make_app(database_url=url)) as client:
        ready = await client.get("/health/ready?verbose")
        live = await client.get("/health/live")
    assert ready.status_code == 503
    assert live.status_code == 200
    database = _checks(ready)["database"]
    assert database["status"] == "fail"
    assert str(database["output"]).startswith(f"{error}: ")
    assert SECRET not in ready.text
    assert "postgresql" not in ready.text


@pytest.mark.asyncio
async def test_draining_fails_readiness_but_not_liveness_or_single_checks(
    make_app: AppFactory,
) -> None:
    app = make_app()
    async with running(app) as client:
        assert (await client.get("/health/ready")).status_code == 200
        app.state.chassis.draining = True
        ready = await client.get("/health/ready?verbose")
        database = await client.get("/health/ready/database")
        live = await client.get("/health/live")
        excluded = await client.get("/health/ready?exclude=shutdown")
    assert ready.status_code == 503
    assert _checks(ready)["shutdown"]["status"] == "fail"
    assert _checks(ready)["shutdown"]["output"] == (
        "RuntimeError: the process has been asked to stop and is draining"
    )
    assert database.status_code == 200
    assert live.status_code == 200
    assert excluded.status_code == 200


@pytest.mark.asyncio
async def test_without_a_database_only_the_plugin_checks_run(make_app: AppFactory) -> None:
    async with running(make_app(database_url=None)) as client:
        response = await client.get("/health/ready?verbose")
    assert response.status_code == 200
    assert _ours(_checks(response)) == ["shutdown"]


@pytest.mark.asyncio
async def test_readiness_fails_until_the_application_has_started(make_app: AppFactory) -> None:
    transport = httpx.ASGITransport(app=make_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        ready = await client.get("/health/ready")
        live = await client.get("/health/live")
    assert ready.status_code == 503
    assert live.status_code == 200


@pytest.mark.asyncio
async def test_health_ignores_api_versions_and_stays_out_of_openapi(
    make_app: AppFactory,
) -> None:
    async with running(make_app(api_versions=["1", "2"], default_api_version="2")) as client:
        ready = await client.get("/health/ready")
        unknown_version = await client.get("/health/ready", headers={"X-API-Version": "99"})
        schema = await client.get("/openapi.json")
    assert ready.status_code == 200
    assert unknown_version.status_code == 200
    assert not [path for path in schema.json().get("paths", {}) if path.startswith("/health")]


@pytest.mark.asyncio
async def test_the_plugin_can_be_switched_off(make_app: AppFactory) -> None:
    async with running(make_app(disabled_plugins=["chassis.health"])) as client:
        response = await client.get("/health/live")
    assert response.status_code == 404


class AsyncHook:
    name = "test.async-hook"

    @hookimpl
    async def chassis_readiness_checks(self) -> list[ReadinessCheck]:
        await asyncio.sleep(0)
        return [ReadinessCheck("from-async-hook", _fine)]


@pytest.mark.asyncio
async def test_an_async_hook_implementation_contributes_checks(make_app: AppFactory) -> None:
    async with running(make_app([AsyncHook()])) as client:
        response = await client.get("/health/ready/from-async-hook")
    assert response.status_code == 200


class Another(Checks):
    name = "test.another"


def test_a_readiness_check_refuses_unusable_fields() -> None:
    with pytest.raises(ValueError, match="timeout must be positive"):
        ReadinessCheck("zero", _fine, timeout=0)
    with pytest.raises(ValueError, match="cache_seconds cannot be negative"):
        ReadinessCheck("past", _fine, cache_seconds=-1)
    with pytest.raises(TypeError, match="must be callable"):
        ReadinessCheck("nothing", "not callable")  # type: ignore[arg-type]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("plugins", "message"),
    [
        (
            [Checks(ReadinessCheck("cache", _fine)), Another(ReadinessCheck("cache", _fine))],
            (
                "readiness check 'cache' of plugin 'test.another' is already defined by plugin "
                "'test.checks'"
            ),
        ),
        (
            [Checks(ReadinessCheck("database", _fine))],
            "already defined by plugin 'chassis.health'",
        ),
        ([Checks(ReadinessCheck("a/b", _fine))], "readiness check name 'a/b' must be"),
        ([Checks("not a check")], "must return ReadinessCheck objects"),  # type: ignore[arg-type]
    ],
    ids=["duplicate", "builtin-name", "bad-name", "not-a-check"],
)
async def test_invalid_checks_stop_start_up(
    make_app: AppFactory, plugins: list[object], message: str
) -> None:
    with pytest.raises(PluginError, match="chassis_startup") as caught:
        async with running(make_app(plugins)):
            pass
    assert message in str(caught.value)
