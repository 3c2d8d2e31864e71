"""Customers."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status
from fastapi_chassis.api import SessionDep, etag_for, optional_if_match, require_if_match
from fastapi_chassis.db import AsyncRepository
from fastapi_chassis.db.audit import audit_history_router

from shop.api.documentation import problem_responses
from shop.api.v1.schemas.common import TEXT, Page
from shop.api.v1.schemas.customers import CustomerCreate, CustomerOut, CustomerUpdate
from shop.dependencies import DeletedDep, PageDep, current_actor
from shop.models import Customer

router = APIRouter(prefix="/customers", tags=["customers"], dependencies=[Depends(current_actor)])

history = audit_history_router(Customer, prefix="/customers", tags=["customers"])
"""``GET /customers/{id}/history``: every change to a customer, newest first."""


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(400, 409),
    summary="Add a customer",
)
async def create_customer(
    body: CustomerCreate, session: SessionDep, response: Response
) -> CustomerOut:
    """Add a customer; a live customer with the same email is a 409."""
    customer = await AsyncRepository(session, Customer).create(Customer(**body.model_dump()))
    response.headers["Location"] = f"/customers/{customer.id}"
    response.headers["ETag"] = etag_for(customer.version)
    return CustomerOut.of(customer)


@router.get("", responses=problem_responses(400), summary="List customers")
async def list_customers(
    session: SessionDep,
    page: PageDep,
    deleted: DeletedDep,
    email: Annotated[str | None, Query(max_length=320, pattern=TEXT)] = None,
    country_code: Annotated[str | None, Query(pattern=r"^[A-Z]{2}$")] = None,
) -> Page[CustomerOut]:
    """List customers, newest first, optionally by email or country."""
    filters = {"email": email.lower() if email else None, "country_code": country_code}
    result = await AsyncRepository(session, Customer).list(
        limit=page.limit,
        after=page.after,
        order_by="-id",
        include_deleted=deleted.include_deleted,
        only_deleted=deleted.only_deleted,
        filters={name: value for name, value in filters.items() if value is not None},
    )
    return Page(
        items=[CustomerOut.of(item) for item in result.items], next_cursor=result.next_cursor
    )


@router.get("/{customer_id}", responses=problem_responses(404), summary="Read a customer")
async def read_customer(
    customer_id: uuid.UUID, session: SessionDep, response: Response
) -> CustomerOut:
    """Return a live customer, with its ETag for conditional writes."""
    customer = await AsyncRepository(session, Customer).get(customer_id)
    response.headers["ETag"] = etag_for(customer.version)
    return CustomerOut.of(customer)


@router.patch(
    "/{customer_id}",
    responses=problem_responses(400, 404, 409, 412, 428),
    summary="Change a customer",
)
async def update_customer(
    customer_id: uuid.UUID,
    body: CustomerUpdate,
    session: SessionDep,
    response: Response,
    version: Annotated[int, Depends(require_if_match)],
) -> CustomerOut:
    """Change a customer; needs ``If-Match`` with the ETag it was read with."""
    customer = await AsyncRepository(session, Customer).update(
        customer_id, body.model_dump(exclude_none=True), expected_version=version
    )
    response.headers["ETag"] = etag_for(customer.version)
    return CustomerOut.of(customer)


@router.delete(
    "/{customer_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(404, 412, 428),
    summary="Delete a customer",
)
async def delete_customer(
    customer_id: uuid.UUID,
    session: SessionDep,
    version: Annotated[int, Depends(require_if_match)],
) -> None:
    """Soft-delete a customer: their orders and history stay, their email is free again."""
    await AsyncRepository(session, Customer).soft_delete(customer_id, expected_version=version)


@router.post(
    "/{customer_id}/restore",
    responses=problem_responses(404, 409, 412),
    summary="Restore a deleted customer",
)
async def restore_customer(
    customer_id: uuid.UUID,
    session: SessionDep,
    response: Response,
    version: Annotated[int | None, Depends(optional_if_match)],
) -> CustomerOut:
    """Bring a deleted customer back; 409 if a live customer has taken the email meanwhile."""
    customer = await AsyncRepository(session, Customer).restore(
        customer_id, expected_version=version
    )
    response.headers["ETag"] = etag_for(customer.version)
    return CustomerOut.of(customer)
