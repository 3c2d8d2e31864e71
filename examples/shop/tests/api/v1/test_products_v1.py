"""Products in version 1: the catalogue, ETags, soft delete, restore and history."""

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.asyncio

Json = dict[str, Any]
Make = Callable[..., Awaitable[Json]]


async def test_a_product_is_added_and_read_back_with_its_etag(
    client: httpx.AsyncClient, unique: Callable[[str], str]
) -> None:
    sku = unique("MUG")
    created = await client.post(
        "/products",
        json={"sku": sku, "name": "Mug", "category": "Kitchen", "price_cents": 1250},
    )
    assert created.status_code == 201, created.text
    product = created.json()
    assert created.headers["Location"] == f"/products/{product['id']}"
    assert created.headers["ETag"] == '"1.1"'
    assert product["sku"] == sku
    assert product["price_cents"] == 1250
    assert product["currency"] == "EUR"
    assert product["stock"] == {"on_hand": 0, "reserved": 0, "available": 0}
    assert product["version"] == 1
    assert product["deleted_at"] is None

    read = await client.get(f"/products/{product['id']}")
    assert read.status_code == 200
    assert read.json() == product
    assert read.headers["ETag"] == '"1.1"'
    assert read.headers["X-API-Version"] == "1"


async def test_a_live_sku_cannot_be_taken_twice(
    client: httpx.AsyncClient, new_product: Make
) -> None:
    product = await new_product(client)
    again = await client.post(
        "/products",
        json={"sku": product["sku"], "name": "Other", "category": "Kitchen", "price_cents": 1},
    )
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    assert again.json()["constraint"] == "uq_products_sku_live"


async def test_invalid_bodies_are_refused(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/products",
        json={"sku": "lower case", "name": "", "category": "K", "price_cents": -1, "x": 1},
    )
    assert response.status_code == 422
    problem = response.json()
    assert problem["type"].endswith("/validation-error")
    fields = {error["loc"][-1] for error in problem["errors"]}
    assert {"sku", "name", "price_cents", "x"} <= fields


async def test_an_unknown_product_is_a_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/products/0191c6f2-0000-7000-8000-000000000000")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 404


async def test_updates_need_the_current_etag(client: httpx.AsyncClient, new_product: Make) -> None:
    product = await new_product(client, price_cents=1999)
    url = f"/products/{product['id']}"

    missing = await client.patch(url, json={"name": "Large mug"})
    assert missing.status_code == 428
    assert missing.json()["type"].endswith("/precondition-required")

    updated = await client.patch(url, json={"name": "Large mug"}, headers={"If-Match": '"1.1"'})
    assert updated.status_code == 200, updated.text
    assert updated.json()["name"] == "Large mug"
    assert updated.json()["version"] == 2
    assert updated.headers["ETag"] == '"2.1"'

    stale = await client.patch(url, json={"name": "Lost update"}, headers={"If-Match": '"1.1"'})
    assert stale.status_code == 412
    assert stale.json()["current_version"] == 2

    weak = await client.patch(url, json={"name": "Weak"}, headers={"If-Match": 'W/"2.1"'})
    assert weak.status_code == 412

    # A version 2 representation is not the one a version 1 client holds.
    other_version = await client.patch(url, json={"name": "V2 tag"}, headers={"If-Match": '"2.2"'})
    assert other_version.status_code == 412
    assert (await client.get(url)).json()["name"] == "Large mug"


async def test_an_empty_change_leaves_the_version_alone(
    client: httpx.AsyncClient, new_product: Make
) -> None:
    product = await new_product(client)
    response = await client.patch(
        f"/products/{product['id']}", json={"name": None}, headers={"If-Match": '"1.1"'}
    )
    assert response.status_code == 200
    assert response.json()["version"] == 1


