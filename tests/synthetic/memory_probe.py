"""Load a scenario and print the process's peak resident memory in KiB.

Run as ``python -m tests.synthetic.memory_probe URL SCALE``; the memory test
starts one process per scale, so each peak belongs to one load.
"""

from __future__ import annotations

import asyncio
import resource
import sys

from fastapi_chassis.synthetic import BLACK_FRIDAY, BulkLoader
from tests.synthetic.factories import SHOP_FACTORIES


def main() -> None:
    url, scale = sys.argv[1], int(sys.argv[2])
    report = asyncio.run(BulkLoader(url, SHOP_FACTORIES).load(BLACK_FRIDAY, scale=scale, seed=1))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    sys.stdout.write(f"{peak} {report.total_rows}\n")


if __name__ == "__main__":
    main()
