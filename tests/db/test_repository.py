from __future__ import annotations

import decimal
import uuid
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import registry

from fastapi_chassis.db import (
    MAX_PAGE_SIZE,
    AsyncRepository,
    ConcurrencyConflict,
    InvalidQuery,
    NotFound,
)
from fastapi_chassis.db.cursor import encode_cursor
from tests.db.models import Category, Counter, Product


@pytest.fixture
def repo(db_session: AsyncSession) -> AsyncRepository[Product]:
    return AsyncRepository(db_session, Product)


async def _products(repo: AsyncRepository[Product], count: int, **fields: object) -> list[Product]:
    made = []
    for number in range(count):
        values: dict[str, object] = {
            "sku": f"SKU-{number:03}",
            "name": f"product {number % 3}",
            "price": decimal.Decimal(number),
            "stock": number % 4,
        }
        values.update(fields)
        made.append(await repo.create(Product(**values)))
    return made


@pytest.mark.asyncio
async def test_create_flushes_and_loads_server_values(repo: AsyncRepository[Product]) -> None:
    product = await repo.create(Product(sku="A", name="a"))
    assert product.version == 1
    assert product.created_at is not None
    assert product.is_deleted is False


@pytest.mark.asyncio
async def test_get_finds_live_rows_and_refuses_deleted_or_absent_ones(
    repo: AsyncRepository[Product],
) -> None:
    product = await repo.create(Product(sku="A", name="a"))
    assert await repo.get(product.id) is product
    missing = uuid.uuid4()
    with pytest.raises(NotFound) as absent:
        await repo.get(missing)
    assert absent.value.identity == missing
    assert absent.value.entity == "Product"
    assert isinstance(absent.value, LookupError)
    await repo.soft_delete(product.id)
    with pytest.raises(NotFound):
        await repo.get(product.id)


@pytest.mark.asyncio
async def test_list_pages_through_everything_in_key_order(repo: AsyncRepository[Product]) -> None:
    made = await _products(repo, 23)
    seen: list[uuid.UUID] = []
    cursor = None
    pages = 0
    while True:
        page = await repo.list(limit=10, after=cursor)
        seen.extend(product.id for product in page.items)
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert pages == 3
    assert seen == sorted(product.id for product in made)


@pytest.mark.asyncio
async def test_a_full_last_page_has_no_next_cursor(repo: AsyncRepository[Product]) -> None:
    await _products(repo, 4)
    first = await repo.list(limit=2)
    assert first.next_cursor is not None
    second = await repo.list(limit=2, after=first.next_cursor)
    assert len(second.items) == 2
    assert second.next_cursor is None


@pytest.mark.asyncio
@pytest.mark.parametrize("ordering", ["name", "-name", "price", "-price", "-created_at", "-id"])
async def test_list_orders_by_a_column_with_the_key_breaking_ties(
    repo: AsyncRepository[Product], ordering: str
) -> None:
    made = await _products(repo, 9)
    field = ordering.removeprefix("-")
    descending = ordering.startswith("-")
    expected = sorted(made, key=lambda product: (getattr(product, field), product.id))
    if descending:
        expected.reverse()
    seen: list[uuid.UUID] = []
    cursor = None
    while True:
        page = await repo.list(limit=2, after=cursor, order_by=ordering)
        seen.extend(product.id for product in page.items)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == [product.id for product in expected]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("filters", "expected_numbers"),
    [
        ({"name": "product 1"}, [1, 4, 7]),
        ({"name__ne": "product 1"}, [0, 2, 3, 5, 6, 8]),
        ({"price__lt": 2}, [0, 1]),
        ({"price__le": "2"}, [0, 1, 2]),
        ({"price__gt": 7}, [8]),
        ({"price__ge": decimal.Decimal("7.00")}, [7, 8]),
        ({"stock__in": [0, 3]}, [0, 3, 4, 7, 8]),
        ({"stock__not_in": ["0", "1", "2"]}, [3, 7]),
        ({"note__isnull": False}, []),
        ({"note": None}, list(range(9))),
        ({"name__contains": "UCT 2"}, [2, 5, 8]),
        ({"sku__startswith": "sku-00"}, list(range(9))),
        ({"name": "product 2", "stock": 1}, [5]),
    ],
)
async def test_list_filters(
    repo: AsyncRepository[Product], filters: dict[str, Any], expected_numbers: list[int]
) -> None:
    made = await _products(repo, 9)
    page = await repo.list(limit=100, **filters)
    assert [product.id for product in page.items] == [
        made[number].id for number in expected_numbers
    ]


