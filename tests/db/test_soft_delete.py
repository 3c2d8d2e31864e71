from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import pytest
import pytest_asyncio
from hypothesis import settings
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.orm import joinedload, selectinload, subqueryload
from sqlalchemy.pool import NullPool
from typing_extensions import override

from fastapi_chassis.db import AsyncRepository, NotFound, RestoreConflict
from tests.db.models import Category, Product, Tag


def _soft_delete_state(product: Product) -> tuple[object, object]:
    return product.deleted_at, product.is_deleted


@pytest_asyncio.fixture
async def catalogue(db_session: AsyncSession) -> AsyncIterator[dict[str, Any]]:
    """A category with a live and a deleted product, each tagged live and deleted."""
    live_category = Category(name="live")
    dead_category = Category(name="dead")
    live_tag, dead_tag = Tag(label="live"), Tag(label="dead")
    live = Product(sku="L", name="live", category=live_category, tags=[live_tag, dead_tag])
    dead = Product(sku="D", name="dead", category=live_category, tags=[live_tag])
    orphan = Product(sku="O", name="in dead category", category=dead_category)
    db_session.add_all([live, dead, orphan])
    await db_session.flush()
    dead.soft_delete()
    dead_tag.soft_delete()
    dead_category.soft_delete()
    await db_session.commit()
    db_session.expunge_all()
    yield {
        "live": live.id,
        "dead": dead.id,
        "orphan": orphan.id,
        "live_category": live_category.id,
        "dead_category": dead_category.id,
        "live_tag": live_tag.id,
        "dead_tag": dead_tag.id,
    }


@pytest.mark.asyncio
async def test_select_hides_deleted_rows(
    db_session: AsyncSession, catalogue: dict[str, UUID]
) -> None:
    ids = set((await db_session.scalars(select(Product.id))).all())
    assert ids == {catalogue["live"], catalogue["orphan"]}
    count = (await db_session.execute(select(func.count()).select_from(Product))).scalar_one()
    assert count == 2


@pytest.mark.asyncio
async def test_session_get_hides_rows_deleted_before_they_entered_the_session(
    db_session: AsyncSession, catalogue: dict[str, UUID]
) -> None:
    assert await db_session.get(Product, catalogue["dead"]) is None
    assert await db_session.get(Product, catalogue["live"]) is not None


@pytest.mark.asyncio
async def test_an_object_deleted_in_the_session_stays_in_its_identity_map(
    db_session: AsyncSession, catalogue: dict[str, UUID]
) -> None:
    product = await db_session.get(Product, catalogue["live"])
    assert product is not None
    product.soft_delete()
    await db_session.flush()
    # Documented: the identity map answers get() without asking the database...
    assert await db_session.get(Product, catalogue["live"]) is product
    # ...but queries ask the database, and hide it.
    assert catalogue["live"] not in set((await db_session.scalars(select(Product.id))).all())
    # Refreshing the deleted object still works (column loads are not filtered).
    await db_session.refresh(product)
    assert product.is_deleted is True


@pytest.mark.asyncio
@pytest.mark.parametrize("loader", [selectinload, joinedload, subqueryload])
async def test_eager_loaded_one_to_many_hides_deleted_children(
    db_session: AsyncSession, catalogue: dict[str, UUID], loader: Any
) -> None:
    statement = select(Category).options(loader(Category.products))
    categories = (await db_session.scalars(statement)).unique().all()
    assert [category.id for category in categories] == [catalogue["live_category"]]
    assert {product.id for product in categories[0].products} == {catalogue["live"]}


@pytest.mark.asyncio
async def test_lazy_loaded_one_to_many_hides_deleted_children(
    db_session: AsyncSession, catalogue: dict[str, UUID]
) -> None:
    category = await db_session.get(Category, catalogue["live_category"])
    assert category is not None
    products = await db_session.run_sync(lambda _: list(category.products))
    assert {product.id for product in products} == {catalogue["live"]}


@pytest.mark.asyncio
@pytest.mark.parametrize("loader", [None, selectinload, joinedload])
async def test_many_to_one_pointing_at_a_deleted_row_loads_as_none(
    db_session: AsyncSession, catalogue: dict[str, UUID], loader: Any
) -> None:
    statement = select(Product).where(Product.id == catalogue["orphan"])
    if loader is not None:
        statement = statement.options(loader(Product.category))
    product = (await db_session.scalars(statement)).one()
    category = await db_session.run_sync(lambda _: product.category)
    assert category is None


@pytest.mark.asyncio
@pytest.mark.parametrize("loader", [None, selectinload, joinedload, subqueryload])
async def test_many_to_many_through_a_secondary_table_hides_deleted_targets(
    db_session: AsyncSession, catalogue: dict[str, UUID], loader: Any
) -> None:
    statement = select(Product).where(Product.id == catalogue["live"])
    if loader is not None:
        statement = statement.options(loader(Product.tags))
    product = (await db_session.scalars(statement)).unique().one()
    tags = await db_session.run_sync(lambda _: list(product.tags))
    assert [tag.id for tag in tags] == [catalogue["live_tag"]]


