"""Progress of a bulk load, as callbacks and the CLI's progress bar see it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = ["LoadProgress", "ProgressCallback"]


@dataclass(frozen=True, slots=True)
class LoadProgress:
    """How far a load has come; the last one, with ``finished`` set, is its report.

    Attributes:
        scenario: The scenario's name.
        scale: The number of orders.
        seed: The seed.
        rows: Rows written so far, by table (schema-qualified when not in the
            default schema), in the order tables were first written.
        expected_rows: The rows the whole load is expected to write (order
            lines are an expectation until the load finishes).
        elapsed: Seconds since the load started.
        finished: Whether every row is written and committed.
    """

    scenario: str
    scale: int
    seed: int
    rows: Mapping[str, int]
    expected_rows: int
    elapsed: float
    finished: bool = False

    @property
    def total_rows(self) -> int:
        """Rows written so far, all tables together."""
        return sum(self.rows.values())

    @property
    def rows_per_second(self) -> float:
        """Rows written per second since the start, all tables together."""
        return self.total_rows / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def fraction(self) -> float:
        """The share of the expected rows written, from 0 to 1."""
        if self.finished:
            return 1.0
        return min(1.0, self.total_rows / self.expected_rows) if self.expected_rows else 0.0


ProgressCallback = Callable[[LoadProgress], None]
"""Called on the event loop after every batch written; keep it quick."""
