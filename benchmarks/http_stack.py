"""What the chassis's HTTP stack costs: a trivial endpoint under three stacks.

Run with ``nox -s bench -- http`` (or ``python benchmarks/http_stack.py --help``).
The stacks are built in ``benchmarks/stacks.py``: (a) bare FastAPI, (b) the stack
teams assemble by hand (asgi-correlation-id, prometheus-fastapi-instrumentator, a
structlog access log in ``@app.middleware("http")``), (c) ``create_app`` with
every default built-in plugin.

Three measurements, in one run:

- in process: each application is called directly through ASGI with minimal
  ``receive``/``send`` callables, in interleaved rounds;
- through uvicorn: one server per stack, pinned to one CPU, loaded by ``wrk``
  pinned to another, in interleaved rounds whose order rotates: each round
  saturates the server (throughput, and latency that is mostly queueing), then
  loads it through one connection (latency that is service time). Skipped,
  with a message, when ``wrk`` is not installed;
- instructions: each stack serves requests in process under ``valgrind
  --tool=callgrind``, which counts the instructions executed per request; the
  count does not move with the machine's other work, so it shows what a change
  to a stack did where timed rounds differ by more. Skipped, with a message,
  when ``valgrind`` is not installed.

Each round gives two throughputs: requests per second of wall-clock time, and
requests per second of CPU time spent by the code under test (the event loop's
thread in process, the server process through uvicorn). On a quiet machine they
agree; when other work competes for the CPUs, wall-clock rates drift from round
to round while CPU rates stay put, so the report shows both and says when they
disagree. Latency percentiles are wall-clock.

Only ratios are reported and checked, never absolute timings (instruction counts
are shown with their ratios, and checked against nothing). The targets apply
to the uvicorn measurement (median round, wall clock): (c) keeps at least 0.80 of
(a)'s requests per second with a p99 latency at most 1.2 times (a)'s, and serves
at least 2.5 times as many requests per second as (b). The exit status is 1 when
a target is missed. ``benchmarks/README.md`` explains the method.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi_chassis.app import ChassisApp

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from stacks import PATH, STACKS  # noqa: E402 - found through the path set just above

BASELINE, ASSEMBLED, CHASSIS = "bare", "assembled", "chassis"
MIN_THROUGHPUT_VS_BARE = 0.80
MAX_P99_VS_BARE = 1.20
MIN_THROUGHPUT_VS_ASSEMBLED = 2.5
# Wall-clock and CPU ratios further apart than this mean the machine was busy.
TRUSTED_DISAGREEMENT = 0.05


@dataclass
class Round:
    """One timed round of one stack."""

    wall_rate: float
    """Requests per second of wall-clock time."""
    cpu_rate: float | None
    """Requests per second of CPU time of the code under test, where measurable."""
    p50: float
    p99: float
    """Latency percentiles, in seconds."""


@dataclass
class Result:
    """Every round of one stack in one kind of measurement."""

    rounds: list[Round] = field(default_factory=list)

    def wall_rate(self) -> float:
        """The median round's wall-clock requests per second."""
        return statistics.median(item.wall_rate for item in self.rounds)

    def cpu_rate(self) -> float | None:
        """The median round's requests per CPU-second, if every round measured it."""
        rates = [item.cpu_rate for item in self.rounds if item.cpu_rate is not None]
        return statistics.median(rates) if rates and len(rates) == len(self.rounds) else None

    def p50(self) -> float:
        """The median of the rounds' median latencies."""
        return statistics.median(item.p50 for item in self.rounds)

    def p99(self) -> float:
        """The median of the rounds' 99th-percentile latencies."""
        return statistics.median(item.p99 for item in self.rounds)


def pin(cpu: int | None) -> None:
    """Run this process on one CPU (``None``: leave it where it is)."""
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})