@pytest.mark.asyncio
async def test_like_wildcards_in_filter_values_are_matched_literally(
    repo: AsyncRepository[Product],
) -> None:
    await repo.create(Product(sku="P1", name="100% cotton"))
    await repo.create(Product(sku="P2", name="1000 cotton"))
    await repo.create(Product(sku="P3", name="a_b"))
    await repo.create(Product(sku="P4", name="axb"))
    assert [p.sku for p in (await repo.list(name__contains="0%")).items] == ["P1"]
    assert [p.sku for p in (await repo.list(name__contains="a_")).items] == ["P3"]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"colour": "red"}, "has no field 'colour'"),
        ({"name__near": "x"}, "unknown operator 'near'"),
        ({"price__gt": "cheap"}, "filter 'price__gt'"),
        ({"stock__in": "123"}, "expects a list"),
        ({"stock__in": 5}, "expects a list"),
        ({"note__isnull": "yes"}, "expects True or False"),
        ({"name__contains": 5}, "expects text"),
        ({"name__gt": None}, "not nullable"),
        ({"id": "not-a-uuid"}, "filter 'id'"),
        ({"stock__ge": 2**31}, "out of range for a 32-bit integer"),
        ({"stock__in": [1, -(2**31) - 1]}, "out of range"),
        ({"name": "nul\x00byte"}, "NUL"),
    ],
)
async def test_bad_filters_are_refused_before_any_sql(
    repo: AsyncRepository[Product], filters: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidQuery, match=message):
        await repo.list(**filters)


@pytest.mark.asyncio
async def test_bad_pagination_arguments_are_refused(repo: AsyncRepository[Product]) -> None:
    with pytest.raises(InvalidQuery, match="limit"):
        await repo.list(limit=0)
    with pytest.raises(InvalidQuery, match="limit"):
        await repo.list(limit=MAX_PAGE_SIZE + 1)
    with pytest.raises(InvalidQuery, match="nullable"):
        await repo.list(order_by="note")
    with pytest.raises(InvalidQuery, match="has no field"):
        await repo.list(order_by="-colour")
    with pytest.raises(InvalidQuery, match="malformed"):
        await repo.list(after="!!not base64!!")
    with pytest.raises(InvalidQuery, match="malformed"):
        await repo.list(after=encode_cursor("id", ("a", "b")))
    with pytest.raises(InvalidQuery, match="belongs to ordering 'name'"):
        await repo.list(after=encode_cursor("name", ("x", str(uuid.uuid4()))))
    with pytest.raises(InvalidQuery, match="cursor"):
        await repo.list(after=encode_cursor("id", ("not-a-uuid",)))


@pytest.mark.asyncio
async def test_list_can_show_deleted_rows(repo: AsyncRepository[Product]) -> None:
    live, dead = await _products(repo, 2)
    await repo.soft_delete(dead.id)
    assert [p.id for p in (await repo.list()).items] == [live.id]
    assert [p.id for p in (await repo.list(include_deleted=True)).items] == [live.id, dead.id]
    assert [p.id for p in (await repo.list(only_deleted=True)).items] == [dead.id]


@pytest.mark.asyncio
async def test_update_is_a_compare_and_swap_on_the_version(
    repo: AsyncRepository[Product], db_session: AsyncSession
) -> None:
    product = await repo.create(Product(sku="A", name="a", price=decimal.Decimal(1)))
    updated = await repo.update(product.id, {"name": "b", "price": "2.50"}, expected_version=1)
    # The session's object is the one returned, refreshed from RETURNING.
    assert updated is product
    assert (updated.name, updated.price, updated.version) == ("b", decimal.Decimal("2.50"), 2)
    with pytest.raises(ConcurrencyConflict) as conflict:
        await repo.update(product.id, {"name": "c"}, expected_version=1)
    assert (conflict.value.expected_version, conflict.value.actual_version) == (1, 2)
    db_session.expunge_all()
    assert (await repo.get(product.id)).name == "b"


@pytest.mark.asyncio
async def test_update_without_expected_version_always_applies(
    repo: AsyncRepository[Product],
) -> None:
    product = await repo.create(Product(sku="A", name="a"))
    await repo.update(product.id, {"name": "b"})
    updated = await repo.update(product.id, {"name": "c"})
    assert updated.version == 3


@pytest.mark.asyncio
async def test_update_with_no_values_checks_the_version_only(
    repo: AsyncRepository[Product],
) -> None:
    product = await repo.create(Product(sku="A", name="a"))
    assert await repo.update(product.id, {}, expected_version=1) is product
    with pytest.raises(ConcurrencyConflict):
        await repo.update(product.id, {}, expected_version=7)
    with pytest.raises(NotFound):
        await repo.update(uuid.uuid4(), {})