@pytest.mark.asyncio
async def test_any_and_has_criteria_ignore_deleted_rows(
    db_session: AsyncSession, catalogue: dict[str, UUID]
) -> None:
    # The only product named "dead" is deleted: no category has one.
    with_dead = select(Category.id).where(Category.products.any(Product.name == "dead"))
    assert (await db_session.scalars(with_dead)).all() == []
    # The orphan's category is deleted: has() must not match it.
    in_dead_category = select(Product.id).where(Product.category.has(Category.name == "dead"))
    assert (await db_session.scalars(in_dead_category)).all() == []
    tagged_dead = select(Product.id).where(Product.tags.any(Tag.label == "dead"))
    assert (await db_session.scalars(tagged_dead)).all() == []


@pytest.mark.asyncio
async def test_explicit_joins_hide_deleted_rows(
    db_session: AsyncSession, catalogue: dict[str, UUID]
) -> None:
    statement = select(Product.id).join(Product.category).where(Category.name == "dead")
    assert (await db_session.scalars(statement)).all() == []


@pytest.mark.asyncio
async def test_include_deleted_shows_everything(
    db_session: AsyncSession, catalogue: dict[str, UUID]
) -> None:
    statement = select(Product.id).execution_options(include_deleted=True)
    assert set((await db_session.scalars(statement)).all()) == {
        catalogue["live"],
        catalogue["dead"],
        catalogue["orphan"],
    }
    # Session-wide, as for any execution option.
    found = await db_session.get(
        Product, catalogue["dead"], execution_options={"include_deleted": True}
    )
    assert found is not None
    assert found.is_deleted is True


@pytest.mark.asyncio
async def test_only_deleted_is_a_trash_view(
    db_session: AsyncSession, catalogue: dict[str, UUID]
) -> None:
    statement = select(Product).execution_options(only_deleted=True)
    trash = (await db_session.scalars(statement)).all()
    assert [product.id for product in trash] == [catalogue["dead"]]
    # Relationships loaded afterwards show live rows as usual.
    category = await db_session.run_sync(lambda _: trash[0].category)
    assert category is not None
    assert category.id == catalogue["live_category"]


@pytest.mark.asyncio
async def test_core_and_text_statements_are_not_filtered(
    db_session: AsyncSession, catalogue: dict[str, UUID]
) -> None:
    table = Product.__table__
    assert len((await db_session.execute(select(table.c.id))).all()) == 3
    assert (await db_session.execute(text("SELECT count(*) FROM t_products"))).scalar_one() == 3


@pytest.mark.asyncio
async def test_soft_delete_sets_the_server_time_and_is_deleted_follows(
    db_session: AsyncSession,
) -> None:
    product = Product(sku="S", name="s")
    db_session.add(product)
    await db_session.flush()
    assert _soft_delete_state(product) == (None, False)
    product.soft_delete()
    await db_session.flush()
    # Loaded back with the UPDATE: reading it needs no lazy load in async code.
    now = (await db_session.execute(select(func.now()))).scalar_one()
    assert _soft_delete_state(product) == (now, True)
    product.soft_delete()
    await db_session.flush()
    assert _soft_delete_state(product) == (now, True)
    product.restore()
    await db_session.flush()
    assert _soft_delete_state(product) == (None, False)


@pytest.mark.asyncio
async def test_is_deleted_is_a_stored_generated_column(db_session: AsyncSession) -> None:
    row = (
        await db_session.execute(
            text(
                "SELECT is_generated, generation_expression FROM information_schema.columns "
                "WHERE table_name = 't_products' AND column_name = 'is_deleted'"
            )
        )
    ).one()
    assert row.is_generated == "ALWAYS"
    assert "deleted_at IS NOT NULL" in row.generation_expression
    attgenerated = (
        await db_session.execute(
            text(
                "SELECT attgenerated::text FROM pg_attribute "
                "WHERE attrelid = 't_products'::regclass AND attname = 'is_deleted'"
            )
        )
    ).scalar_one()
    assert attgenerated == "s"


@pytest.mark.asyncio
async def test_soft_unique_index_lets_a_new_row_reuse_a_deleted_key(
    db_session: AsyncSession,
) -> None:
    first = Product(sku="DUP", name="first")
    db_session.add(first)
    await db_session.flush()
    first.soft_delete()
    await db_session.flush()
    second = Product(sku="DUP", name="second")
    db_session.add(second)
    await db_session.flush()
    definition = (
        await db_session.execute(
            text("SELECT indexdef FROM pg_indexes WHERE indexname = 'uq_t_products_sku_live'")
        )
    ).scalar_one()
    assert "UNIQUE" in definition
    assert "WHERE (deleted_at IS NULL)" in definition