def unpin() -> None:
    """Let this process run on every CPU again."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, range(os.cpu_count() or 1))


def _rotations(names: list[str], rounds: int) -> Iterator[str]:
    # Every stack is measured once per round, each round starting one further on,
    # so none is always measured first (or right after a particular other one).
    for number in range(rounds):
        shift = number % len(names)
        yield from names[shift:] + names[:shift]


# -- in process --------------------------------------------------------------------

_REQUEST: Message = {"type": "http.request", "body": b"", "more_body": False}
_HEADERS = [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"bench"), (b"accept", b"*/*")]


def _scope() -> dict[str, object]:
    # A fresh scope per request, as a server makes: middleware writes into it.
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": PATH,
        "raw_path": PATH.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": list(_HEADERS),
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


async def _receive() -> Message:
    return _REQUEST


class _Responses:
    """A ``send`` that keeps the last status, to check every stack answers 200."""

    def __init__(self) -> None:
        self.status = 0

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]

    def check(self) -> None:
        """Fail unless the last response was a 200."""
        if self.status != 200:
            raise RuntimeError(f"the endpoint answered {self.status}, not 200")


async def _timed_round(app: ASGIApp, requests: int) -> Round:
    send = _Responses()
    clock = time.perf_counter_ns
    latencies: list[int] = []
    gc.collect()
    started, cpu_started = clock(), time.thread_time()
    for _ in range(requests):
        before = clock()
        await app(_scope(), _receive, send)
        latencies.append(clock() - before)
    cpu = time.thread_time() - cpu_started
    elapsed = (clock() - started) / 1e9
    send.check()
    latencies.sort()
    return Round(
        wall_rate=requests / elapsed,
        cpu_rate=requests / cpu if cpu > 0 else None,
        p50=latencies[len(latencies) // 2] / 1e9,
        p99=latencies[int(len(latencies) * 0.99)] / 1e9,
    )


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    # The stacks log one line per request to sys.stderr; in process the lines are
    # written, as they would be in production, but to the null device.
    with Path(os.devnull).open("w") as sink, contextlib.redirect_stderr(sink):
        yield


def in_process(*, requests: int, rounds: int) -> dict[str, Result]:
    """Measure every stack by calling it through ASGI in this process."""

    async def run() -> dict[str, Result]:
        apps = {name: build() for name, build in STACKS.items()}
        results = {name: Result() for name in apps}
        async with contextlib.AsyncExitStack() as stack:
            for app in apps.values():
                await stack.enter_async_context(app.router.lifespan_context(app))
            for app in apps.values():
                await _timed_round(app, max(requests // 4, 1))  # warm-up
            for name in _rotations(list(apps), rounds):
                results[name].rounds.append(await _timed_round(apps[name], requests))
        return results

    with _quiet_stderr():
        return asyncio.run(run())


# -- instructions, counted by valgrind ------------------------------------------------

_COLLECTED = re.compile(r"Collected : (\d+)")


def serve_in_process(name: str, requests: int) -> None:
    """Start one stack, serve ``requests`` requests through ASGI, and stop it.

    What each process counted by :func:`instructions_per_request` runs.
    """

    async def run() -> None:
        app = STACKS[name]()
        send = _Responses()
        async with app.router.lifespan_context(app):
            for _ in range(requests):
                await app(_scope(), _receive, send)
        send.check()

    with _quiet_stderr():
        asyncio.run(run())


def _instructions(name: str, requests: int) -> int:
    command = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        str(Path(__file__).resolve()),
        "--serve-in-process",
        name,
        str(requests),
    ]
    completed = subprocess.run(  # noqa: S603 - valgrind from PATH, this very script
        command,
        env={**os.environ, "PYTHONHASHSEED": "0"},
        capture_output=True,
        text=True,
        check=False,
    )
    match = _COLLECTED.search(completed.stderr)
    if completed.returncode != 0 or match is None:
        raise SystemExit(f"valgrind could not count {name}:\n{completed.stderr[-2000:]}")
    return int(match[1])


def instructions_per_request(*, few: int, many: int) -> dict[str, float]:
    """Instructions each stack executes per request, in process, counted by valgrind.

    Each stack runs twice in a process of its own under ``valgrind
    --tool=callgrind``, serving ``few`` and then ``many`` requests; the difference
    between the two totals, divided by ``many - few``, leaves out the start-up
    and the first, slower requests. The count does not depend on what else the
    machine is doing: where rounds of wall-clock time differ by a few percent,
    it shows what a change to the stack itself did.
    """
    return {
        name: (_instructions(name, many) - _instructions(name, few)) / (many - few)
        for name in STACKS
    }


def report_instructions(title: str, counts: dict[str, float]) -> None:
    """Print the instructions per request of each stack, and their ratios."""
    print(f"\n{title}")
    for name, count in counts.items():
        print(f"  {name:<10} {count:>11,.0f} instructions per request")
    # Fewer instructions per request is more requests per instruction.
    ratios = _ratios(1 / counts[BASELINE], 1 / counts[ASSEMBLED], 1 / counts[CHASSIS])
    print("  ratios (requests per instruction):")
    _line("(c) chassis / (a) bare", ratios.chassis_vs_bare)
    _line("(b) assembled / (a) bare", ratios.assembled_vs_bare)
    _line("(c) chassis / (b) assembled", ratios.chassis_vs_assembled)


# -- through uvicorn -----------------------------------------------------------------

_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0}
_RATE = re.compile(r"Requests/sec:\s+([\d.]+)")
_COUNT = re.compile(r"(\d+) requests in ")
_PERCENTILE = re.compile(r"^\s+(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
_ERRORS = re.compile(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time of a process so far (Linux ``/proc``), else ``None``."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    # utime and stime are fields 14 and 15 of stat(5); the split starts at field 3.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Server:
    """A uvicorn process serving one stack."""

    name: str
    port: int
    process: subprocess.Popen[bytes]


def _start_server(name: str, cpu: int | None, logs: Path, extra: list[str]) -> Server:
    port = _free_port()
    # (a) and (b) run without uvicorn's access line, which would be one line more
    # than (c) writes; the chassis silences uvicorn's access logger itself.
    access = [] if name == CHASSIS else ["--no-access-log"]
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        f"stacks:{STACKS[name].__name__}",
        "--factory",
        "--app-dir",
        str(HERE),
        "--port",
        str(port),
        *access,
        *extra,
    ]
    log = logs / f"{name}.log"
    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            command,
            stdout=output,
            stderr=subprocess.STDOUT,
            preexec_fn=(lambda: pin(cpu)) if cpu is not None else None,  # noqa: PLW1509
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return Server(name, port, process)
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"uvicorn serving {name} did not start:\n{log.read_text()[-2000:]}")


def _wrk(server: Server, *, duration: int, connections: int, cpu: int | None) -> Round:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is not installed")
    command = [
        wrk,
        "-t1",
        f"-c{connections}",
        f"-d{duration}s",  # wrk takes whole seconds
        "--latency",
        f"http://127.0.0.1:{server.port}{PATH}",
    ]
    cpu_before = _cpu_seconds(server.process.pid)
    completed = subprocess.run(  # noqa: S603 - wrk found on PATH, our own arguments
        command,
        capture_output=True,
        text=True,
        check=True,
        preexec_fn=(lambda: pin(cpu)) if cpu is not None else None,
    )
    cpu_after = _cpu_seconds(server.process.pid)
    output = completed.stdout
    rate, count = _RATE.search(output), _COUNT.search(output)
    percentiles = {int(p): float(v) * _UNITS[u] for p, v, u in _PERCENTILE.findall(output)}
    if rate is None or count is None or len(percentiles) != 2 or _ERRORS.search(output):
        raise RuntimeError(f"wrk reported errors or an unexpected format:\n{output}")
    cpu_rate = None
    if cpu_before is not None and cpu_after is not None and cpu_after > cpu_before:
        cpu_rate = int(count.group(1)) / (cpu_after - cpu_before)
    return Round(float(rate.group(1)), cpu_rate, percentiles[50], percentiles[99])


@dataclass
class LoadSettings:
    """How the uvicorn measurement loads the servers."""

    duration: int
    rounds: int
    warmup: int
    connections: int
    latency_connections: int
    server_cpu: int | None
    client_cpu: int | None
    uvicorn_args: list[str]


def through_uvicorn(load: LoadSettings) -> tuple[dict[str, Result], dict[str, Result]]:
    """Measure every stack served by uvicorn and loaded by wrk.

    Returns:
        The saturated rounds (``load.connections``) and the lightly loaded ones
        (``load.latency_connections``; empty when that is 0), by stack.
    """
    saturated = {name: Result() for name in STACKS}
    light = {name: Result() for name in STACKS} if load.latency_connections else {}
    with tempfile.TemporaryDirectory(prefix="chassis-bench-") as directory:
        servers: dict[str, Server] = {}
        try:
            for name in STACKS:
                servers[name] = _start_server(
                    name, load.server_cpu, Path(directory), load.uvicorn_args
                )
            for server in servers.values():
                _wrk(
                    server, duration=load.warmup, connections=load.connections, cpu=load.client_cpu
                )
            for name in _rotations(list(servers), load.rounds):
                saturated[name].rounds.append(
                    _wrk(
                        servers[name],
                        duration=load.duration,
                        connections=load.connections,
                        cpu=load.client_cpu,
                    )
                )
                if name in light:
                    light[name].rounds.append(
                        _wrk(
                            servers[name],
                            duration=max(load.duration // 2, 1),
                            connections=load.latency_connections,
                            cpu=load.client_cpu,
                        )
                    )
        finally:
            for server in servers.values():
                server.process.terminate()
                server.process.wait(timeout=30)
    return saturated, light


# -- report --------------------------------------------------------------------------


@dataclass
class Ratios:
    """The ratios between the stacks, from one kind of throughput."""

    chassis_vs_bare: float
    assembled_vs_bare: float
    chassis_vs_assembled: float


def _ratios(bare: float, assembled: float, chassis: float) -> Ratios:
    return Ratios(chassis / bare, assembled / bare, chassis / assembled)


def _line(label: str, value: float, target: str = "", verdict: str = "") -> None:
    print(f"  {label:<30} {value:>6.2f}x  {target:>8}  {verdict}")


def report(title: str, results: dict[str, Result], *, checked: bool) -> list[str]:
    """Print one measurement's table and ratios; return the targets missed."""
    print(f"\n{title}")
    header = f"  {'stack':<10} {'requests/s':>11} {'per CPU-s':>11} {'p50':>10} {'p99':>10}"
    print(header)
    print("  " + "-" * (len(header) - 2))
    for name, result in results.items():
        cpu = result.cpu_rate()
        print(
            f"  {name:<10} {result.wall_rate():>11,.0f} "
            f"{f'{cpu:,.0f}' if cpu else 'n/a':>11} "
            f"{result.p50() * 1e6:>8.0f}us {result.p99() * 1e6:>8.0f}us"
        )
    bare, assembled, chassis = results[BASELINE], results[ASSEMBLED], results[CHASSIS]
    wall = _ratios(bare.wall_rate(), assembled.wall_rate(), chassis.wall_rate())
    p99_chassis, p99_assembled = chassis.p99() / bare.p99(), assembled.p99() / bare.p99()
    failures: list[str] = []

    def check(label: str, value: float, target: float, *, at_most: bool = False) -> None:
        if not checked:
            _line(label, value)
            return
        met = value <= target if at_most else value >= target
        _line(label, value, f"{'<=' if at_most else '>='}{target:.2f}x", "ok" if met else "FAIL")
        if not met:
            failures.append(f"{title}: {label} is {value:.2f}x, target {target:.2f}x")

    print("  ratios (wall-clock requests per second, then p99 latency):")
    check("(c) chassis / (a) bare", wall.chassis_vs_bare, MIN_THROUGHPUT_VS_BARE)
    _line("(b) assembled / (a) bare", wall.assembled_vs_bare)
    check("(c) chassis / (b) assembled", wall.chassis_vs_assembled, MIN_THROUGHPUT_VS_ASSEMBLED)
    check("p99 (c) chassis / (a) bare", p99_chassis, MAX_P99_VS_BARE, at_most=True)
    _line("p99 (b) assembled / (a) bare", p99_assembled)
    bare_cpu, assembled_cpu, chassis_cpu = bare.cpu_rate(), assembled.cpu_rate(), chassis.cpu_rate()
    if bare_cpu and assembled_cpu and chassis_cpu:
        by_cpu = _ratios(bare_cpu, assembled_cpu, chassis_cpu)
        print("  ratios (requests per CPU-second):")
        _line("(c) chassis / (a) bare", by_cpu.chassis_vs_bare)
        _line("(b) assembled / (a) bare", by_cpu.assembled_vs_bare)
        _line("(c) chassis / (b) assembled", by_cpu.chassis_vs_assembled)
        if abs(by_cpu.chassis_vs_bare - wall.chassis_vs_bare) > TRUSTED_DISAGREEMENT:
            print(
                "  note: wall-clock and CPU ratios disagree; other work competed for the "
                "CPUs, so the wall-clock figures are not reliable: rerun on a quiet machine"
            )
    return failures


