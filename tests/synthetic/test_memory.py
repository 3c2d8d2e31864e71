"""Memory stays flat as the scale grows: rows stream through, they never pile up."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

pytestmark = pytest.mark.db

ROOT = Path(__file__).parents[2]
# Ten times the orders may cost a few MiB of per-customer plan state (24 bytes a
# customer) and nothing else; holding the rows would cost hundreds.
GROWTH_LIMIT_KIB = 24 * 1024


def _peak_kib(url: str, scale: int) -> tuple[int, int]:
    result = subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, "-m", "tests.synthetic.memory_probe", url, str(scale)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    peak, rows = result.stdout.split()
    return int(peak), int(rows)


def test_peak_memory_does_not_grow_with_the_scale(make_shop_url: Callable[[], str]) -> None:
    small_peak, small_rows = _peak_kib(make_shop_url(), 10_000)
    large_peak, large_rows = _peak_kib(make_shop_url(), 100_000)
    assert large_rows > 9 * small_rows
    assert large_peak - small_peak < GROWTH_LIMIT_KIB, (small_peak, large_peak)
