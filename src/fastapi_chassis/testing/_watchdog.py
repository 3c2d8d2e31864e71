"""Stop an embedded test server once the test process that started it is gone.

The embedded server runs in processes of its own, so a test run that dies
without its teardown (a crash in a C extension, SIGKILL, a CI job's timeout)
would leave it running, with its data directory, until the machine restarts.
The test run therefore starts this module as a small separate process and holds
the only write end of a pipe to its standard input. However the test process
ends, the pipe then closes; this process reads end-of-file, stops the server
if it is still running and deletes the data directory. After a normal teardown
there is nothing left to do.

Run as ``python -m fastapi_chassis.testing._watchdog DATA_DIR``; standard
library only, so it starts quickly.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import BinaryIO


def release(data_dir: Path, timeout: float = 10.0) -> None:
    """Stop the server that owns ``data_dir``, if one runs, then delete the directory.

    Args:
        data_dir: The server's data directory.
        timeout: Seconds to wait for the server to shut down before deleting anyway.
    """
    pid_file = data_dir / "postmaster.pid"
    with contextlib.suppress(OSError, ValueError, IndexError):
        # The first line of postmaster.pid is the server's process id; the file
        # exists only while the server runs.
        pid = int(pid_file.read_text().split()[0])
        # SIGINT is PostgreSQL's "fast" shutdown: disconnect everyone, stop.
        os.kill(pid, signal.SIGINT)
        deadline = time.monotonic() + timeout
        while pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    shutil.rmtree(data_dir, ignore_errors=True)


def watch(data_dir: Path, lifeline: BinaryIO) -> None:
    """Wait until ``lifeline`` reaches end-of-file, then :func:`release` the server.

    Args:
        data_dir: The server's data directory.
        lifeline: The read end of the pipe whose write end the test process holds.
    """
    while lifeline.read(4096):
        pass
    release(data_dir)


if __name__ == "__main__":  # pragma: no cover - runs in its own process
    watch(Path(sys.argv[1]), sys.stdin.buffer)
