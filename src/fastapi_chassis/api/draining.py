"""Hearing SIGTERM before the server acts on it.

Kubernetes, Docker and systemd stop a process with SIGTERM. uvicorn reacts
within a tenth of a second: it closes its listening sockets and idle keep-alive
connections, waits for the requests in flight, and only then runs the
application's lifespan shutdown. An application that learns it is stopping from
the lifespan learns it after the server has stopped listening, too late to tell
anyone through its readiness endpoint.

:func:`watch_termination` hears the signal itself. It installs a Python handler
for SIGTERM that replaces, and chains to, the handler found there (uvicorn's
``Server.handle_exit``, gunicorn's worker handler, or the default action), so the
server's own graceful shutdown is unchanged: the watchers are told first, then
the signal is passed on, at once or after the longest delay a watcher asked for.
The delay keeps the server accepting connections, with readiness failing, while
load balancers notice; a ``preStop`` sleep in Kubernetes does the same from
outside. One handler serves every watcher in the process; when the last one
stops watching, the handler it replaced is put back.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import TypeAlias

__all__ = ["TerminationWatch", "watch_termination"]

logger = logging.getLogger("fastapi_chassis.draining")

_Handler: TypeAlias = Callable[[int, FrameType | None], object] | int | None


class TerminationWatch:
    """One subscription to SIGTERM, made by :func:`watch_termination`.

    Attributes:
        delay: Seconds the signal is held back from the previous handler.
    """

    __slots__ = ("_loop", "_on_signal", "_relay", "delay")

    def __init__(
        self,
        relay: _SigtermRelay,
        on_signal: Callable[[], None],
        delay: float,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self._relay = relay
        self._on_signal = on_signal
        self._loop = loop
        self.delay = delay

    def stop(self) -> None:
        """Stop watching; the last watch to stop puts the previous handler back.

        A signal still held back is passed on at once, so it is never lost.
        """
        self._relay.unsubscribe(self)


class _SigtermRelay:
    """The process's one SIGTERM handler: tells the watches, then passes the signal on."""

    def __init__(self) -> None:
        self._watches: list[TerminationWatch] = []
        self._previous: _Handler = signal.SIG_DFL
        # A bound method is a new object on every attribute access; keep the one
        # installed so that getsignal() can recognise it.
        self._handler = self._handle
        self._received = False
        self._held = False
        self._timer: asyncio.TimerHandle | None = None
        self._handling = False

    def subscribe(self, watch: TerminationWatch) -> bool:
        current = signal.getsignal(signal.SIGTERM)
        if current != self._handler:
            if current is None:
                # Installed from C: there is nothing callable to chain to.
                return False
            # Ours was replaced (or never installed): chain to whatever is there now.
            self._previous = current
            signal.signal(signal.SIGTERM, self._handler)
        # Watches whose loop has closed belong to applications that never shut
        # down cleanly (a failed start-up); they can neither hold nor log anything.
        self._watches = [kept for kept in self._watches if not kept._loop.is_closed()]  # noqa: SLF001
        if not self._watches:
            self._received = self._held = False
        self._watches.append(watch)
        return True

    def unsubscribe(self, watch: TerminationWatch) -> None:
        if watch not in self._watches:
            return
        self._watches = [kept for kept in self._watches if kept is not watch]
        if self._watches:
            return
        held = self._held
        self._held = False
        self._received = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        # Whoever replaced our handler since then now owns the signal; leave theirs.
        if (
            threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGTERM) == self._handler
        ):
            signal.signal(signal.SIGTERM, self._previous)
        if held:
            self._forward(signal.SIGTERM, None)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        # A third-party handler that chains back to this one must not loop forever.
        if self._handling:
            return
        self._handling = True
        try:
            watches = [watch for watch in self._watches if not watch._loop.is_closed()]  # noqa: SLF001
            if not watches or self._received:
                # Nobody listens, or the signal came again: the sender insists.
                self._forward(signum, frame)
                return
            self._received = True
            for watch in watches:
                try:
                    watch._on_signal()  # noqa: SLF001 - the relay owns its watches
                except Exception as error:  # noqa: BLE001 - one watcher must not stop the rest
                    # Logging takes locks, which a signal handler must not; log from the loop.
                    watch._loop.call_soon_threadsafe(_log_failure, error)  # noqa: SLF001
            longest = max(watches, key=lambda watch: watch.delay)
            if longest.delay <= 0:
                self._forward(signum, frame)
                return
            self._held = True
            loop = longest._loop  # noqa: SLF001
            loop.call_soon_threadsafe(self._hold, loop, signum, longest.delay)
        finally:
            self._handling = False

    def _hold(self, loop: asyncio.AbstractEventLoop, signum: int, delay: float) -> None:
        if not self._held:
            return  # passed on meanwhile (a second signal, or the last watch stopped)
        logger.info(
            "SIGTERM received: readiness now fails; the server is told to stop in %.1f s", delay
        )
        self._timer = loop.call_later(delay, self._release, signum)

    def _release(self, signum: int) -> None:
        self._timer = None
        if self._held:
            self._forward(signum, None)

    def _forward(self, signum: int, frame: FrameType | None) -> None:
        self._held = False
        previous = self._previous
        if callable(previous):
            previous(signum, frame)
        elif previous == signal.SIG_DFL:
            # Nothing handled the signal before: let it do what it does by default.
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)


def _log_failure(error: Exception) -> None:
    logger.error("a SIGTERM watcher failed", exc_info=error)


_relay = _SigtermRelay()


def watch_termination(
    on_signal: Callable[[], None], *, delay: float = 0.0
) -> TerminationWatch | None:
    """Call ``on_signal`` as soon as SIGTERM arrives, then pass the signal on.

    ``on_signal`` runs inside the signal handler: keep it to setting a flag. The
    signal then reaches the handler that was installed before (the server's), at
    once or, with a ``delay``, that many seconds later; the longest delay among
    the watches wins. A second SIGTERM is passed on at once.

    Call it in the main thread with an event loop running, as a lifespan startup
    does, and call :meth:`TerminationWatch.stop` at shutdown.

    Args:
        on_signal: Called once, when the first SIGTERM arrives.
        delay: Seconds to hold the signal back from the previous handler.

    Returns:
        The watch, or ``None`` where no handler can be installed: outside the main
        thread, or when the current handler was installed from C and cannot be
        chained.

    Raises:
        ValueError: If ``delay`` is negative.
        RuntimeError: If no event loop is running.

    Example:
        >>> watch = watch_termination(lambda: setattr(state, "draining", True), delay=5)
        >>> ...  # at shutdown
        >>> watch.stop()
    """
    if delay < 0:
        raise ValueError("delay cannot be negative")
    loop = asyncio.get_running_loop()
    if threading.current_thread() is not threading.main_thread():
        logger.debug("not in the main thread: SIGTERM is not watched")
        return None
    watch = TerminationWatch(_relay, on_signal, delay, loop)
    if not _relay.subscribe(watch):
        logger.warning("the SIGTERM handler was installed from C and cannot be chained")
        return None
    return watch