@pytest.mark.asyncio
async def test_update_refuses_deleted_and_absent_rows(repo: AsyncRepository[Product]) -> None:
    product = await repo.create(Product(sku="A", name="a"))
    await repo.soft_delete(product.id)
    with pytest.raises(NotFound):
        await repo.update(product.id, {"name": "b"}, expected_version=2)
    with pytest.raises(NotFound):
        await repo.update(uuid.uuid4(), {"name": "b"})


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"colour": "red"}, "has no field 'colour'"),
        ({"version": 9}, "maintained by the server"),
        ({"updated_at": None}, "maintained by the server"),
        ({"deleted_at": None}, "maintained by the server"),
        ({"id": uuid.uuid4()}, "maintained by the server"),
        ({"stock": "many"}, "Product.stock"),
        ({"stock": 2**40}, "out of range"),
        ({"note": "a\x00b"}, "NUL"),
        ({"name": None}, "not nullable"),
    ],
)
async def test_update_refuses_bad_values(
    repo: AsyncRepository[Product], values: dict[str, object], message: str
) -> None:
    product = await repo.create(Product(sku="A", name="a"))
    with pytest.raises(InvalidQuery, match=message):
        await repo.update(product.id, values)


@pytest.mark.asyncio
async def test_soft_delete_and_restore(repo: AsyncRepository[Product]) -> None:
    product = await repo.create(Product(sku="A", name="a"))
    with pytest.raises(ConcurrencyConflict):
        await repo.soft_delete(product.id, expected_version=5)
    deleted = await repo.soft_delete(product.id, expected_version=1)
    assert deleted.is_deleted is True
    assert deleted.version == 2
    with pytest.raises(NotFound):
        await repo.soft_delete(product.id)
    with pytest.raises(ConcurrencyConflict):
        await repo.restore(product.id, expected_version=1)
    restored = await repo.restore(product.id, expected_version=2)
    assert restored.deleted_at is None
    assert restored.version == 3
    # Restoring a live row is a no-op that returns it.
    assert (await repo.restore(product.id)).version == 3
    with pytest.raises(ConcurrencyConflict):
        await repo.restore(product.id, expected_version=1)
    with pytest.raises(NotFound):
        await repo.restore(uuid.uuid4())


@pytest.mark.asyncio
async def test_delete_removes_live_and_deleted_rows_for_good(
    repo: AsyncRepository[Product], db_session: AsyncSession
) -> None:
    live, dead = await _products(repo, 2)
    await repo.soft_delete(dead.id)
    await repo.delete(live.id, expected_version=1)
    await repo.delete(dead.id)
    remaining = select(Product.id).execution_options(include_deleted=True)
    assert (await db_session.scalars(remaining)).all() == []
    with pytest.raises(NotFound):
        await repo.delete(live.id)


@pytest.mark.asyncio
async def test_delete_checks_the_version(repo: AsyncRepository[Product]) -> None:
    product = await repo.create(Product(sku="A", name="a"))
    with pytest.raises(ConcurrencyConflict) as conflict:
        await repo.delete(product.id, expected_version=3)
    assert conflict.value.actual_version == 1


@pytest.mark.asyncio
async def test_models_without_soft_delete_or_version(db_session: AsyncSession) -> None:
    categories = AsyncRepository(db_session, Category)
    category = await categories.create(Category(name="c"))
    # No version column: expected_version has nothing to compare with.
    assert (await categories.update(category.id, {"name": "d"}, expected_version=99)).name == "d"
    counters = AsyncRepository(db_session, Counter)
    counter = await counters.create(Counter(value=1))
    with pytest.raises(TypeError, match="no SoftDeleteMixin"):
        await counters.soft_delete(counter.id)
    await counters.delete(counter.id)
    with pytest.raises(NotFound):
        await counters.delete(counter.id)


def test_composite_primary_keys_are_refused() -> None:
    mapper_registry = registry(metadata=MetaData())
    table = Table(
        "pairs",
        mapper_registry.metadata,
        Column("a", Integer, primary_key=True),
        Column("b", Integer, primary_key=True),
    )

    class Pair:
        pass

    mapper_registry.map_imperatively(Pair, table)
    with pytest.raises(TypeError, match="single-column primary key"):
        AsyncRepository(None, Pair)  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_filters_can_come_as_a_mapping_and_as_keywords(
    repo: AsyncRepository[Product],
) -> None:
    made = await _products(repo, 9)
    query: dict[str, object] = {"stock__in": ["0", "3"]}
    page = await repo.list(filters=query, name="product 0")
    assert [product.id for product in page.items] == [made[0].id, made[3].id]
