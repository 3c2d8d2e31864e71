"""HTTP endpoints of a stand-alone outbox relay: Prometheus metrics and health probes.

A relay that runs on its own (``chassis events relay --http-port 9100``) has no
application to serve ``/metrics`` or answer the kubelet's probes.
:class:`RelayEndpoints` serves them next to the relay, in its event loop:

| Request | Answer |
| --- | --- |
| ``GET /metrics`` | the process's Prometheus exposition (OpenMetrics when the scraper asks) |
| ``GET /health/live`` | 200 while the process answers |
| ``GET /health/ready`` | 200 while the relay runs, 503 once it was asked to stop |

The server is deliberately small: HTTP/1.1 over asyncio streams, one request per
connection, ``GET`` and ``HEAD`` only, a request head of at most 8 KiB sent within
ten seconds, 32 connections at a time (more are answered 503). Anything else
gets a 4xx answer and the connection is closed. It is meant for Prometheus and
the kubelet inside the cluster, not for the public.
"""

from __future__ import annotations

import asyncio
import json
from contextlib import suppress
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING, Self

from fastapi_chassis.api.health import HEALTH_MEDIA_TYPE
from fastapi_chassis.observability.metrics import render_process_metrics

if TYPE_CHECKING:
    from types import TracebackType

    from fastapi_chassis.events.relay import OutboxRelay

__all__ = ["RelayEndpoints"]

_MAX_HEAD = 8 * 1024
_HEAD_TIMEOUT = 10.0
_BUSY_TIMEOUT = 1.0
_MAX_CONNECTIONS = 32
"""Connections served at once; more are answered 503, so idle ones cannot pile up."""
_METHODS = frozenset({b"GET", b"HEAD"})


@dataclass(frozen=True, slots=True)
class _Answer:
    status: HTTPStatus
    body: bytes
    content_type: str
    headers: tuple[tuple[str, str], ...] = field(default=())


def _health(status: HTTPStatus, verdict: str, description: str) -> _Answer:
    body = json.dumps({"status": verdict, "description": description}).encode()
    return _Answer(status, body, HEALTH_MEDIA_TYPE)


def _error(status: HTTPStatus, *headers: tuple[str, str]) -> _Answer:
    return _Answer(status, f"{status.phrase}\n".encode(), "text/plain; charset=utf-8", headers)


class RelayEndpoints:
    """Serve a relay's metrics and health over HTTP while it runs.

    Args:
        relay: The relay whose state ``/health/ready`` reports.
        host: The address to listen on.
        port: The port to listen on; ``0`` picks a free one (see :attr:`port`).

    Example:
        >>> async with relay, RelayEndpoints(relay, port=9100):
        ...     await relay.run()
    """

    def __init__(self, relay: OutboxRelay, *, host: str = "127.0.0.1", port: int = 9100) -> None:
        self.relay = relay
        self.host = host
        self._requested_port = port
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        """The port the endpoints listen on (the one chosen, when ``0`` was asked for)."""
        if self._server is None or not self._server.sockets:
            return self._requested_port
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def start(self) -> None:
        """Start listening; returns once the port is open."""
        if self._server is None:
            self._server = await asyncio.start_server(
                self._serve, self.host, self._requested_port, limit=_MAX_HEAD
            )

    async def stop(self) -> None:
        """Stop listening and end the connections still open."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()
        # Before Python 3.12 the server does not wait for its connections' handlers.
        connections = list(self._connections)
        for connection in connections:
            connection.cancel()
        await asyncio.gather(*connections, return_exceptions=True)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        busy = len(self._connections) >= _MAX_CONNECTIONS
        if task is not None:
            self._connections.add(task)
            task.add_done_callback(self._connections.discard)
        try:
            if busy:
                # The request is read first (briefly): closing a socket with unread
                # input resets it, and the client would never see the answer.
                with suppress(asyncio.LimitOverrunError, asyncio.IncompleteReadError, TimeoutError):
                    await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _BUSY_TIMEOUT)
                writer.write(_response(_error(HTTPStatus.SERVICE_UNAVAILABLE), send_body=True))
                await writer.drain()
                return
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _HEAD_TIMEOUT)
            except asyncio.LimitOverrunError:
                answer, method = _error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE), b"GET"
            except (asyncio.IncompleteReadError, TimeoutError):
                return  # the client went away, or never finished its request
            else:
                answer, method = await self._answer(head)
            writer.write(_response(answer, send_body=method != b"HEAD"))
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()
            with suppress(ConnectionError):
                await writer.wait_closed()

    async def _answer(self, head: bytes) -> tuple[_Answer, bytes]:
        request_line, _, header_block = head.partition(b"\r\n")
        parts = request_line.split(b" ")
        if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):  # noqa: PLR2004
            return _error(HTTPStatus.BAD_REQUEST), b"GET"
        method, target, _ = parts
        if method not in _METHODS:
            return _error(HTTPStatus.METHOD_NOT_ALLOWED, ("Allow", "GET, HEAD")), b"GET"
        path = target.partition(b"?")[0]
        if path == b"/health/live":
            return _health(HTTPStatus.OK, "pass", "the relay's process answers"), method
        if path == b"/health/ready":
            if self.relay.stopping:
                return _health(
                    HTTPStatus.SERVICE_UNAVAILABLE, "fail", f"relay {self.relay.name} is stopping"
                ), method
            return _health(HTTPStatus.OK, "pass", f"relay {self.relay.name} is running"), method
        if path == b"/metrics":
            accept = _header(header_block, b"accept")
            body, content_type = await render_process_metrics(accept)
            return _Answer(HTTPStatus.OK, body, content_type), method
        return _error(HTTPStatus.NOT_FOUND), method


def _header(block: bytes, name: bytes) -> str:
    """The value of header ``name`` (lower case) in a request's header block; ``""`` if absent."""
    for line in block.split(b"\r\n"):
        key, separator, value = line.partition(b":")
        if separator and key.strip().lower() == name:
            return value.strip().decode("latin-1")
    return ""


def _response(answer: _Answer, *, send_body: bool) -> bytes:
    lines = [
        f"HTTP/1.1 {answer.status.value} {answer.status.phrase}",
        f"Content-Type: {answer.content_type}",
        f"Content-Length: {len(answer.body)}",
        "Cache-Control: no-store",
        "Connection: close",
        *(f"{name}: {value}" for name, value in answer.headers),
    ]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head + answer.body if send_body else head
