"""BulkLoader against a real database: integrity, housekeeping columns, determinism."""

# factory_boy's declarations have no annotations; mypy --strict would flag every call.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from factory.declarations import LazyAttribute, Maybe, Sequence
from factory.fuzzy import FuzzyChoice

import fastapi_chassis.synthetic.loader as loader_module
from fastapi_chassis.synthetic import (
    BLACK_FRIDAY,
    BUILTIN_SCENARIOS,
    STEADY,
    BulkLoader,
    LoadProgress,
    Planned,
    Scenario,
    SyntheticDataError,
    Volumes,
)
from tests.synthetic.conftest import execute, query, scalar
from tests.synthetic.factories import (
    SHOP_FACTORIES,
    CategoryFactory,
    CustomerFactory,
    ProductFactory,
)

pytestmark = [pytest.mark.db, pytest.mark.asyncio]

TABLES = ("syn_customers", "syn_products", "syn_orders", "syn_order_items")

# Each query counts rows that break the schema's promises; all must find none.
INTEGRITY = {
    "orders without their customer": (
        "SELECT count(*) FROM syn_orders o LEFT JOIN syn_customers c ON c.id = o.customer_id "
        "WHERE c.id IS NULL"
    ),
    "lines without their order": (
        "SELECT count(*) FROM syn_order_items i LEFT JOIN syn_orders o ON o.id = i.order_id "
        "WHERE o.id IS NULL"
    ),
    "lines without their product": (
        "SELECT count(*) FROM syn_order_items i LEFT JOIN syn_products p ON p.id = i.product_id "
        "WHERE p.id IS NULL"
    ),
    "repeated SKUs": "SELECT count(*) - count(DISTINCT sku) FROM syn_products",
    "repeated emails": "SELECT count(*) - count(DISTINCT email) FROM syn_customers",
    "a product twice in one order": (
        "SELECT count(*) FROM (SELECT 1 FROM syn_order_items GROUP BY order_id, product_id "
        "HAVING count(*) > 1) AS twice"
    ),
    "orders without lines": (
        "SELECT count(*) FROM syn_orders o WHERE NOT EXISTS "
        "(SELECT 1 FROM syn_order_items i WHERE i.order_id = o.id)"
    ),
    "line counts that disagree": (
        "SELECT count(*) FROM syn_orders o WHERE o.line_count <> "
        "(SELECT count(*) FROM syn_order_items i WHERE i.order_id = o.id)"
    ),
    "totals that disagree with the lines": (
        "SELECT count(*) FROM syn_orders o WHERE o.total <> "
        "(SELECT sum(i.quantity * i.unit_price) FROM syn_order_items i WHERE i.order_id = o.id)"
    ),
    "orders placed before the customer signed up": (
        "SELECT count(*) FROM syn_orders o JOIN syn_customers c ON c.id = o.customer_id "
        "WHERE o.created_at < c.created_at"
    ),
    "lines not written with their order": (
        "SELECT count(*) FROM syn_order_items i JOIN syn_orders o ON o.id = i.order_id "
        "WHERE i.created_at <> o.created_at"
    ),
}

# The v7 timestamp: the first 48 bits of the id, as milliseconds since 1970.
ID_MS = "('x' || substr(replace(id::text, '-', ''), 1, 12))::bit(48)::bigint"


async def _load(
    url: str,
    scenario: Scenario,
    scale: int,
    seed: int = 1,
    *,
    batch_rows: int = 10_000,
    queue_depth: int = 2,
) -> None:
    loader = BulkLoader(url, SHOP_FACTORIES, batch_rows=batch_rows, queue_depth=queue_depth)
    await loader.load(scenario, scale=scale, seed=seed)


async def _checksums(url: str) -> dict[str, str]:
    sums = {}
    for table in TABLES:
        sums[table] = str(
            await scalar(url, f"SELECT md5(string_agg(t::text, ',' ORDER BY t.id)) FROM {table} t")
        )
    return sums


