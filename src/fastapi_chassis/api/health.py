"""Liveness and readiness endpoints, after the Kubernetes API server's ``/livez`` and ``/readyz``.

``GET /health/live`` answers 200 whenever the event loop does and checks nothing
else, so an outage of a dependency never makes Kubernetes restart processes that
are fine. ``GET /health/ready`` runs the readiness checks concurrently, each
under its own timeout, and answers ``application/health+json`` (the IETF draft
"Health Check Response Format for HTTP APIs"): 200 when every check passes or
only warns, 503 when a check at the ``fail`` level fails. ``?verbose`` adds each
check's status, duration, time and output; ``?exclude=name`` (repeatable) skips
checks; ``/health/ready/{name}`` runs one check.

Two checks are built in: ``shutdown`` fails from the moment the process receives
SIGTERM (see :mod:`fastapi_chassis.api.draining`), and ``database`` runs
``SELECT 1`` through the application's engine. Plugins add theirs with the
``chassis_readiness_checks`` hook. A check that raises or times out fails alone;
its error text is shown only with ``?verbose``, with credentials in URLs removed.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from fastapi import FastAPI, Request
from sqlalchemy import text
from starlette.responses import Response

from fastapi_chassis.api.draining import TerminationWatch, watch_termination
from fastapi_chassis.api.problems import Problem, problem_response
from fastapi_chassis.errors import ConfigurationError
from fastapi_chassis.plugins.contributions import CheckLevel, ReadinessCheck
from fastapi_chassis.plugins.manager import PluginError, flatten
from fastapi_chassis.plugins.markers import hookimpl

if TYPE_CHECKING:
    from starlette.datastructures import QueryParams

    from fastapi_chassis.app import ChassisState

__all__ = ["DATABASE_CHECK", "HEALTH_MEDIA_TYPE", "SHUTDOWN_CHECK", "HealthPlugin"]

HEALTH_MEDIA_TYPE = "application/health+json"
"""The media type of every health response (IETF draft-inadarei-api-health-check)."""
DATABASE_CHECK = "database"
"""The name of the built-in check that runs ``SELECT 1`` through the application's engine."""
SHUTDOWN_CHECK = "shutdown"
"""The name of the built-in check that fails once the process has been asked to stop."""

_Status = Literal["pass", "warn", "fail"]

_CHECK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
_USERINFO = re.compile(r"(?<=://)[^\s/@]+@")
_PASSWORD_PAIR = re.compile(r"\b(password|passwd|pwd)=\S+", re.IGNORECASE)
_MAX_OUTPUT = 300
_FALSE = frozenset({"0", "false", "no", "off"})
_SELECT_ONE = text("SELECT 1")
_BUILTIN = "chassis.health"


@dataclass(frozen=True, slots=True)
class _Outcome:
    status: _Status
    duration: float
    observed_at: datetime
    output: str | None = None

    def to_json(self) -> dict[str, object]:
        entry: dict[str, object] = {
            "status": self.status,
            "observedValue": round(self.duration * 1000, 3),
            "observedUnit": "ms",
            "time": self.observed_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }
        if self.output:
            entry["output"] = self.output
        return entry


class _CheckRunner:
    """Runs one check: isolated, under its timeout, and cached for ``cache_seconds``."""

    def __init__(self, check: ReadinessCheck, secrets: Sequence[str]) -> None:
        self.check = check
        self._secrets = secrets
        self._cached: _Outcome | None = None
        self._expires = 0.0
        self._pending: asyncio.Task[_Outcome] | None = None
        self._abandoned: set[asyncio.Task[object]] = set()

    async def outcome(self) -> _Outcome:
        if self.check.cache_seconds <= 0:
            return await self._run()
        if self._cached is not None and time.monotonic() < self._expires:
            return self._cached
        if self._pending is None:
            # Concurrent requests share one run, so a slow dependency sees one probe.
            self._pending = asyncio.create_task(self._run_and_keep())
        return await asyncio.shield(self._pending)

    async def _run_and_keep(self) -> _Outcome:
        try:
            outcome = await self._run()
            self._cached = outcome
            self._expires = time.monotonic() + self.check.cache_seconds
            return outcome
        finally:
            self._pending = None

    async def _run(self) -> _Outcome:
        check = self.check
        observed_at = datetime.now(UTC)
        started = time.perf_counter()
        task = asyncio.create_task(_invoke(check.check), name=f"readiness check {check.name}")
        try:
            done, _ = await asyncio.wait({task}, timeout=check.timeout)
        finally:
            if not task.done():
                # Not awaited: a check that ignores cancellation must not hold the answer.
                task.cancel()
                self._abandoned.add(task)
                task.add_done_callback(self._forget)
        duration = time.perf_counter() - started
        error: BaseException | None
        if not done:
            error = TimeoutError(f"no answer within {check.timeout:g} s")
        elif task.cancelled():
            error = asyncio.CancelledError("the check was cancelled")
        else:
            error = task.exception()
        if error is None:
            message = task.result()
            output = _redact(str(message), self._secrets) if message is not None else None
            return _Outcome("pass", duration, observed_at, output)
        status: _Status = "warn" if check.level is CheckLevel.WARN else "fail"
        return _Outcome(status, duration, observed_at, _describe(error, self._secrets))

    def _forget(self, task: asyncio.Task[object]) -> None:
        self._abandoned.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved, so asyncio does not report it as lost

    async def close(self) -> None:
        tasks = [*self._abandoned, *([self._pending] if self._pending else [])]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=1.0)


