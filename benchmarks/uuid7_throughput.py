"""UUIDv7 generators against ``uuid.uuid4``: throughput ratios and ordering.

Run with ``nox -s bench`` (or ``python benchmarks/uuid7_throughput.py --help``).

Throughput is reported relative to :func:`uuid.uuid4`, the id most applications
would use instead, measured in the same process, so the numbers compare across
machines where absolute timings do not. Each generator is timed in interleaved
rounds and the best round counts (as :mod:`timeit` recommends): slower rounds
measure the machine's other work, not the generator, and interleaving spreads
frequency scaling and noisy neighbours over every generator alike.

Ordering is checked over consecutive calls: every id must be greater than the
one before it (RFC 9562 leaves ordering within a millisecond to the
implementation; the chassis promises it).

The exit status is 1 when a target is missed, 0 otherwise.
"""

from __future__ import annotations

import argparse
import sys
import timeit
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module

from fastapi_chassis.db import uuid7
from fastapi_chassis.db.uuid7 import python_uuid7_generator

Generator = Callable[[], uuid.UUID]


@dataclass
class Candidate:
    """A generator under test and what it must achieve."""

    name: str
    generate: Generator
    #: Smallest acceptable throughput relative to uuid4; ``None`` for references.
    min_ratio: float | None = None
    #: Whether an id out of order fails the run.
    must_be_ordered: bool = False
    best_seconds: float = float("inf")
    out_of_order: int = 0


def optional_generator(module: str, attribute: str) -> Generator | None:
    """Return ``module.attribute`` when that package is installed."""
    try:
        generate: Generator = getattr(import_module(module), attribute)
    except (ImportError, AttributeError):
        return None
    return generate


def candidates() -> tuple[Candidate, list[Candidate], list[str]]:
    """Return the baseline, the generators to compare with it, and what is missing."""
    baseline = Candidate("uuid.uuid4", uuid.uuid4)
    measured = [
        Candidate("fastapi_chassis.db.uuid7", uuid7, min_ratio=1.5, must_be_ordered=True),
        Candidate(
            "python_uuid7_generator()",
            python_uuid7_generator(),
            min_ratio=0.9,
            must_be_ordered=True,
        ),
    ]
    missing: list[str] = []
    references = [
        ("uuid_utils.compat", "uuid7"),
        ("uuid6", "uuid7"),
        ("uuid", "uuid7"),  # the standard library has it from Python 3.14
    ]
    for module, attribute in references:
        generate = optional_generator(module, attribute)
        if generate is None:
            missing.append(f"{module}.{attribute}")
        else:
            measured.append(Candidate(f"{module}.{attribute}", generate))
    return baseline, measured, missing


def measure(everyone: list[Candidate], *, calls: int, rounds: int) -> None:
    """Keep each candidate's best time for ``calls`` calls over ``rounds`` rounds."""
    timers = [(candidate, timeit.Timer(candidate.generate)) for candidate in everyone]
    for _ in range(rounds):
        for candidate, timer in timers:
            candidate.best_seconds = min(candidate.best_seconds, timer.timeit(calls))


def count_out_of_order(generate: Generator, calls: int) -> int:
    """Count the ids that are not greater than the id made just before them."""
    previous = generate()
    misordered = 0
    for _ in range(calls - 1):
        current = generate()
        if current <= previous:
            misordered += 1
        previous = current
    return misordered


def report(
    baseline: Candidate, measured: list[Candidate], *, calls: int, rounds: int, order_calls: int
) -> list[str]:
    """Print the results table and return the targets that were missed."""
    failures: list[str] = []
    header = (
        f"{'generator':<28} {'ns/call':>8} {'vs uuid4':>9} {'target':>8} "
        f"{'out of order':>13}  result"
    )
    print(header)
    print("-" * len(header))
    print(f"{baseline.name:<28} {baseline.best_seconds / calls * 1e9:>8.0f} {'1.00x':>9}")
    for candidate in measured:
        ratio = baseline.best_seconds / candidate.best_seconds
        problems = []
        target = ""
        if candidate.min_ratio is not None:
            target = f">={candidate.min_ratio:.2f}x"
            if ratio < candidate.min_ratio:
                problems.append(f"{ratio:.2f}x uuid4, below {candidate.min_ratio:.2f}x")
        if candidate.must_be_ordered and candidate.out_of_order:
            problems.append(f"{candidate.out_of_order} ids out of order")
        if candidate.min_ratio is None and not candidate.must_be_ordered:
            verdict = "reference"
        else:
            verdict = "FAIL" if problems else "ok"
        failures.extend(f"{candidate.name}: {problem}" for problem in problems)
        print(
            f"{candidate.name:<28} {candidate.best_seconds / calls * 1e9:>8.0f} "
            f"{f'{ratio:.2f}x':>9} {target:>8} {candidate.out_of_order:>13}  {verdict}"
        )
    print(
        f"\nbest of {rounds} rounds of {calls:,} calls; ordering over "
        f"{order_calls:,} consecutive calls; Python {sys.version.split()[0]}"
    )
    return failures


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=200_000, help="calls per timed round")
    parser.add_argument("--rounds", type=int, default=7, help="timed rounds per generator")
    parser.add_argument(
        "--order-calls", type=int, default=1_000_000, help="consecutive calls checked for order"
    )
    options = parser.parse_args(argv)

    baseline, measured, missing = candidates()
    measure([baseline, *measured], calls=options.calls, rounds=options.rounds)
    for candidate in measured:
        candidate.out_of_order = count_out_of_order(candidate.generate, options.order_calls)
    failures = report(
        baseline,
        measured,
        calls=options.calls,
        rounds=options.rounds,
        order_calls=options.order_calls,
    )
    if missing:
        print(f"unavailable here, skipped: {', '.join(missing)}")
    if failures:
        print("\ntargets missed:\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