@pytest.mark.parametrize("scale", [300, 4_000])
@pytest.mark.parametrize("scenario", BUILTIN_SCENARIOS, ids=lambda scenario: scenario.name)
async def test_every_builtin_scenario_keeps_the_schemas_promises(
    shop_url: str, scenario: Scenario, scale: int
) -> None:
    report = await BulkLoader(shop_url, SHOP_FACTORIES).load(scenario, scale=scale, seed=3)
    counts = scenario.counts(scale)
    assert await scalar(shop_url, "SELECT count(*) FROM syn_orders") == scale
    assert await scalar(shop_url, "SELECT count(*) FROM syn_customers") == counts.customers
    assert await scalar(shop_url, "SELECT count(*) FROM syn_products") == counts.products
    lines = await scalar(shop_url, "SELECT count(*) FROM syn_order_items")
    assert lines == report.rows["syn_order_items"]
    assert report.finished
    broken = {name: await scalar(shop_url, sql) for name, sql in INTEGRITY.items()}
    assert broken == dict.fromkeys(INTEGRITY, 0)


async def test_housekeeping_columns_are_what_the_server_would_have_set(shop_url: str) -> None:
    await _load(shop_url, BLACK_FRIDAY, 2_000)
    for table in TABLES:
        rows = await query(
            shop_url,
            f"SELECT count(*) AS total, "
            f"count(*) FILTER (WHERE {ID_MS} <> (extract(epoch FROM created_at) * 1000)::bigint)"
            f" AS id_not_at_created, "
            f"count(*) FILTER (WHERE substr(id::text, 15, 1) <> '7') AS not_v7, "
            f"count(*) FILTER (WHERE updated_at <> created_at) AS updated_later "
            f"FROM {table}",
        )
        (row,) = rows
        assert row.total > 0
        assert (row.id_not_at_created, row.not_v7, row.updated_later) == (0, 0, 0), table
    versions = await query(shop_url, "SELECT DISTINCT version FROM syn_orders")
    assert [row.version for row in versions] == [1]
    deleted = await scalar(shop_url, "SELECT count(*) FROM syn_customers WHERE is_deleted")
    assert deleted == 0
    # Orders fall in the scenario's window; the catalogue and the first
    # customers existed before it.
    window = await query(
        shop_url,
        "SELECT min(created_at)::date AS first, max(created_at)::date AS last FROM syn_orders",
    )
    assert window[0].first >= BLACK_FRIDAY.start
    assert window[0].last <= BLACK_FRIDAY.end
    before = await scalar(shop_url, "SELECT max(created_at)::date FROM syn_products")
    assert before < BLACK_FRIDAY.start  # type: ignore[operator]


async def test_ids_follow_time_within_each_table(shop_url: str) -> None:
    await _load(shop_url, STEADY, 3_000)
    for table in ("syn_orders", "syn_order_items"):
        disorder = await scalar(
            shop_url,
            f"SELECT count(*) FROM (SELECT created_at, lag(created_at) OVER (ORDER BY id) "
            f"AS previous FROM {table}) AS ordered WHERE created_at < previous",
        )
        assert disorder == 0, table