def report_latency(title: str, results: dict[str, Result]) -> None:
    """Print the latency of lightly loaded servers: service time, without queueing."""
    print(f"\n{title}")
    for name, result in results.items():
        print(f"  {name:<10} p50 {result.p50() * 1e6:>8.0f}us   p99 {result.p99() * 1e6:>8.0f}us")
    bare, assembled, chassis = results[BASELINE], results[ASSEMBLED], results[CHASSIS]
    print("  ratios (p50, then p99 latency):")
    _line("(c) chassis / (a) bare", chassis.p50() / bare.p50())
    _line("(b) assembled / (a) bare", assembled.p50() / bare.p50())
    _line("p99 (c) chassis / (a) bare", chassis.p99() / bare.p99())
    _line("p99 (b) assembled / (a) bare", assembled.p99() / bare.p99())


def describe_chassis() -> None:
    """Print the plugins and middleware of the chassis stack, so readers know what ran."""
    app = STACKS[CHASSIS]()
    assert isinstance(app, ChassisApp)
    builtin = [
        info.name for info in app.state.chassis.plugins.plugins() if info.source == "builtin"
    ]
    ordered = sorted(app.chassis_middleware, key=lambda spec: spec.order)
    layers = ["RequestLifecycleMiddleware", *(spec.cls.__name__ for spec in ordered)]
    print(f"chassis built-in plugins: {', '.join(builtin)}")
    print(f"chassis middleware, outermost first: {', '.join(layers)}")


