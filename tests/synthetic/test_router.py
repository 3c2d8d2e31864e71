"""The synthetic-data endpoints: 202 and progress, cancellation, refusal in production."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from fastapi_chassis import ChassisSettings
from fastapi_chassis.plugins import PluginError
from tests.api.conftest import running
from tests.synthetic.app import create_shop_app
from tests.synthetic.conftest import scalar

pytestmark = [pytest.mark.db, pytest.mark.asyncio]

PROBLEM = "application/problem+json"


def _settings(url: str | None, **changes: object) -> ChassisSettings:
    return ChassisSettings.model_validate(
        {"database_url": url, "synthetic_endpoints_enabled": True, **changes}
    )


async def _wait_for(client: httpx.AsyncClient, location: str, *states: str) -> dict[str, object]:
    for _ in range(600):
        body: dict[str, object] = (await client.get(location)).json()
        if body["state"] in states:
            return body
        await asyncio.sleep(0.1)
    raise AssertionError(f"the run never reached {states}: {body}")


async def _wait_for_rows(client: httpx.AsyncClient, location: str) -> None:
    for _ in range(600):
        body = (await client.get(location)).json()
        if body["total_rows"] > 0:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the run wrote nothing")


async def test_a_run_starts_with_202_and_reports_its_progress(shop_url: str) -> None:
    app = create_shop_app(_settings(shop_url))
    async with running(app) as client:
        response = await client.post(
            "/synthetic/runs", json={"scenario": "black-friday", "scale": 3_000, "seed": 9}
        )
        assert response.status_code == 202
        run = response.json()
        location = response.headers["location"]
        assert location == f"/synthetic/runs/{run['id']}"
        assert run["state"] == "running"
        assert (run["scenario"], run["scale"], run["seed"]) == ("black-friday", 3_000, 9)
        done = await _wait_for(client, location, "succeeded", "failed")
        listed = (await client.get("/synthetic/runs")).json()
    assert done["state"] == "succeeded", done
    rows = done["rows"]
    assert isinstance(rows, dict)
    assert rows["syn_orders"] == 3_000
    assert done["total_rows"] == sum(rows.values())
    assert float(done["rows_per_second"]) > 0  # type: ignore[arg-type]
    assert done["finished_at"] is not None
    assert [item["id"] for item in listed] == [run["id"]]
    assert await scalar(shop_url, "SELECT count(*) FROM syn_orders") == 3_000


async def test_the_default_scale_is_the_scenarios_own(shop_url: str) -> None:
    async with running(create_shop_app(_settings(shop_url))) as client:
        response = await client.post("/synthetic/runs", json={"scenario": "tiny"})
        done = await _wait_for(client, response.headers["location"], "succeeded", "failed")
    assert done["state"] == "succeeded", done
    assert done["scale"] == await scalar(shop_url, "SELECT count(*) FROM syn_orders")


async def test_a_cancelled_run_rolls_back_and_cannot_be_cancelled_twice(shop_url: str) -> None:
    async with running(create_shop_app(_settings(shop_url))) as client:
        response = await client.post(
            "/synthetic/runs", json={"scenario": "steady", "scale": 900_000}
        )
        location = response.headers["location"]
        await _wait_for_rows(client, location)
        busy = await client.post("/synthetic/runs", json={"scenario": "steady"})
        cancelled = await client.delete(location)
        again = await client.delete(location)
    assert busy.status_code == 409
    assert busy.headers["content-type"] == PROBLEM
    assert busy.json()["run_id"] == response.json()["id"]
    assert cancelled.status_code == 200
    assert cancelled.json()["state"] == "cancelled"
    assert again.status_code == 409
    assert again.json()["type"].endswith("/run-finished")
    assert await scalar(shop_url, "SELECT count(*) FROM syn_orders") == 0


async def test_shutting_down_cancels_the_run_in_progress(shop_url: str) -> None:
    app = create_shop_app(_settings(shop_url))
    async with running(app) as client:
        response = await client.post(
            "/synthetic/runs", json={"scenario": "steady", "scale": 900_000}
        )
        await _wait_for_rows(client, response.headers["location"])
    assert await scalar(shop_url, "SELECT count(*) FROM syn_customers") == 0


@pytest.mark.parametrize(
    ("body", "status", "kind"),
    [
        ({"scenario": "cyber-tuesday"}, 422, "unknown-scenario"),
        ({"scenario": "steady", "scale": 0}, 422, "validation-error"),
        ({"scenario": "steady", "scale": 5_000}, 422, "scale-too-large"),
    ],
)
async def test_bad_requests_are_problems(
    shop_url: str, body: dict[str, object], status: int, kind: str
) -> None:
    app = create_shop_app(_settings(shop_url, synthetic_max_scale=1_000))
    async with running(app) as client:
        response = await client.post("/synthetic/runs", json=body)
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"].endswith(f"/{kind}")
    if kind == "unknown-scenario":
        assert response.json()["known"] == ["black-friday", "seasonal", "steady", "tiny"]


async def test_unknown_runs_are_404_problems(shop_url: str) -> None:
    async with running(create_shop_app(_settings(shop_url))) as client:
        missing = "01890a5d-ac96-774b-bcce-b302099a8057"
        got = await client.get(f"/synthetic/runs/{missing}")
        deleted = await client.delete(f"/synthetic/runs/{missing}")
    assert got.status_code == deleted.status_code == 404
    assert got.headers["content-type"] == PROBLEM
    assert got.json()["type"].endswith("/run-not-found")


async def test_without_a_database_runs_are_unavailable() -> None:
    async with running(create_shop_app(_settings(None))) as client:
        response = await client.post("/synthetic/runs", json={"scenario": "steady"})
    assert response.status_code == 503
    assert response.json()["type"].endswith("/synthetic-unavailable")


async def test_the_endpoints_are_off_unless_enabled(shop_url: str) -> None:
    app = create_shop_app(ChassisSettings(database_url=shop_url))
    async with running(app) as client:
        response = await client.post("/synthetic/runs", json={"scenario": "steady"})
    assert response.status_code == 404


async def test_the_application_refuses_to_build_in_production() -> None:
    with pytest.raises(PluginError, match=r"chassis\.synthetic.*production"):
        create_shop_app(_settings(None, environment="production"))
    # Off, production is fine.
    create_shop_app(ChassisSettings(environment="production"))
