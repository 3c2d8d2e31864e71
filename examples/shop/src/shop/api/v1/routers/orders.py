"""Orders and their lifecycle: place, pay, ship, cancel."""

import datetime
import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Response, status
from fastapi_chassis.api import SessionDep, etag_for, optional_if_match
from fastapi_chassis.db import AsyncRepository
from fastapi_chassis.db.audit import audit_history_router
from sqlalchemy import select

from shop.api.documentation import problem_responses
from shop.api.v1.schemas.common import Page
from shop.api.v1.schemas.orders import (
    CancelRequest,
    OrderCreate,
    OrderOut,
    OrderSort,
    ReservationOut,
)
from shop.dependencies import PageDep, current_actor
from shop.models import Order, OrderStatus, StockReservation
from shop.services import ordering

router = APIRouter(prefix="/orders", tags=["orders"], dependencies=[Depends(current_actor)])

history = audit_history_router(Order, prefix="/orders", tags=["orders"])
"""``GET /orders/{id}/history``: every status change of an order, newest first."""

IfMatchDep = Annotated[int | None, Depends(optional_if_match)]
"""Transitions take ``If-Match`` when the client wants "only if nothing changed"."""


def _answer(order: Order, response: Response) -> OrderOut:
    response.headers["ETag"] = etag_for(order.version)
    return OrderOut.of(order)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(400, 409, 422),
    summary="Place an order",
)
async def place_order(body: OrderCreate, session: SessionDep, response: Response) -> OrderOut:
    """Place an order and reserve its stock.

    Every line's product must have the units available; otherwise nothing is
    reserved and the answer is a 409 ``insufficient-stock`` problem naming the
    product and how many units are left.
    """
    order = await ordering.place_order(session, body.customer_id, body.quantities())
    response.headers["Location"] = f"/orders/{order.id}"
    return _answer(order, response)


@router.get("", responses=problem_responses(400), summary="List orders")
async def list_orders(
    *,
    session: SessionDep,
    page: PageDep,
    status: OrderStatus | None = None,
    customer_id: uuid.UUID | None = None,
    placed_from: Annotated[
        datetime.datetime | None, Query(description="Placed at or after this time.")
    ] = None,
    placed_until: Annotated[
        datetime.datetime | None, Query(description="Placed before this time.")
    ] = None,
    sort: OrderSort = "-placed_at",
) -> Page[OrderOut]:
    """List orders, newest first by default, filtered by status, customer or time."""
    filters = {
        "status": status.value if status else None,
        "customer_id": customer_id,
        "placed_at__ge": placed_from,
        "placed_at__lt": placed_until,
    }
    result = await AsyncRepository(session, Order).list(
        limit=page.limit,
        after=page.after,
        order_by=sort,
        # Every option is passed by name, so the filters unpacked below type-check.
        include_deleted=False,
        only_deleted=False,
        filters={name: value for name, value in filters.items() if value is not None},
    )
    return Page(items=[OrderOut.of(item) for item in result.items], next_cursor=result.next_cursor)


@router.get("/{order_id}", responses=problem_responses(404), summary="Read an order")
async def read_order(order_id: uuid.UUID, session: SessionDep, response: Response) -> OrderOut:
    """Return an order with its lines."""
    return _answer(await AsyncRepository(session, Order).get(order_id), response)


@router.get(
    "/{order_id}/reservations",
    responses=problem_responses(404),
    summary="List an order's stock reservations",
)
async def list_reservations(order_id: uuid.UUID, session: SessionDep) -> list[ReservationOut]:
    """Return the units held (or once held) for the order, one entry per product."""
    await AsyncRepository(session, Order).get(order_id)
    reservations = await session.scalars(
        select(StockReservation)
        .where(StockReservation.order_id == order_id)
        .order_by(StockReservation.product_id)
    )
    return [ReservationOut.of(reservation) for reservation in reservations]


@router.post(
    "/{order_id}/pay",
    responses=problem_responses(404, 409, 412),
    summary="Mark an order paid",
)
async def pay_order(
    order_id: uuid.UUID, session: SessionDep, response: Response, version: IfMatchDep
) -> OrderOut:
    """Mark a placed order paid; any other status is a 409 ``invalid-transition``."""
    return _answer(await ordering.pay_order(session, order_id, version), response)


@router.post(
    "/{order_id}/ship",
    responses=problem_responses(404, 409, 412),
    summary="Ship an order",
)
async def ship_order(
    order_id: uuid.UUID, session: SessionDep, response: Response, version: IfMatchDep
) -> OrderOut:
    """Ship a paid order: its reserved units leave the warehouse."""
    return _answer(await ordering.ship_order(session, order_id, version), response)


@router.post(
    "/{order_id}/cancel",
    responses=problem_responses(400, 404, 409, 412),
    summary="Cancel an order",
)
async def cancel_order(
    order_id: uuid.UUID,
    session: SessionDep,
    response: Response,
    version: IfMatchDep,
    body: Annotated[CancelRequest | None, Body()] = None,
) -> OrderOut:
    """Cancel an order that has not shipped; its reserved units are released."""
    reason = body.reason if body is not None else None
    return _answer(await ordering.cancel_order(session, order_id, reason, version), response)
