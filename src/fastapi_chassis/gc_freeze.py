"""Keep what start-up built out of the garbage collector's way while requests run.

A service imports its frameworks, builds its models, routes and connection pool
at start-up: hundreds of thousands of objects that live as long as the process.
CPython's cyclic garbage collector scans all of them in every full collection,
and under load a full collection comes every few seconds (objects of requests in
flight survive the younger collections and count towards the next full one). On
a loaded server that pause lands on every request in flight at once, and is what
sets the 99th percentile latency.

:func:`freeze_startup_objects` moves every object into the permanent
generation (:func:`gc.freeze`, which costs nothing: it moves list heads), so full
collections scan only what requests created. Reference counting still frees
frozen objects that lose their last reference; only cycles among them, such as
garbage start-up left behind, wait for :func:`thaw`. Frozen before a ``fork()``,
the objects are also left alone by the workers' collections, so their pages stay
shared.

Process-wide, as the collector is: with several applications running in one
process (a test suite), the first start freezes and the last stop thaws. While
objects are frozen, :func:`gc.get_objects` and :func:`gc.get_referrers` do not
see them, nor do the leak-hunting tools built on those.
"""

from __future__ import annotations

import gc
import threading

__all__ = ["freeze_startup_objects", "thaw"]

_lock = threading.Lock()
_holders = 0


def freeze_startup_objects() -> None:
    """Freeze every object the process holds now; pair with :func:`thaw`.

    Nested calls only count: the objects are frozen by the first.
    """
    global _holders  # noqa: PLW0603 - the collector is process-wide
    with _lock:
        _holders += 1
        if _holders == 1:
            gc.freeze()


def thaw() -> None:
    """Undo one :func:`freeze_startup_objects`; the last returns the objects to the collector."""
    global _holders  # noqa: PLW0603
    with _lock:
        if _holders == 0:
            return
        _holders -= 1
        if _holders == 0:
            gc.unfreeze()
