"""The shop's own errors, answered as RFC 9457 problem documents.

The chassis already answers its own errors (``NotFound`` with 404, a stale
``If-Match`` with 412, ...). Errors of the shop's rules get their own problem
types under :data:`PROBLEM_TYPE_BASE`, so clients can tell an order that cannot
be cancelled any more from a product that is out of stock without parsing text.
The plugin installs :func:`shop_error_handler` for :class:`ShopError`.
"""

import uuid
from collections.abc import Collection, Mapping

from fastapi import Request
from fastapi_chassis.api import Problem, problem_response
from starlette.responses import Response
from typing_extensions import override

PROBLEM_TYPE_BASE = "https://shop.example.com/problems/"
"""Where the shop's problem types are documented; a type is this plus its slug."""


class ShopError(Exception):
    """A request broke one of the shop's rules.

    Attributes:
        status: The HTTP status of the answer.
        slug: The last part of the problem type URI.
        title: A short, stable summary of the kind of problem.
        extensions: Further members of the problem document.
    """

    status = 409
    slug = "conflict"
    title = "The request conflicts with the shop's state"

    def __init__(self, detail: str, **extensions: object) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions: dict[str, object] = extensions


class InvalidTransition(ShopError):
    """The order cannot move to the requested status from the one it is in."""

    slug = "invalid-transition"
    title = "The order cannot make this transition"

    def __init__(
        self, order_id: uuid.UUID, current: str, requested: str, allowed: Collection[str]
    ) -> None:
        super().__init__(
            f"order {order_id} is {current}; it cannot become {requested}",
            current_status=current,
            requested_status=requested,
            allowed_statuses=sorted(allowed),
        )


class InsufficientStock(ShopError):
    """Fewer units are available than an order asks for."""

    slug = "insufficient-stock"
    title = "Not enough stock"

    def __init__(self, product_id: uuid.UUID, requested: int, available: int) -> None:
        super().__init__(
            f"product {product_id} has {available} units available, {requested} were asked for",
            product_id=str(product_id),
            requested=requested,
            available=available,
        )


class StockBelowReservations(ShopError):
    """A stock level would drop below the units held for open orders."""

    slug = "stock-below-reservations"
    title = "Stock cannot drop below the reserved units"

    def __init__(self, product_id: uuid.UUID, on_hand: int, reserved: int) -> None:
        super().__init__(
            f"product {product_id} has {reserved} units reserved for open orders; "
            f"stock on hand cannot become {on_hand}",
            product_id=str(product_id),
            reserved=reserved,
        )


class UnknownReference(ShopError):
    """The request names a customer or product that does not exist (or was deleted)."""

    status = 422
    slug = "unknown-reference"
    title = "The request refers to something that does not exist"

    def __init__(self, field: str, identity: uuid.UUID) -> None:
        super().__init__(f"{field} {identity} names no live record", field=field)


class ShopProblem(Problem):
    """A problem document whose ``type`` is one of the shop's URIs, not the chassis's."""

    __slots__ = ("type_uri",)

    def __init__(
        self,
        type_uri: str,
        status: int,
        *,
        title: str,
        detail: str,
        instance: str | None = None,
        extensions: Mapping[str, object] | None = None,
    ) -> None:
        super().__init__(
            status, title=title, detail=detail, instance=instance, extensions=extensions
        )
        self.type_uri = type_uri

    @override
    def to_dict(self) -> dict[str, object]:
        document = super().to_dict()
        document["type"] = self.type_uri
        return document


def problem_for_shop_error(error: ShopError, instance: str | None = None) -> Problem:
    """Return the problem document that answers ``error``."""
    return ShopProblem(
        PROBLEM_TYPE_BASE + error.slug,
        error.status,
        title=error.title,
        detail=error.detail,
        instance=instance,
        extensions=error.extensions,
    )


async def shop_error_handler(request: Request, error: Exception) -> Response:
    """FastAPI exception handler: answer a :class:`ShopError` with its problem document."""
    if not isinstance(error, ShopError):  # pragma: no cover - registered for ShopError only
        raise error
    return problem_response(problem_for_shop_error(error, instance=request.url.path))
