"""Prometheus metrics across worker processes: prometheus-client's multiprocess mode.

A server started with several workers (``uvicorn --workers 4``, gunicorn) runs
one Python process per worker, each with its own counters. A scrape reaches one
worker, so without help it reports that worker's share. prometheus-client's
multiprocess mode has every process write its values to memory-mapped files in
one directory, and the exposition reads and adds up all of them.

The mode is chosen once, when prometheus-client is imported: its value class is
picked from the ``PROMETHEUS_MULTIPROC_DIR`` environment variable at that moment
and never looked at again. So the directory must be known before the first
``import prometheus_client`` anywhere in the process. Two ways get there:

* set ``PROMETHEUS_MULTIPROC_DIR`` in the environment of the server (always
  works, whatever imports what);
* set ``CHASSIS_METRICS_MULTIPROCESS_DIR`` (the
  :attr:`~fastapi_chassis.settings.ChassisSettings.metrics_multiprocess_dir`
  setting). This module applies the environment variable when it is imported,
  before it imports prometheus-client, and ``create_app`` loads it (with the
  ``chassis.metrics`` plugin) before the other built-in plugins; the metrics
  plugin applies the setting again when the application is created, which also
  covers a value given in code or in a ``.env`` file. Either way it works only
  if nothing imported prometheus-client earlier in the process (the
  application's own metrics, or a library). When something did, the chassis
  fails with a :class:`~fastapi_chassis.errors.ConfigurationError` saying so
  rather than report one worker's numbers.

The directory must be empty when the server starts (wipe it in the container's
entry point, before the workers start), and is shared only by the workers of one
server on one host.

Gauges are added up over live processes only (``livesum``): a worker that stops
removes its live-gauge files (:func:`mark_worker_stopped`, run by the metrics
middleware when the application shuts down), and each scrape first removes those
of workers that died without shutting down (:func:`clear_dead_workers`). Counters
and histograms of stopped workers are kept, so totals never go backwards.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from fastapi_chassis.errors import ConfigurationError

__all__ = [
    "MULTIPROCESS_ENVIRONMENT_VARIABLE",
    "SETTING_ENVIRONMENT_VARIABLE",
    "clear_dead_workers",
    "mark_worker_stopped",
    "multiprocess_directory",
    "use_multiprocess_directory",
]

MULTIPROCESS_ENVIRONMENT_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
"""The environment variable that turns prometheus-client's multiprocess mode on."""
SETTING_ENVIRONMENT_VARIABLE = "CHASSIS_METRICS_MULTIPROCESS_DIR"
"""The environment variable of the ``metrics_multiprocess_dir`` setting."""

_LIVE_GAUGE_FILES = "gauge_live*_*.db"


def _imported_single_process() -> bool:
    values = sys.modules.get("prometheus_client.values")
    if values is None:
        return False
    return bool(values.ValueClass is values.MutexValue)


def use_multiprocess_directory(directory: str | os.PathLike[str]) -> Path:
    """Turn prometheus-client's multiprocess mode on, with its files in ``directory``.

    Sets ``PROMETHEUS_MULTIPROC_DIR`` for this process and the processes it
    starts, creating the directory if needed. Call it before anything imports
    prometheus-client; ``create_app`` calls it with the
    ``metrics_multiprocess_dir`` setting.

    Args:
        directory: Where the worker processes write their metric files.

    Returns:
        The directory.

    Raises:
        ConfigurationError: If prometheus-client was already imported in
            single-process mode (the setting would be silently ignored), or the
            environment names another directory.
    """
    path = Path(directory)
    current = os.environ.get(MULTIPROCESS_ENVIRONMENT_VARIABLE)
    if current is not None and Path(current) != path:
        raise ConfigurationError(
            f"{MULTIPROCESS_ENVIRONMENT_VARIABLE} is {current!r} but the metrics "
            f"multiprocess directory is set to {str(path)!r}; set only one of them"
        )
    if _imported_single_process():
        raise ConfigurationError(
            "prometheus_client was imported before the metrics multiprocess directory "
            "was set, so it runs in single-process mode; set "
            f"{MULTIPROCESS_ENVIRONMENT_VARIABLE} in the server's environment instead"
        )
    path.mkdir(parents=True, exist_ok=True)
    os.environ[MULTIPROCESS_ENVIRONMENT_VARIABLE] = str(path)
    return path


def multiprocess_directory() -> Path | None:
    """Return the multiprocess directory, or ``None`` in single-process mode.

    Imports prometheus-client (which fixes the mode for the process), and creates
    the directory if it does not exist.

    Raises:
        ConfigurationError: If ``PROMETHEUS_MULTIPROC_DIR`` is set but
            prometheus-client was imported before it was.
    """
    from prometheus_client import values  # noqa: PLC0415 - the import fixes the mode

    directory = os.environ.get(MULTIPROCESS_ENVIRONMENT_VARIABLE)
    if directory is None:
        return None
    if values.ValueClass is values.MutexValue:
        raise ConfigurationError(
            f"{MULTIPROCESS_ENVIRONMENT_VARIABLE} was set after prometheus_client was "
            "imported, so this process counts on its own; set it in the server's "
            "environment before the application is imported"
        )
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    # A worker that died but was not yet reaped by the server is a zombie, which
    # signal 0 still finds; on Linux its state says so.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def clear_dead_workers(directory: str | os.PathLike[str]) -> list[int]:
    """Remove the live-gauge files of worker processes that no longer run.

    A worker killed without shutting down (``SIGKILL``, out of memory) leaves its
    live gauges behind, and its last values would count for ever; the server
    starts a new worker with a new process id. This finds such files by process
    id and removes them with prometheus-client's ``mark_process_dead``. The
    exposition endpoint calls it before every scrape. Does nothing on Windows,
    where probing a process with signal 0 would stop it.

    Args:
        directory: The multiprocess directory.

    Returns:
        The process ids whose files were removed.
    """
    if sys.platform == "win32":  # pragma: no cover - no signal 0 probe there
        return []
    from prometheus_client import multiprocess  # noqa: PLC0415 - imported with the mode set

    pids: set[int] = set()
    for file in Path(directory).glob(_LIVE_GAUGE_FILES):
        _, _, digits = file.stem.rpartition("_")
        if digits.isdigit():
            pids.add(int(digits))
    own = os.getpid()
    dead = sorted(pid for pid in pids if pid != own and not _running(pid))
    for pid in dead:
        multiprocess.mark_process_dead(pid, os.fspath(directory))  # type: ignore[no-untyped-call]
    return dead


def mark_worker_stopped(directory: str | os.PathLike[str]) -> None:
    """Remove this process's live-gauge files, as it stops.

    :class:`~fastapi_chassis.api.MetricsMiddleware` calls it when the application's
    lifespan shuts down. Counters and histograms stay, so totals keep this
    worker's share.

    Args:
        directory: The multiprocess directory.
    """
    from prometheus_client import multiprocess  # noqa: PLC0415 - imported with the mode set

    multiprocess.mark_process_dead(os.getpid(), os.fspath(directory))  # type: ignore[no-untyped-call]


def _apply_setting_from_environment() -> None:
    directory = os.environ.get(SETTING_ENVIRONMENT_VARIABLE)
    if (
        directory
        and MULTIPROCESS_ENVIRONMENT_VARIABLE not in os.environ
        and "prometheus_client" not in sys.modules
    ):
        Path(directory).mkdir(parents=True, exist_ok=True)
        os.environ[MULTIPROCESS_ENVIRONMENT_VARIABLE] = directory


# At import, before anything of the chassis imports prometheus-client (see above).
_apply_setting_from_environment()
