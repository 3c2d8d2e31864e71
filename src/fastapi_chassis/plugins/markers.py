"""The pluggy markers of the ``fastapi_chassis`` plugin project."""

from __future__ import annotations

import pluggy

__all__ = ["PROJECT", "hookimpl", "hookspec"]

PROJECT = "fastapi_chassis"
"""The pluggy project name, which is also the entry-point group plugins register in."""

hookspec = pluggy.HookspecMarker(PROJECT)
"""Marks a hook specification (used by :mod:`fastapi_chassis.plugins.hookspecs`)."""

hookimpl = pluggy.HookimplMarker(PROJECT)
"""Marks a plugin's implementation of a hook; ``from fastapi_chassis import hookimpl``."""