async def _invoke(function: Callable[[], object]) -> object:
    if _is_async(function):
        result = function()
    else:
        # A plain function may block: in a worker thread it cannot stall the loop,
        # and the timeout still answers for it.
        result = await asyncio.to_thread(function)
    if inspect.isawaitable(result):
        result = await result
    return result


def _is_async(function: object) -> bool:
    return inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(
        getattr(function, "__call__", None)  # noqa: B004 - an object with an async __call__
    )


def _describe(error: BaseException, secrets: Sequence[str]) -> str:
    # SQLAlchemy's errors append the SQL and a documentation link; the error they
    # wrap (``orig``, itself an adapter around asyncpg's) says what went wrong.
    shown = error
    orig = getattr(error, "orig", None)
    if isinstance(orig, BaseException):
        shown = orig.__cause__ if isinstance(orig.__cause__, BaseException) else orig
    detail = str(shown).strip()
    described = f"{type(shown).__name__}: {detail}" if detail else type(shown).__name__
    return _redact(described, secrets)


def _redact(output: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        output = output.replace(secret, "***")
    output = _USERINFO.sub("***@", output)
    output = _PASSWORD_PAIR.sub(r"\1=***", output)
    if len(output) > _MAX_OUTPUT:
        output = output[: _MAX_OUTPUT - 3] + "..."
    return output


def _overall(outcomes: Iterable[_Outcome]) -> _Status:
    statuses = {outcome.status for outcome in outcomes}
    if "fail" in statuses:
        return "fail"
    return "warn" if "warn" in statuses else "pass"


def _is_set(params: QueryParams, name: str) -> bool:
    # Kubernetes' /readyz?verbose takes the bare parameter as true.
    return name in params and params[name].lower() not in _FALSE


def _health_response(body: dict[str, object], status_code: int) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":")),
        status_code=status_code,
        media_type=HEALTH_MEDIA_TYPE,
        # A cached answer is a wrong answer for a probe.
        headers={"Cache-Control": "no-store"},
    )