@pytest.mark.asyncio
async def test_restoring_onto_a_taken_key_raises_restore_conflict_from_the_instance(
    db_session: AsyncSession,
) -> None:
    first = Product(sku="TAKEN", name="first")
    db_session.add(first)
    await db_session.flush()
    first.soft_delete()
    await db_session.flush()
    db_session.add(Product(sku="TAKEN", name="second"))
    await db_session.commit()
    first.restore()
    with pytest.raises(RestoreConflict) as conflict:
        await db_session.flush()
    assert conflict.value.table == "t_products"
    assert conflict.value.constraint == "uq_t_products_sku_live"
    assert "TAKEN" in str(conflict.value)


@pytest.mark.asyncio
async def test_restoring_onto_a_taken_key_raises_restore_conflict_from_the_repository(
    db_session: AsyncSession,
) -> None:
    repo = AsyncRepository(db_session, Product)
    first_id = (await repo.create(Product(sku="TAKEN2", name="first"))).id
    await repo.soft_delete(first_id)
    await repo.create(Product(sku="TAKEN2", name="second"))
    await db_session.commit()
    with pytest.raises(RestoreConflict):
        await repo.restore(first_id)
    await db_session.rollback()
    # The conflicting restore changed nothing.
    db_session.expunge_all()
    assert await db_session.get(Product, first_id) is None


@pytest.mark.asyncio
async def test_other_unique_violations_are_left_alone(db_session: AsyncSession) -> None:
    from sqlalchemy.exc import IntegrityError

    db_session.add_all([Product(sku="ONE", name="a"), Product(sku="TWO", name="b")])
    await db_session.flush()
    statement = update(Product).where(Product.sku == "TWO").values(sku="ONE")
    with pytest.raises(IntegrityError):
        await db_session.execute(statement)


# -- property: any sequence of operations agrees with a simple model ----------------


class SoftDeleteMachine(RuleBasedStateMachine):
    """Drives the repository and checks every read path against a dict of states."""

    database_url = ""
    ids = Bundle("ids")

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.state: dict[UUID, str] = {}  # id -> "live" | "deleted"; absent = hard-deleted
        self.known: set[UUID] = set()
        self.loop.run_until_complete(self._open())

    async def _open(self) -> None:
        self.engine = create_async_engine(self.database_url, poolclass=NullPool)
        self.connection = await self.engine.connect()
        self.transaction = await self.connection.begin()
        self.session = AsyncSession(bind=self.connection, expire_on_commit=False)
        self.repo = AsyncRepository(self.session, Tag)

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    @rule(target=ids)
    def create(self) -> UUID:
        tag: Tag = self.run(self.repo.create(Tag(label="t")))
        self.state[tag.id] = "live"
        self.known.add(tag.id)
        return tag.id

    @rule(identity=ids)
    def soft_delete(self, identity: UUID) -> None:
        if self.state.get(identity) == "live":
            self.run(self.repo.soft_delete(identity))
            self.state[identity] = "deleted"
        else:
            with pytest.raises(NotFound):
                self.run(self.repo.soft_delete(identity))

    @rule(identity=ids)
    def restore(self, identity: UUID) -> None:
        if identity in self.state:
            restored = self.run(self.repo.restore(identity))
            assert restored.deleted_at is None
            self.state[identity] = "live"
        else:
            with pytest.raises(NotFound):
                self.run(self.repo.restore(identity))

    @rule(identity=ids)
    def delete(self, identity: UUID) -> None:
        if identity in self.state:
            self.run(self.repo.delete(identity))
            del self.state[identity]
        else:
            with pytest.raises(NotFound):
                self.run(self.repo.delete(identity))

    @invariant()
    def every_read_path_agrees(self) -> None:
        self.run(self._check())

    async def _check(self) -> None:
        session, repo = self.session, self.repo
        session.expunge_all()
        live = {identity for identity, status in self.state.items() if status == "live"}
        deleted = {identity for identity, status in self.state.items() if status == "deleted"}
        listed = {tag.id for tag in (await repo.list(limit=1000)).items} & self.known
        assert listed == live
        everything = select(Tag.id).execution_options(include_deleted=True)
        assert set((await session.scalars(everything)).all()) & self.known == live | deleted
        trash = select(Tag.id).execution_options(only_deleted=True)
        assert set((await session.scalars(trash)).all()) & self.known == deleted
        for identity in self.known:
            assert ((await session.get(Tag, identity)) is not None) == (identity in live)
            if identity not in live:
                with pytest.raises(NotFound):
                    await repo.get(identity)

    @override
    def teardown(self) -> None:
        async def close() -> None:
            await self.session.close()
            await self.transaction.rollback()
            await self.connection.close()
            await self.engine.dispose()

        self.run(close())
        self.loop.close()


def test_any_sequence_of_operations_agrees_with_a_model(chassis_database_url: str) -> None:
    SoftDeleteMachine.database_url = chassis_database_url
    run_state_machine_as_test(
        SoftDeleteMachine,
        settings=settings(max_examples=30, stateful_step_count=20, deadline=None),
    )
