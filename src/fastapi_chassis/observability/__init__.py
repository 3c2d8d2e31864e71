"""Observability: structured logging, the access line, and metrics."""

from fastapi_chassis.observability.logging import add_request_context, configure_logging

__all__ = ["add_request_context", "configure_logging"]