class HealthPlugin:
    """Built-in plugin ``chassis.health``: ``/health/live``, ``/health/ready`` and draining.

    It adds the routes (outside API versioning, absent from the OpenAPI
    documents), collects the readiness checks at start-up (the built-in
    ``shutdown`` and ``database`` checks, then every plugin's), and watches for
    SIGTERM: from the moment the signal arrives, ``ChassisState.draining`` is set
    and readiness fails, and the signal reaches the server after
    ``shutdown_delay_seconds``.
    """

    name = _BUILTIN

    def __init__(self) -> None:
        self._state: ChassisState | None = None
        self._runners: dict[str, _CheckRunner] = {}
        self._watch: TerminationWatch | None = None

    @hookimpl
    def chassis_configure_app(self, app: FastAPI) -> None:
        """Add the health routes."""
        routes = (
            ("/health/live", self.live, "health_live"),
            ("/health/ready", self.ready, "health_ready"),
            ("/health/ready/{check}", self.ready_check, "health_ready_check"),
        )
        for path, endpoint, name in routes:
            app.add_api_route(path, endpoint, methods=["GET"], name=name, include_in_schema=False)

    @hookimpl(trylast=True)
    async def chassis_startup(self, app: FastAPI) -> None:
        """Collect the readiness checks and start watching for SIGTERM.

        It runs after every other plugin's start-up, so checks may use what those
        created.

        Raises:
            ConfigurationError: If two checks share a name, or a name, timeout or
                cache duration is invalid.
        """
        state: ChassisState = app.state.chassis
        # A lifespan that runs again (tests start one app several times) starts
        # ready: the previous run's shutdown set the flag.
        state.draining = False
        self._state = state
        checks = [ReadinessCheck(SHUTDOWN_CHECK, self._shutdown_check, timeout=1.0)]
        if state.engine is not None:
            checks.append(ReadinessCheck(DATABASE_CHECK, self._database_check))
        owners = dict.fromkeys((check.name for check in checks), _BUILTIN)
        for owner, contributed in await self._plugin_checks(app, state):
            check = _validated(contributed, owner, owners)
            owners[check.name] = owner
            checks.append(check)
        secrets = _secrets(state)
        self._runners = {check.name: _CheckRunner(check, secrets) for check in checks}
        self._watch = watch_termination(self._drain, delay=state.settings.shutdown_delay_seconds)

    @hookimpl
    async def chassis_shutdown(self) -> None:
        """Fail readiness from now on, stop watching SIGTERM, and cancel running checks."""
        if self._state is not None:
            self._state.draining = True
        if self._watch is not None:
            self._watch.stop()
            self._watch = None
        for runner in self._runners.values():
            await runner.close()

    async def live(self) -> Response:
        """``GET /health/live``: 200 while the process answers; nothing else is checked."""
        return _health_response({"status": "pass"}, 200)

    async def ready(self, request: Request) -> Response:
        """``GET /health/ready``: every check but the excluded ones; 503 when one fails."""
        excluded = list(dict.fromkeys(request.query_params.getlist("exclude")))
        names = [name for name in self._runners if name not in excluded]
        notes = [
            f"exclude: no check named {name!r}" for name in excluded if name not in self._runners
        ]
        return await self._answer(
            names, verbose=_is_set(request.query_params, "verbose"), notes=notes
        )

    async def ready_check(self, request: Request, check: str) -> Response:
        """``GET /health/ready/{check}``: one check by name; 404 problem for an unknown one."""
        if check not in self._runners:
            problem = Problem(
                404,
                kind="not-found",
                detail="no readiness check has this name",
                instance=request.url.path,
                extensions={"checks": list(self._runners)},
            )
            return problem_response(problem)
        return await self._answer([check], verbose=_is_set(request.query_params, "verbose"))

    async def _answer(
        self, names: Sequence[str], *, verbose: bool, notes: Sequence[str] = ()
    ) -> Response:
        if self._state is None:
            body: dict[str, object] = {"status": "fail"}
            if verbose:
                body["notes"] = ["the application has not started"]
            return _health_response(body, 503)
        outcomes = await asyncio.gather(*(self._runners[name].outcome() for name in names))
        status = _overall(outcomes)
        body = {"status": status}
        if verbose:
            body["serviceId"] = self._state.settings.service_name
            body["checks"] = {
                name: [outcome.to_json()] for name, outcome in zip(names, outcomes, strict=True)
            }
            if notes:
                body["notes"] = list(notes)
        return _health_response(body, 503 if status == "fail" else 200)

    def _drain(self) -> None:
        # Runs inside the signal handler: set the flag and nothing else.
        if self._state is not None:
            self._state.draining = True

    async def _shutdown_check(self) -> str | None:
        if self._state is not None and self._state.draining:
            raise RuntimeError("the process has been asked to stop and is draining")
        return None

    async def _database_check(self) -> str | None:
        engine = self._state.engine if self._state is not None else None
        if engine is None:
            raise RuntimeError("the database engine is not running")
        async with engine.connect() as connection:
            await connection.execute(_SELECT_ONE)
        return None

    @staticmethod
    async def _plugin_checks(app: FastAPI, state: ChassisState) -> list[tuple[str, object]]:
        hook = "chassis_readiness_checks"
        found: list[tuple[str, object]] = []
        arguments = {"settings": state.settings, "app": app}
        for impl in state.plugins.implementations(hook):
            result = state.plugins.invoke(impl, hook, arguments)
            if inspect.isawaitable(result):
                try:
                    result = await result
                except Exception as error:
                    raise PluginError(impl.plugin_name, hook, error) from error
            if result is not None:
                found.extend((impl.plugin_name, check) for check in flatten([result]))
        return found


def _validated(check: object, owner: str, owners: dict[str, str]) -> ReadinessCheck:
    if not isinstance(check, ReadinessCheck):
        raise ConfigurationError(
            f"plugin {owner!r}: chassis_readiness_checks must return ReadinessCheck "
            f"objects, got {check!r}"
        )
    if not _CHECK_NAME.fullmatch(check.name):
        raise ConfigurationError(
            f"plugin {owner!r}: readiness check name {check.name!r} must be 1 to 64 "
            "letters, digits, '.', '_', ':' or '-', starting with a letter or digit"
        )
    if check.name in owners:
        raise ConfigurationError(
            f"readiness check {check.name!r} of plugin {owner!r} is already defined "
            f"by plugin {owners[check.name]!r}"
        )
    if check.timeout <= 0 or check.cache_seconds < 0:
        raise ConfigurationError(
            f"plugin {owner!r}: readiness check {check.name!r} needs a positive timeout "
            "and a cache_seconds of zero or more"
        )
    return check


def _secrets(state: ChassisState) -> list[str]:
    url = state.settings.database_url
    if url is None:
        return []
    raw = url.get_secret_value()
    password = state.settings.require_database_url().password
    return [raw, *([str(password)] if password else [])]
