"""``chassis plugins``: which plugins are loaded, from where, implementing which hooks."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from fastapi_chassis.app import chassis_state
from fastapi_chassis.cli.application import current_app

__all__ = ["list_plugins", "register"]


def register(cli: typer.Typer) -> None:
    """Add the ``plugins`` command to ``cli``."""
    cli.command("plugins")(list_plugins)


def list_plugins(
    ctx: typer.Context,
    *,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON array instead of a table.")
    ] = False,
) -> None:
    """List the loaded plugins in call order: name, source and the hooks each implements.

    The source is ``builtin``, ``entry point`` (installed packages, the
    ``fastapi_chassis`` entry-point group) or ``explicit`` (``create_app(plugins=...)``).
    """
    plugins = chassis_state(current_app(ctx)).plugins.plugins()
    if as_json:
        rows = [{"name": p.name, "source": p.source, "hooks": list(p.hooks)} for p in plugins]
        typer.echo(json.dumps(rows, indent=2))
        return
    table = [("PLUGIN", "SOURCE", "HOOKS")]
    table += [(p.name, p.source, ", ".join(p.hooks) or "-") for p in plugins]
    widths = [max(len(row[column]) for row in table) for column in range(2)]
    for name, source, hooks in table:
        typer.echo(f"{name:<{widths[0]}}  {source:<{widths[1]}}  {hooks}")
