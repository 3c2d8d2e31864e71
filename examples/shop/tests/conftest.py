"""Fixtures for the shop's tests, on top of the chassis's pytest plugin.

The plugin (configured in ``pyproject.toml``) provides the database, built by
the shop's migrations; ``db_session``, rolled back after each test; ``client``,
calling the shop in process inside the test's transaction (or committing for
real when the test also asks for ``committed_db``); a fixture per factory
(``product_factory``...); ``captured_events`` and ``captured_logs``. Here: fixtures
that make customers and products through the API, the way a client would.
"""

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

Json = dict[str, Any]
Make = Callable[..., Awaitable[Json]]


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12].upper()}"


@pytest.fixture
def unique() -> Callable[[str], str]:
    """Return a function making values no other test uses (SKUs, emails, categories)."""
    return _unique


@pytest.fixture
def new_customer() -> Make:
    """Return ``await new_customer(http, **fields)``: add a customer, return its body."""

    async def make(http: httpx.AsyncClient, **fields: Any) -> Json:
        body = {
            "email": f"{_unique('c').lower()}@example.com",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "country_code": "GB",
            **fields,
        }
        response = await http.post("/customers", json=body)
        assert response.status_code == 201, response.text
        customer: Json = response.json()
        return customer

    return make


@pytest.fixture
def new_product() -> Make:
    """Return ``await new_product(http, **fields)``: add a product (version 1), return its body."""

    async def make(http: httpx.AsyncClient, **fields: Any) -> Json:
        body = {
            "sku": _unique("SKU"),
            "name": "Stoneware mug",
            "category": "Kitchen",
            "price_cents": 1250,
            "stock_on_hand": 10,
            **fields,
        }
        response = await http.post("/products", json=body, headers={"X-API-Version": "1"})
        assert response.status_code == 201, response.text
        product: Json = response.json()
        return product

    return make