def _uvicorn_flavour(arguments: list[str]) -> str:
    """Which HTTP parser and event loop uvicorn uses with these arguments."""
    chosen = {"http": "auto", "loop": "auto"}
    for argument in arguments:
        name, _, value = argument.removeprefix("--").partition("=")
        if name in chosen and value:
            chosen[name] = value
    # What uvicorn's "auto" picks: the fast implementations when installed.
    if chosen["http"] == "auto":
        chosen["http"] = "httptools" if find_spec("httptools") else "h11"
    if chosen["loop"] == "auto":
        chosen["loop"] = "uvloop" if find_spec("uvloop") else "asyncio"
    return f"http={chosen['http']}, loop={chosen['loop']}"


def _load() -> str:
    with contextlib.suppress(OSError):
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return "n/a"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--mode", choices=["all", "in-process", "uvicorn", "instructions"], default="all"
    )
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per stack")
    parser.add_argument(
        "--requests", type=int, default=20_000, help="requests per round, in process"
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk round")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of wrk warm-up")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument(
        "--latency-connections",
        type=int,
        default=1,
        help="wrk connections of the light-load latency rounds (0: skip them)",
    )
    parser.add_argument("--server-cpu", type=int, default=0, help="CPU for servers (-1: any)")
    parser.add_argument("--client-cpu", type=int, default=1, help="CPU for wrk (-1: any)")
    parser.add_argument(
        "--uvicorn-arg",
        action="append",
        default=[],
        help="extra uvicorn option, repeatable (--uvicorn-arg=--http=h11)",
    )
    parser.add_argument(
        "--count-requests",
        type=int,
        nargs=2,
        default=[200, 1_200],
        metavar=("FEW", "MANY"),
        help="requests of the two valgrind runs per stack (instructions mode)",
    )
    # What each valgrind run executes.
    parser.add_argument("--serve-in-process", nargs=2, help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.serve_in_process:
        name, requests = options.serve_in_process
        serve_in_process(name, int(requests))
        return 0
    few, many = options.count_requests
    if not 0 <= few < many:
        parser.error("--count-requests takes FEW and MANY with 0 <= FEW < MANY")
    server_cpu = None if options.server_cpu < 0 else options.server_cpu
    client_cpu = None if options.client_cpu < 0 else options.client_cpu
    if not hasattr(os, "sched_setaffinity") or (os.cpu_count() or 1) < 2:
        server_cpu = client_cpu = None
        print("not pinning processes to CPUs: this platform cannot, or has a single CPU")

    describe_chassis()
    print(f"load average before: {_load()}")
    failures: list[str] = []
    if options.mode in {"all", "in-process"}:
        pin(server_cpu)
        results = in_process(requests=options.requests, rounds=options.rounds)
        unpin()
        report(
            f"in process: median of {options.rounds} rounds of {options.requests:,} requests",
            results,
            checked=False,
        )
    if options.mode in {"all", "uvicorn"}:
        if shutil.which("wrk") is None:
            print(
                "\nwrk is not installed, so the uvicorn measurement and its targets are "
                "skipped (Debian/Ubuntu: apt-get install wrk; macOS: brew install wrk)."
            )
        else:
            saturated, light = through_uvicorn(
                LoadSettings(
                    duration=options.duration,
                    rounds=options.rounds,
                    warmup=options.warmup,
                    connections=options.connections,
                    latency_connections=options.latency_connections,
                    server_cpu=server_cpu,
                    client_cpu=client_cpu,
                    uvicorn_args=options.uvicorn_arg,
                )
            )
            failures += report(
                f"uvicorn ({_uvicorn_flavour(options.uvicorn_arg)}) + wrk: median of "
                f"{options.rounds} rounds of {options.duration} s, "
                f"{options.connections} connections",
                saturated,
                checked=True,
            )
            if light:
                report_latency(
                    f"uvicorn + wrk, light load: median of {options.rounds} rounds of "
                    f"{max(options.duration // 2, 1)} s, {options.latency_connections} "
                    "connection(s)",
                    light,
                )
    if options.mode in {"all", "instructions"}:
        if shutil.which("valgrind") is None:
            print(
                "\nvalgrind is not installed, so instructions are not counted "
                "(Debian/Ubuntu: apt-get install valgrind)."
            )
        else:
            report_instructions(
                f"instructions, counted by valgrind in process: {many:,} minus {few:,} requests",
                instructions_per_request(few=few, many=many),
            )
    print(
        f"\nload average after: {_load()}; Python {sys.version.split()[0]}, {os.cpu_count()} CPUs"
    )
    if failures:
        print("\ntargets missed:\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
