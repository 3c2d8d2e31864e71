"""An embedded server never outlives the test process that started it."""

from __future__ import annotations

import io
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from fastapi_chassis.testing._watchdog import release, watch
from fastapi_chassis.testing.postgres import embedded_available
from tests.testing.inner_sessions import command_lines_mentioning

# Stands in for a postmaster: records its pid where PostgreSQL does, and on
# SIGINT removes the file and exits, as a fast shutdown does.
FAKE_POSTMASTER = """
import os, signal, sys
from pathlib import Path

pid_file = Path(sys.argv[1])

def shut_down(*_):
    pid_file.unlink()
    sys.exit(0)

signal.signal(signal.SIGINT, shut_down)
pid_file.write_text(f"{os.getpid()}\\n/data\\n")
print("ready", flush=True)
signal.pause()
"""

# Starts the embedded server, says where, and dies without any teardown.
KILLED_RUN = """
import os, signal
from fastapi_chassis.testing.postgres import start_server

handle = start_server({"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
print(handle.url, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_release_stops_the_server_and_deletes_its_directory(tmp_path: Path) -> None:
    data_dir = tmp_path / "pgdata"
    data_dir.mkdir()
    server = subprocess.Popen(  # noqa: S603 - this interpreter, a script of ours
        [sys.executable, "-c", FAKE_POSTMASTER, str(data_dir / "postmaster.pid")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        assert server.stdout.readline() == "ready\n"
        release(data_dir, timeout=5)
        assert server.wait(timeout=5) == 0
    finally:
        server.kill()
        server.wait()
        if server.stdout is not None:
            server.stdout.close()
    assert not data_dir.exists()


@pytest.mark.parametrize("pid_file", [None, "", "not-a-pid\n"], ids=["none", "empty", "garbage"])
def test_release_without_a_running_server_just_deletes(
    tmp_path: Path, pid_file: str | None
) -> None:
    data_dir = tmp_path / "pgdata"
    (data_dir / "base").mkdir(parents=True)
    if pid_file is not None:
        (data_dir / "postmaster.pid").write_text(pid_file)
    release(data_dir, timeout=0.1)
    assert not data_dir.exists()


def test_the_watchdog_acts_only_when_its_lifeline_ends(tmp_path: Path) -> None:
    data_dir = tmp_path / "pgdata"
    data_dir.mkdir()
    watch(data_dir, io.BytesIO(b"anything written before the end is ignored"))
    assert not data_dir.exists()


@pytest.mark.skipif(not embedded_available(), reason="needs the embedded server's wheel")
def test_a_test_run_killed_outright_leaves_no_server_behind(pytester: pytest.Pytester) -> None:
    result = pytester.runpython_c(KILLED_RUN)
    assert result.ret == -9, result.stderr.str()
    data_dir = make_url(result.stdout.lines[0]).query["host"]
    assert isinstance(data_dir, str)
    assert "chassis-pg-" in data_dir

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and command_lines_mentioning(data_dir):
        time.sleep(0.1)
    assert command_lines_mentioning(data_dir) == []
    while time.monotonic() < deadline and Path(data_dir).exists():
        time.sleep(0.1)
    assert not Path(data_dir).exists()
