"""Version 2: prices as money objects, every other route inherited from version 1."""

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.asyncio

Json = dict[str, Any]
Make = Callable[..., Awaitable[Json]]
V2 = {"X-API-Version": "2"}


async def test_one_product_two_representations(
    client: httpx.AsyncClient, new_product: Make
) -> None:
    product = await new_product(client, price_cents=1250)
    url = f"/products/{product['id']}"

    v1 = await client.get(url)
    v2 = await client.get(url, headers=V2)
    assert v1.json()["price_cents"] == 1250
    assert "price" not in v1.json()
    assert v2.status_code == 200, v2.text
    assert v2.json()["price"] == {"amount": "12.50", "currency": "EUR"}
    assert "price_cents" not in v2.json()
    assert v2.headers["X-API-Version"] == "2"
    assert "X-API-Version" in v2.headers["Vary"]
    # The same row version, two representations, two ETags.
    assert (v1.headers["ETag"], v2.headers["ETag"]) == ('"1.1"', '"1.2"')


async def test_version_2_creates_and_changes_prices_as_decimals(
    client: httpx.AsyncClient, unique: Callable[[str], str]
) -> None:
    created = await client.post(
        "/products",
        json={
            "sku": unique("LAMP"),
            "name": "Desk lamp",
            "category": "Lighting",
            "price": {"amount": "49.9", "currency": "EUR"},
        },
        headers=V2,
    )
    assert created.status_code == 201, created.text
    product = created.json()
    assert product["price"]["amount"] == "49.90"
    assert created.headers["ETag"] == '"1.2"'

    url = f"/products/{product['id']}"
    # A version 1 ETag does not name this representation.
    refused = await client.patch(
        url, json={"price": {"amount": 45}}, headers={**V2, "If-Match": '"1.1"'}
    )
    assert refused.status_code == 412
    changed = await client.patch(
        url, json={"price": {"amount": 45}}, headers={**V2, "If-Match": '"1.2"'}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["price"]["amount"] == "45.00"
    assert (await client.get(url)).json()["price_cents"] == 4500


async def test_fractions_of_a_cent_and_other_currencies_are_refused(
    client: httpx.AsyncClient, unique: Callable[[str], str]
) -> None:
    for price in ({"amount": "1.005"}, {"amount": "1.00", "currency": "USD"}, {"amount": "-1"}):
        response = await client.post(
            "/products",
            json={"sku": unique("X"), "name": "X", "category": "X", "price": price},
            headers=V2,
        )
        assert response.status_code == 422, price
    legacy = await client.post(
        "/products",
        json={"sku": unique("X"), "name": "X", "category": "X", "price_cents": 100},
        headers=V2,
    )
    assert legacy.status_code == 422


async def test_version_2_lists_and_filters_by_decimal_prices(
    client: httpx.AsyncClient, new_product: Make, unique: Callable[[str], str]
) -> None:
    category = unique("Cat")
    for price in (500, 1999, 2500):
        await new_product(client, price_cents=price, category=category)
    response = await client.get(
        "/products",
        params={"category": category, "min_price": "10", "max_price": "25.00", "sort": "-price"},
        headers=V2,
    )
    assert response.status_code == 200, response.text
    assert [item["price"]["amount"] for item in response.json()["items"]] == ["25.00", "19.99"]


async def test_version_2_inherits_the_other_routes(
    client: httpx.AsyncClient, new_product: Make, new_customer: Make
) -> None:
    product = await new_product(client, stock_on_hand=2)
    customer = await new_customer(client)
    inventory = await client.get(f"/products/{product['id']}/inventory", headers=V2)
    assert inventory.status_code == 200
    assert inventory.headers["ETag"] == '"1.2"'
    order = await client.post(
        "/orders",
        json={
            "customer_id": customer["id"],
            "lines": [{"product_id": product["id"], "quantity": 1}],
        },
        headers=V2,
    )
    assert order.status_code == 201
    assert order.headers["X-API-Version"] == "2"

    deleted = await client.delete(f"/products/{product['id']}", headers={**V2, "If-Match": '"2.2"'})
    assert deleted.status_code == 204
    restored = await client.post(f"/products/{product['id']}/restore", headers=V2)
    assert restored.json()["price"]["currency"] == "EUR"


async def test_an_unknown_version_is_a_400_listing_the_supported_ones(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/products", headers={"X-API-Version": "3"})
    assert response.status_code == 400
    assert response.json()["supported_versions"] == ["1", "2"]


async def test_each_version_has_its_own_openapi_document(client: httpx.AsyncClient) -> None:
    v1 = (await client.get("/openapi/v1.json")).json()
    v2 = (await client.get("/openapi/v2.json")).json()
    v1_product = v1["components"]["schemas"]["ProductOut"]["properties"]
    v2_product = v2["components"]["schemas"]["ProductOutV2"]["properties"]
    assert "price_cents" in v1_product
    assert "price" in v2_product
    assert set(v1["paths"]) == set(v2["paths"])
    get_v2 = v2["paths"]["/products/{product_id}"]["get"]
    header = next(p for p in get_v2["parameters"] if p["name"] == "X-API-Version")
    assert header["schema"]["enum"] == ["2"]
