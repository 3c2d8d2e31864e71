"""The synthetic-data REST endpoints: start a run, follow its progress, cancel it.

============================  =====================================================
``POST /synthetic/runs``      start a run (``scenario``, ``scale``, ``seed``): 202,
                              with the run and its ``Location``
``GET /synthetic/runs``       the remembered runs, newest first
``GET /synthetic/runs/{id}``  a run's state, rows written per table and rows/s
``DELETE /synthetic/runs/{id}``  cancel a run (its transaction rolls back)
============================  =====================================================

Errors are problem documents: ``unknown-scenario`` (422), ``scale-too-large``
(422), ``run-in-progress`` (409), ``run-not-found`` (404), ``run-finished``
(409, cancelling a run that ended) and ``synthetic-unavailable`` (503: no database
or no factories bound to the roles).
"""

from __future__ import annotations

import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from fastapi_chassis.api.problems import Problem, problem_response
from fastapi_chassis.synthetic.errors import (
    RoleBindingError,
    SyntheticDataError,
    UnknownScenario,
)
from fastapi_chassis.synthetic.runs import RunBusy, RunState, SyntheticRun, SyntheticRuns

__all__ = ["RUNS_KEY", "RunRequest", "RunStatus", "build_router"]

RUNS_KEY = "synthetic.runs"
"""Where the application's :class:`SyntheticRuns` lives in ``app.state.chassis.extras``."""

PREFIX = "/synthetic"


class RunRequest(BaseModel):
    """The body of ``POST /synthetic/runs``.

    Attributes:
        scenario: The scenario's name (``chassis synth list`` shows them).
        scale: The number of orders; other volumes derive from it. The
            scenario's default when omitted.
        seed: The seed; the same scenario, scale and seed give the same data.
    """

    scenario: str
    scale: Annotated[int, Field(ge=1)] | None = None
    seed: Annotated[int, Field(ge=0, lt=2**63)] = 0


class RunStatus(BaseModel):
    """A run as the API shows it.

    Attributes:
        id: The run's id.
        scenario: The scenario's name.
        scale: The number of orders.
        seed: The seed.
        state: ``running``, ``succeeded``, ``failed`` or ``cancelled``.
        rows: Rows written so far, by table (committed only once succeeded).
        total_rows: All tables together.
        expected_rows: The rows the run is expected to write.
        rows_per_second: The rate since the start.
        elapsed_seconds: Seconds since the start (or until the end).
        started_at: When it started.
        finished_at: When it ended.
        error: Why it failed.
    """

    id: UUID
    scenario: str
    scale: int
    seed: int
    state: RunState
    rows: dict[str, int]
    total_rows: int
    expected_rows: int | None
    rows_per_second: float
    elapsed_seconds: float
    started_at: datetime.datetime
    finished_at: datetime.datetime | None
    error: str | None

    @classmethod
    def of(cls, run: SyntheticRun) -> RunStatus:
        """Describe ``run``."""
        progress = run.progress
        return cls(
            id=run.id,
            scenario=run.scenario,
            scale=run.scale,
            seed=run.seed,
            state=run.state,
            rows=dict(progress.rows) if progress else {},
            total_rows=progress.total_rows if progress else 0,
            expected_rows=progress.expected_rows if progress else None,
            rows_per_second=round(progress.rows_per_second, 1) if progress else 0.0,
            elapsed_seconds=round(progress.elapsed, 3) if progress else 0.0,
            started_at=run.started_at,
            finished_at=run.finished_at,
            error=run.error,
        )


def _runs(request: Request) -> SyntheticRuns | None:
    runs = request.app.state.chassis.extras.get(RUNS_KEY)
    return runs if isinstance(runs, SyntheticRuns) else None


def _problem(status: int, kind: str, detail: str, request: Request, **extra: object) -> Response:
    return problem_response(
        Problem(status, kind=kind, detail=detail, instance=request.url.path, extensions=extra)
    )


def _status(run: SyntheticRun, status_code: int = 200) -> Response:
    return Response(
        RunStatus.of(run).model_dump_json(),
        status_code=status_code,
        media_type="application/json",
    )


def build_router(max_scale: int) -> APIRouter:
    """Return the router of the synthetic-data endpoints.

    Args:
        max_scale: The largest scale a run may ask for.
    """
    router = APIRouter(prefix=PREFIX, tags=["synthetic data"])

    @router.post(
        "/runs",
        status_code=202,
        response_model=RunStatus,
        summary="Start a generation run",
    )
    async def start_run(body: RunRequest, request: Request) -> Response:
        runs = _runs(request)
        if runs is None:
            return _problem(503, "synthetic-unavailable", "the application is not running", request)
        scenario = runs.scenarios.get(body.scenario)
        scale = (
            body.scale if body.scale is not None else (scenario.default_scale if scenario else 0)
        )
        if scale > max_scale:
            return _problem(
                422,
                "scale-too-large",
                f"scale {scale} is above the limit of {max_scale} orders "
                "(setting synthetic_max_scale)",
                request,
            )
        try:
            run = runs.start(body.scenario, scale=scale, seed=body.seed)
        except UnknownScenario as error:
            return _problem(422, "unknown-scenario", str(error), request, known=error.known)
        except RunBusy as error:
            return _problem(409, "run-in-progress", str(error), request, run_id=str(error.run_id))
        except (RoleBindingError, SyntheticDataError) as error:
            return _problem(503, "synthetic-unavailable", str(error), request)
        response = _status(run, 202)
        response.headers["Location"] = f"{PREFIX}/runs/{run.id}"
        return response

    @router.get("/runs", response_model=list[RunStatus], summary="List the remembered runs")
    async def list_runs(request: Request) -> list[RunStatus]:
        runs = _runs(request)
        return [RunStatus.of(run) for run in runs.runs()] if runs else []

    @router.get("/runs/{run_id}", response_model=RunStatus, summary="Follow a run")
    async def get_run(run_id: UUID, request: Request) -> Response:
        runs = _runs(request)
        run = runs.get(run_id) if runs else None
        if run is None:
            return _problem(404, "run-not-found", f"no run {run_id}", request)
        return _status(run)

    @router.delete("/runs/{run_id}", response_model=RunStatus, summary="Cancel a run")
    async def cancel_run(run_id: UUID, request: Request) -> Response:
        runs = _runs(request)
        run = runs.get(run_id) if runs else None
        if run is None or runs is None:
            return _problem(404, "run-not-found", f"no run {run_id}", request)
        if run.done:
            return _problem(
                409, "run-finished", f"run {run_id} has already {run.state.value}", request
            )
        return _status(await runs.cancel(run_id) or run)

    return router
