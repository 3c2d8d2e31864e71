"""An application made by ``create_app``, with a middleware and a request hook of its own.

The requests at the end are sent in process, through ``httpx.ASGITransport``, so
no server is needed. Run it against a scratch database (it creates a ``notes``
table); the answers go to standard output, the access lines to standard error:

    CHASSIS_DATABASE_URL=postgresql://postgres@localhost:5432/scratch python application.py
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from time import perf_counter
from typing import Annotated
from uuid import UUID

import httpx
from fastapi import APIRouter, Depends, FastAPI, Response
from pydantic import BaseModel
from sqlalchemy.orm import Mapped
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fastapi_chassis import ChassisSettings, create_app, hookimpl
from fastapi_chassis.api import (
    RequestFacts,
    SessionDep,
    correlation_id,
    etag_for,
    require_if_match,
)
from fastapi_chassis.app import ChassisState
from fastapi_chassis.db import AsyncRepository, Base, UUIDv7PrimaryKeyMixin, VersionMixin
from fastapi_chassis.plugins import MiddlewareOrder, MiddlewareSpec


class Note(UUIDv7PrimaryKeyMixin, VersionMixin, Base):
    __tablename__ = "notes"

    text: Mapped[str]


class NoteIn(BaseModel):
    text: str


class NoteOut(BaseModel):
    id: UUID
    text: str
    correlation_id: str | None


router = APIRouter(prefix="/notes")


# --8<-- [start:endpoints]
@router.post("", status_code=201)
async def create_note(body: NoteIn, session: SessionDep, response: Response) -> NoteOut:
    # Committed before the response is sent; a failed commit is a problem response.
    note = await AsyncRepository(session, Note).create(Note(text=body.text))
    response.headers["ETag"] = etag_for(note.version)
    return NoteOut(id=note.id, text=note.text, correlation_id=correlation_id())


@router.get("/{note_id}")
async def read_note(
    note_id: UUID,
    session: SessionDep,
    response: Response,
    request_id: Annotated[str | None, Depends(correlation_id)],
) -> NoteOut:
    note = await AsyncRepository(session, Note).get(note_id)  # NotFound: 404
    response.headers["ETag"] = etag_for(note.version)  # "1.1": row 1, API version 1
    return NoteOut(id=note.id, text=note.text, correlation_id=request_id)


@router.put("/{note_id}")
async def replace_note(
    note_id: UUID,
    body: NoteIn,
    session: SessionDep,
    response: Response,
    version: Annotated[int, Depends(require_if_match)],  # none: 428; unusable: 412
) -> NoteOut:
    # A stale version raises ConcurrencyConflict: 412, since If-Match was sent.
    note = await AsyncRepository(session, Note).update(
        note_id, {"text": body.text}, expected_version=version
    )
    response.headers["ETag"] = etag_for(note.version)
    return NoteOut(id=note.id, text=note.text, correlation_id=correlation_id())


# --8<-- [end:endpoints]


# --8<-- [start:middleware]
class ServerTimingMiddleware:
    """Add a ``Server-Timing`` header: the time until the response started.

    Pure ASGI: it looks at the ``http.response.start`` message as it passes and
    forwards every other message untouched, so streamed bodies stay streamed.

    Args:
        app: The ASGI application to wrap.
        metric: The metric name in the header.
    """

    def __init__(self, app: ASGIApp, *, metric: str = "app") -> None:
        self.app = app
        self.metric = metric

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # websocket and lifespan pass through
            await self.app(scope, receive, send)
            return
        started = perf_counter()

        async def send_with_timing(message: Message) -> None:
            if message["type"] == "http.response.start":
                duration_ms = (perf_counter() - started) * 1000
                value = f"{self.metric};dur={duration_ms:.1f}".encode("latin-1")
                message["headers"] = [*message.get("headers", ()), (b"server-timing", value)]
            await send(message)

        await self.app(scope, receive, send_with_timing)


# --8<-- [end:middleware]


# --8<-- [start:plugin]
class NotesPlugin:
    """Everything this service adds to the chassis, through its hooks."""

    name = "notes"

    def __init__(self) -> None:
        self.finished: list[str] = []

    @hookimpl
    def chassis_routers(self, version: str) -> Sequence[APIRouter] | None:
        return [router] if version == "1" else None

    @hookimpl
    def chassis_middleware(self) -> list[MiddlewareSpec]:
        # Right inside the correlation layer, so refusals by the layers further
        # in (413, 400 for an unknown version) are timed too.
        return [
            MiddlewareSpec(
                ServerTimingMiddleware,
                {"metric": "notes"},
                order=MiddlewareOrder.CORRELATION + 1,
            )
        ]

    @hookimpl
    def chassis_request_finished(self, facts: RequestFacts) -> None:
        # After the response went out: keep it fast, never raise.
        self.finished.append(f"{facts.method} {facts.route} {facts.status}")

    @hookimpl
    async def chassis_startup(self, app: FastAPI) -> None:
        # A shortcut for the example; a real service creates its schema with migrations.
        state: ChassisState = app.state.chassis
        if state.engine is not None:
            async with state.engine.begin() as connection:
                await connection.run_sync(Base.metadata.create_all)


# --8<-- [end:plugin]


async def main() -> None:
    plugin = NotesPlugin()
    app = create_app(ChassisSettings(max_request_body_bytes=4096), plugins=[plugin])
    # The lifespan opens the engine and runs the startup hooks; a server such as
    # uvicorn runs it itself, httpx.ASGITransport does not.
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://notes.test") as client:
            created = await client.post(
                "/notes", json={"text": "first"}, headers={"X-Correlation-ID": "demo-1"}
            )
            print(created.status_code, created.headers["x-correlation-id"])  # 201 demo-1
            print(created.json()["correlation_id"])  # demo-1
            print(created.headers["server-timing"])  # notes;dur=...
            url = f"/notes/{created.json()['id']}"

            read = await client.get(url)
            etag = read.headers["etag"]
            print(etag, read.headers["x-correlation-id"])  # "1.1" and a fresh UUIDv7

            blind = await client.put(url, json={"text": "blind"})
            print(blind.status_code, blind.json()["type"])  # 428 .../precondition-required
            written = await client.put(url, json={"text": "second"}, headers={"If-Match": etag})
            print(written.status_code, written.headers["etag"])  # 200 "2.1"
            stale = await client.put(url, json={"text": "third"}, headers={"If-Match": etag})
            print(stale.status_code, stale.json()["current_version"])  # 412 2

            too_big = await client.post("/notes", json={"text": "x" * 5000})
            print(too_big.status_code, too_big.json()["max_body_bytes"])  # 413 4096
            missing = await client.get("/notes/01890a5d-ac96-774b-bcce-b302099a8057")
            same_id = missing.json()["correlation_id"] == missing.headers["x-correlation-id"]
            print(missing.status_code, same_id)  # 404 True

    for line in plugin.finished:
        print(line)  # POST /notes 201, GET /notes/{note_id} 200, ..., POST <unmatched> 413


if __name__ == "__main__":
    asyncio.run(main())
