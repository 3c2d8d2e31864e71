"""The ``chassis`` command line.

``chassis`` works on one application: the one ``--app module:attribute`` names (an
application made by :func:`~fastapi_chassis.create_app`, or a function returning
one), or else the one ``create_app()`` builds from the environment, with the
built-in and installed entry-point plugins. Its plugins can add commands through
the ``chassis_cli`` hook, so the application is loaded before the command line
is parsed.

Each group of the chassis's own commands is a module with a ``register(cli)``
function, listed in :data:`BUILTIN_COMMANDS`; a command reads the application
with :func:`current_app`.
"""

from fastapi_chassis.cli.application import (
    ApplicationLoadError,
    current_app,
    load_application,
)
from fastapi_chassis.cli.root import BUILTIN_COMMANDS, build_cli, main

__all__ = [
    "BUILTIN_COMMANDS",
    "ApplicationLoadError",
    "build_cli",
    "current_app",
    "load_application",
    "main",
]
