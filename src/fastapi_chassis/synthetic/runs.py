"""Generation runs started through the REST API, as background tasks of the application.

One run loads at a time: two loads into the same tables would contend for the
same unique keys. Each run is an :class:`asyncio.Task` created on the
application's event loop; shutting the application down cancels the run in
progress, whose transaction then rolls back.
"""

from __future__ import annotations

import asyncio
import datetime
from collections import OrderedDict
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING
from uuid import UUID

from fastapi_chassis.db import uuid7
from fastapi_chassis.synthetic.catalog import find_scenario
from fastapi_chassis.synthetic.errors import SyntheticDataError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from sqlalchemy.ext.asyncio import AsyncEngine

    from fastapi_chassis.synthetic.loader import BulkLoader
    from fastapi_chassis.synthetic.progress import LoadProgress
    from fastapi_chassis.synthetic.scenarios import Scenario

__all__ = ["RunBusy", "RunState", "SyntheticRun", "SyntheticRuns"]


class RunState(StrEnum):
    """Where a run is in its life."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class RunBusy(SyntheticDataError):
    """A run is already in progress.

    Attributes:
        run_id: The run in progress.
    """

    def __init__(self, run_id: UUID) -> None:
        super().__init__(f"run {run_id} is in progress; wait for it or cancel it")
        self.run_id = run_id


@dataclass
class SyntheticRun:
    """One generation run and what is known about it.

    Attributes:
        id: The run's id.
        scenario: The scenario's name.
        scale: The number of orders.
        seed: The seed.
        state: Where the run is.
        started_at: When it started.
        finished_at: When it ended, if it has.
        progress: The latest progress report.
        error: Why it failed, for a failed run.
    """

    id: UUID
    scenario: str
    scale: int
    seed: int
    state: RunState = RunState.RUNNING
    started_at: datetime.datetime = field(
        default_factory=lambda: datetime.datetime.now(datetime.UTC)
    )
    finished_at: datetime.datetime | None = None
    progress: LoadProgress | None = None
    error: str | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def done(self) -> bool:
        """Whether the run has ended, one way or another."""
        return self.state is not RunState.RUNNING


class SyntheticRuns:
    """Starts, tracks and cancels the runs of one application.

    Args:
        engine: The engine the runs load through (``None`` when the application
            has no database: starting a run then fails).
        factories: The role bindings.
        scenarios: The scenarios runs may name.
        keep: How many finished runs to remember.
    """

    def __init__(
        self,
        engine: AsyncEngine | None,
        factories: Mapping[str, type],
        scenarios: Mapping[str, Scenario],
        *,
        keep: int = 20,
    ) -> None:
        self.engine = engine
        self.factories = dict(factories)
        self.scenarios = dict(scenarios)
        self.keep = keep
        self._runs: OrderedDict[UUID, SyntheticRun] = OrderedDict()

    def start(self, scenario_name: str, *, scale: int | None, seed: int) -> SyntheticRun:
        """Start a run in the background and return it.

        Raises:
            UnknownScenario: If no scenario has that name.
            RunBusy: If a run is in progress.
            RoleBindingError: If the factories cannot make the scenario's rows.
            SyntheticDataError: If the application has no database.
        """
        scenario = find_scenario(self.scenarios, scenario_name)
        active = next((run for run in self._runs.values() if not run.done), None)
        if active is not None:
            raise RunBusy(active.id)
        if self.engine is None:
            raise SyntheticDataError("the application has no database configured")
        # The loader brings numpy and factory_boy (the synthetic extra): imported
        # when a run starts, so that an application without them still starts.
        from fastapi_chassis.synthetic.loader import BulkLoader  # noqa: PLC0415

        # Checked now, so that a bad binding is the caller's error, not a failed run.
        loader = BulkLoader(self.engine, self.factories)
        run = SyntheticRun(
            id=uuid7(), scenario=scenario.name, scale=scenario.counts(scale).orders, seed=seed
        )

        def record(progress: LoadProgress) -> None:
            run.progress = progress

        loader.on_progress = record
        run.task = asyncio.get_running_loop().create_task(
            self._execute(run, loader, scenario), name=f"chassis-synthetic-run-{run.id}"
        )
        self._runs[run.id] = run
        self._forget_old()
        return run

    def get(self, run_id: UUID) -> SyntheticRun | None:
        """Return the run with that id, if it is remembered."""
        return self._runs.get(run_id)

    def runs(self) -> list[SyntheticRun]:
        """Return the remembered runs, newest first."""
        return list(reversed(self._runs.values()))

    async def cancel(self, run_id: UUID) -> SyntheticRun | None:
        """Cancel a run and wait until its transaction is rolled back.

        Returns:
            The run (unchanged when it had already ended), or ``None`` if unknown.
        """
        run = self._runs.get(run_id)
        if run is None or run.task is None or run.done:
            return run
        run.task.cancel()
        await asyncio.wait([run.task])
        if not run.done:  # cancelled before its first step: the coroutine never ran
            run.state = RunState.CANCELLED
            run.finished_at = datetime.datetime.now(datetime.UTC)
        return run

    async def close(self) -> None:
        """Cancel every run in progress and wait for them (application shutdown)."""
        for run in list(self._runs.values()):
            await self.cancel(run.id)

    async def _execute(self, run: SyntheticRun, loader: BulkLoader, scenario: Scenario) -> None:
        try:
            run.progress = await loader.load(scenario, scale=run.scale, seed=run.seed)
        except asyncio.CancelledError:
            run.state = RunState.CANCELLED
            raise
        except Exception as error:  # noqa: BLE001 - a failed run reports its error
            run.state = RunState.FAILED
            run.error = " ".join(f"{type(error).__name__}: {error}".split())
        else:
            run.state = RunState.SUCCEEDED
        finally:
            run.finished_at = datetime.datetime.now(datetime.UTC)

    def _forget_old(self) -> None:
        finished = [run.id for run in self._runs.values() if run.done]
        for run_id in finished[: max(0, len(finished) - self.keep)]:
            del self._runs[run_id]
