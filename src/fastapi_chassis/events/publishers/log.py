"""``LogPublisher``: writes each event to the log instead of a broker."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from fastapi_chassis.events.publishers.base import OutboxMessage

__all__ = ["LogPublisher"]


class LogPublisher:
    """A publisher that logs every event (development, or an audit trail next to a broker).

    Each event is one record on the logger, with the envelope's fields passed as
    ``extra`` (``event_id``, ``event_type``, ``aggregate_type``, ``aggregate_id``)
    and the envelope itself as ``cloudevent``.

    Args:
        logger: Where to log; ``fastapi_chassis.events.published`` by default.
        level: The level of each record.
        name: Names it in logs and metrics.
    """

    def __init__(
        self,
        logger: logging.Logger | None = None,
        *,
        level: int = logging.INFO,
        name: str = "log",
    ) -> None:
        self.name = name
        self._logger = logger or logging.getLogger("fastapi_chassis.events.published")
        self._level = level

    async def start(self) -> None:
        """Nothing to connect to."""

    async def stop(self) -> None:
        """Nothing to disconnect from."""

    async def publish(self, messages: Sequence[OutboxMessage]) -> Sequence[BaseException | None]:
        """Log each message; logging never fails a message."""
        for message in messages:
            self._logger.log(
                self._level,
                "event %s %s for %s %s",
                message.event_type,
                message.id,
                message.aggregate_type,
                message.aggregate_id,
                extra={
                    "event_id": str(message.id),
                    "event_type": message.event_type,
                    "aggregate_type": message.aggregate_type,
                    "aggregate_id": str(message.aggregate_id),
                    "cloudevent": message.payload.decode(),
                },
            )
        return [None] * len(messages)
