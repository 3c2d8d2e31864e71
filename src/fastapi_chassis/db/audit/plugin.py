"""The built-in ``chassis.audit`` plugin: the ``chassis audit`` commands."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi_chassis.plugins.markers import hookimpl

if TYPE_CHECKING:
    import typer

__all__ = ["AuditPlugin"]


class AuditPlugin:
    """Built-in plugin ``chassis.audit``: adds ``chassis audit partitions|prune|status``.

    The audit itself needs no plugin (triggers and the session listener do the
    work); disabling this one only removes the commands.
    """

    name = "chassis.audit"

    @hookimpl
    def chassis_cli(self, cli: typer.Typer) -> None:
        """Add the ``audit`` command group to the ``chassis`` command line."""
        # Imported here: a web process never builds the command line.
        from fastapi_chassis.db.audit.cli import audit_cli  # noqa: PLC0415

        cli.add_typer(audit_cli, name="audit")