async def test_the_same_seed_gives_identical_tables_and_another_seed_does_not(
    make_shop_url: Callable[[], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second, third = make_shop_url(), make_shop_url(), make_shop_url()
    await _load(first, BLACK_FRIDAY, 3_000, seed=11)
    # Other batches, queue and statements: how rows travel must not change them.
    monkeypatch.setattr(loader_module, "ROWS_PER_COPY", 1_500)
    await _load(second, BLACK_FRIDAY, 3_000, seed=11, batch_rows=777, queue_depth=1)
    monkeypatch.undo()
    await _load(third, BLACK_FRIDAY, 3_000, seed=12)
    assert await _checksums(first) == await _checksums(second)
    differing = await _checksums(third)
    assert all(differing[table] != value for table, value in (await _checksums(first)).items())


async def test_progress_is_reported_per_table_and_the_last_report_is_final(
    shop_url: str,
) -> None:
    reports: list[LoadProgress] = []
    loader = BulkLoader(shop_url, SHOP_FACTORIES, batch_rows=2_000, on_progress=reports.append)
    final = await loader.load(STEADY, scale=3_000, seed=2)
    assert len(reports) > 5
    assert reports[-1] is final
    assert final.finished
    assert final.fraction == 1.0
    assert list(final.rows) == ["syn_products", "syn_customers", "syn_orders", "syn_order_items"]
    totals = [report.total_rows for report in reports]
    assert totals == sorted(totals)
    assert final.rows_per_second > 0
    assert not reports[0].finished
    assert 0 < reports[len(reports) // 2].fraction < 1


async def test_a_rejected_batch_rolls_the_whole_load_back(shop_url: str) -> None:
    await _load(shop_url, STEADY, 500, seed=4)
    before = await _checksums(shop_url)
    # The same seed again: the same ids, which the primary keys refuse.
    with pytest.raises(SyntheticDataError, match="rolled back"):
        await _load(shop_url, STEADY, 1_000, seed=4)
    assert await _checksums(shop_url) == before


async def test_a_cancelled_load_leaves_nothing_behind(shop_url: str) -> None:
    started = asyncio.Event()

    def on_progress(progress: LoadProgress) -> None:
        if progress.total_rows:
            started.set()

    loader = BulkLoader(shop_url, SHOP_FACTORIES, batch_rows=1_000, on_progress=on_progress)
    task = asyncio.create_task(loader.load(STEADY, scale=200_000, seed=1))
    await asyncio.wait_for(started.wait(), timeout=60)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for table in TABLES:
        assert await scalar(shop_url, f"SELECT count(*) FROM {table}") == 0


async def test_extra_roles_are_made_first_and_referenced_uniformly(shop_url: str) -> None:
    scenario = STEADY.model_copy(update={"volumes": Volumes(extra={"category": 12})})
    loader = BulkLoader(shop_url, {**SHOP_FACTORIES, "category": CategoryFactory})
    report = await loader.load(scenario, scale=2_000, seed=1)
    assert next(iter(report.rows)) == "syn_categories"
    assert await scalar(shop_url, "SELECT count(*) FROM syn_categories") == 12
    used = await scalar(
        shop_url,
        "SELECT count(DISTINCT category_id) FROM syn_products WHERE category_id IS NOT NULL",
    )
    assert used == 12


async def test_foreign_keys_outside_the_roles_draw_from_existing_rows(shop_url: str) -> None:
    # Without categories the nullable key stays empty...
    await _load(shop_url, STEADY, 300, seed=1)
    assert await scalar(shop_url, "SELECT count(category_id) FROM syn_products") == 0
    # ... and with some in the database, products point at them.
    await execute(shop_url, "INSERT INTO syn_categories (name) VALUES ('Books'), ('Garden')")
    await execute(shop_url, "TRUNCATE syn_order_items, syn_orders, syn_customers, syn_products")
    await _load(shop_url, STEADY, 300, seed=1)
    products = STEADY.counts(300).products
    assert await scalar(shop_url, "SELECT count(category_id) FROM syn_products") == products
    assert await scalar(shop_url, "SELECT count(DISTINCT category_id) FROM syn_products") == 2


async def test_declarations_beyond_the_fast_path_are_honoured(shop_url: str) -> None:
    class DetailedCustomerFactory(CustomerFactory):
        # Maybe is evaluated by factory_boy, per row; the rest stays vectorised.
        last_name = Maybe(  # type: ignore[assignment]
            LazyAttribute(lambda o: o.first_name.startswith("A")),
            yes_declaration="Anderson",
            no_declaration="Other",
        )
        cohort = FuzzyChoice(["x", "y"])  # type: ignore[assignment]

    class NumberedProductFactory(ProductFactory):
        name = Sequence(lambda n: f"Product {n}")  # type: ignore[assignment]
        price = Planned("price")

    factories = {
        **SHOP_FACTORIES,
        "customer": DetailedCustomerFactory,
        "product": NumberedProductFactory,
    }
    await BulkLoader(shop_url, factories).load(STEADY, scale=500, seed=1)
    rows = await query(shop_url, "SELECT first_name, last_name, cohort FROM syn_customers")
    assert all(
        row.last_name == ("Anderson" if row.first_name.startswith("A") else "Other") for row in rows
    )
    assert {row.cohort for row in rows} == {"x", "y"}
    names = await query(shop_url, "SELECT name FROM syn_products ORDER BY id")
    assert [row.name for row in names] == [f"Product {n}" for n in range(len(names))]


async def test_customers_get_names_and_addresses_of_their_locale(shop_url: str) -> None:
    await _load(shop_url, BLACK_FRIDAY, 2_000)
    rows = await query(shop_url, "SELECT country_code, address FROM syn_customers")
    countries = {"US": "United States", "GB": "United Kingdom", "DE": "Germany", "FR": "France"}
    assert {row.country_code for row in rows} == set(countries)
    assert all(row.address.splitlines()[-1] == countries[row.country_code] for row in rows)
