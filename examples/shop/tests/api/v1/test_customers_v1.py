"""Customers: adding, listing, conditional changes, soft delete and history."""

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.asyncio

Json = dict[str, Any]
Make = Callable[..., Awaitable[Json]]


async def test_a_customer_is_added_with_a_lower_case_email(
    client: httpx.AsyncClient, unique: Callable[[str], str]
) -> None:
    email = f"{unique('Ada')}@Example.COM"
    response = await client.post(
        "/customers",
        json={"email": email, "first_name": "Ada", "last_name": "Lovelace", "country_code": "GB"},
    )
    assert response.status_code == 201, response.text
    customer = response.json()
    assert customer["email"] == email.lower()
    assert response.headers["Location"] == f"/customers/{customer['id']}"
    assert response.headers["ETag"] == '"1.1"'

    read = await client.get(f"/customers/{customer['id']}")
    assert read.json() == customer


async def test_an_email_belongs_to_one_live_customer(
    client: httpx.AsyncClient, new_customer: Make
) -> None:
    customer = await new_customer(client)
    again = await client.post(
        "/customers",
        json={
            "email": customer["email"],
            "first_name": "Other",
            "last_name": "Person",
            "country_code": "FR",
        },
    )
    assert again.status_code == 409
    assert again.json()["constraint"] == "uq_customers_email_live"

    await client.delete(f"/customers/{customer['id']}", headers={"If-Match": '"1.1"'})
    await new_customer(client, email=customer["email"])
    restore = await client.post(f"/customers/{customer['id']}/restore")
    assert restore.status_code == 409


async def test_changes_need_if_match(client: httpx.AsyncClient, new_customer: Make) -> None:
    customer = await new_customer(client)
    url = f"/customers/{customer['id']}"
    assert (await client.patch(url, json={"first_name": "Augusta"})).status_code == 428
    changed = await client.patch(
        url, json={"first_name": "Augusta", "country_code": "IE"}, headers={"If-Match": '"1.1"'}
    )
    assert changed.status_code == 200
    assert changed.json()["first_name"] == "Augusta"
    assert changed.json()["country_code"] == "IE"
    stale = await client.patch(url, json={"last_name": "King"}, headers={"If-Match": '"1.1"'})
    assert stale.status_code == 412


async def test_listing_filters_by_email_and_country_and_shows_the_trash(
    client: httpx.AsyncClient, new_customer: Make
) -> None:
    customer = await new_customer(client, country_code="NO")
    by_email = await client.get("/customers", params={"email": customer["email"].upper()})
    assert [item["id"] for item in by_email.json()["items"]] == [customer["id"]]

    by_country = await client.get("/customers", params={"country_code": "NO", "limit": 100})
    assert customer["id"] in [item["id"] for item in by_country.json()["items"]]

    await client.delete(f"/customers/{customer['id']}", headers={"If-Match": '"1.1"'})
    live = await client.get("/customers", params={"email": customer["email"]})
    assert live.json()["items"] == []
    trash = await client.get("/customers", params={"email": customer["email"], "deleted": "only"})
    assert [item["id"] for item in trash.json()["items"]] == [customer["id"]]
    assert (await client.get(f"/customers/{customer['id']}")).status_code == 404

    stale = await client.post(f"/customers/{customer['id']}/restore", headers={"If-Match": '"1.1"'})
    assert stale.status_code == 412
    restored = await client.post(f"/customers/{customer['id']}/restore")
    assert restored.status_code == 200
    assert restored.json()["deleted_at"] is None
    assert (await client.get(f"/customers/{customer['id']}")).status_code == 200


async def test_the_newest_customers_come_first(
    client: httpx.AsyncClient, new_customer: Make
) -> None:
    first = await new_customer(client)
    second = await new_customer(client)
    page = (await client.get("/customers", params={"limit": 2})).json()
    assert [item["id"] for item in page["items"]] == [second["id"], first["id"]]


async def test_the_history_names_the_actor(client: httpx.AsyncClient, new_customer: Make) -> None:
    customer = await new_customer(client)
    await client.patch(
        f"/customers/{customer['id']}",
        json={"address": "12 St James's Square\nLondon"},
        headers={"If-Match": '"1.1"', "X-Actor": "support-bot"},
    )
    entries = (await client.get(f"/customers/{customer['id']}/history")).json()
    assert [entry["action"] for entry in entries] == ["UPDATE", "INSERT"]
    assert entries[0]["actor"] == "support-bot"
    assert entries[0]["changed_fields"] == ["address"]


async def test_a_malformed_actor_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.get("/customers", headers={"X-Actor": "not allowed!"})
    assert response.status_code == 422