async def test_listing_filters_sorts_and_pages(
    client: httpx.AsyncClient, new_product: Make, unique: Callable[[str], str]
) -> None:
    category = unique("Cat")
    for name, price in [("Bowl", 900), ("Cup", 450), ("Anvil", 30000), ("Dish", 1200)]:
        await new_product(client, name=name, price_cents=price, category=category)
    await new_product(client, name="Elsewhere", category=unique("Other"))

    first = await client.get(
        "/products", params={"category": category, "limit": 2, "sort": "price_cents"}
    )
    assert first.status_code == 200, first.text
    page = first.json()
    assert [item["name"] for item in page["items"]] == ["Cup", "Bowl"]
    assert page["next_cursor"]

    second = await client.get(
        "/products",
        params={
            "category": category,
            "limit": 2,
            "sort": "price_cents",
            "after": page["next_cursor"],
        },
    )
    rest = second.json()
    assert [item["name"] for item in rest["items"]] == ["Dish", "Anvil"]
    assert rest["next_cursor"] is None

    cheap = await client.get(
        "/products", params={"category": category, "max_price_cents": 1000, "sort": "-name"}
    )
    assert [item["name"] for item in cheap.json()["items"]] == ["Cup", "Bowl"]

    named = await client.get("/products", params={"category": category, "q": "ANV"})
    assert [item["name"] for item in named.json()["items"]] == ["Anvil"]


async def test_a_cursor_of_another_ordering_is_a_400(
    client: httpx.AsyncClient, new_product: Make, unique: Callable[[str], str]
) -> None:
    category = unique("Cat")
    for _ in range(2):
        await new_product(client, category=category)
    page = (await client.get("/products", params={"category": category, "limit": 1})).json()
    response = await client.get(
        "/products", params={"after": page["next_cursor"], "sort": "-created_at"}
    )
    assert response.status_code == 400
    assert response.json()["type"].endswith("/invalid-query")


async def test_soft_delete_hides_a_product_and_restore_brings_it_back(
    client: httpx.AsyncClient, new_product: Make
) -> None:
    product = await new_product(client)
    url = f"/products/{product['id']}"

    assert (await client.delete(url)).status_code == 428
    assert (await client.delete(url, headers={"If-Match": '"7.1"'})).status_code == 412
    deleted = await client.delete(url, headers={"If-Match": '"1.1"'})
    assert deleted.status_code == 204
    assert deleted.content == b""

    assert (await client.get(url)).status_code == 404
    category = {"category": product["category"]}
    live = (await client.get("/products", params=category)).json()["items"]
    assert product["id"] not in [item["id"] for item in live]
    trash = await client.get("/products", params={**category, "deleted": "only"})
    (trashed,) = [item for item in trash.json()["items"] if item["id"] == product["id"]]
    assert trashed["deleted_at"] is not None
    everything = await client.get("/products", params={**category, "deleted": "include"})
    assert product["id"] in [item["id"] for item in everything.json()["items"]]

    restored = await client.post(f"{url}/restore")
    assert restored.status_code == 200
    assert restored.json()["deleted_at"] is None
    assert restored.headers["ETag"] == f'"{restored.json()["version"]}.1"'
    assert (await client.get(url)).status_code == 200


async def test_a_deleted_sku_can_be_reused_but_then_not_restored(
    client: httpx.AsyncClient, new_product: Make
) -> None:
    old = await new_product(client)
    await client.delete(f"/products/{old['id']}", headers={"If-Match": '"1.1"'})
    await new_product(client, sku=old["sku"])

    response = await client.post(f"/products/{old['id']}/restore")
    assert response.status_code == 409
    assert response.json()["type"].endswith("/conflict")


async def test_the_history_lists_every_change_newest_first(
    client: httpx.AsyncClient, new_product: Make
) -> None:
    product = await new_product(client, price_cents=1000)
    url = f"/products/{product['id']}"
    headers = {"X-Actor": "alice"}
    await client.patch(url, json={"price_cents": 800}, headers={"If-Match": '"1.1"', **headers})
    await client.delete(url, headers={"If-Match": '"2.1"', **headers})
    await client.post(f"{url}/restore", headers=headers)

    response = await client.get(f"{url}/history")
    assert response.status_code == 200, response.text
    entries = response.json()
    assert [entry["action"] for entry in entries] == ["RESTORE", "SOFT_DELETE", "UPDATE", "INSERT"]
    update = entries[2]
    assert update["changed_fields"] == ["price_cents"]
    assert update["old_data"] == {"price_cents": 1000}
    assert update["new_data"]["price_cents"] == 800
    assert update["actor"] == "alice"
    assert all(entry["correlation_id"] for entry in entries)

    limited = await client.get(f"{url}/history", params={"limit": 1})
    assert [entry["action"] for entry in limited.json()] == ["RESTORE"]


async def test_a_record_without_history_is_a_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/products/0191c6f2-0000-7000-8000-000000000000/history")
    assert response.status_code == 404
