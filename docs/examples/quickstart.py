"""A model built from the chassis mixins, used through AsyncRepository.

Run it against a scratch database (it creates a ``products`` table):

    CHASSIS_DATABASE_URL=postgresql://postgres@localhost:5432/scratch python quickstart.py
"""

from __future__ import annotations

import asyncio

from sqlalchemy.orm import Mapped

from fastapi_chassis import ChassisSettings
from fastapi_chassis.db import (
    AsyncRepository,
    Base,
    ConcurrencyConflict,
    NotFound,
    SoftDeleteMixin,
    TimestampMixin,
    UUIDv7PrimaryKeyMixin,
    VersionMixin,
    create_engine,
    create_sessionmaker,
    soft_unique_index,
)


# --8<-- [start:models]
class Product(UUIDv7PrimaryKeyMixin, TimestampMixin, SoftDeleteMixin, VersionMixin, Base):
    __tablename__ = "products"
    # A deleted product's SKU can be reused by a new product.
    __table_args__ = (soft_unique_index("sku"),)

    sku: Mapped[str]
    name: Mapped[str]


# --8<-- [end:models]


async def main() -> None:
    settings = ChassisSettings()  # reads CHASSIS_DATABASE_URL
    engine = create_engine(settings)
    async with engine.begin() as connection:
        # Creates the table and the server-side functions and triggers it needs.
        await connection.run_sync(Base.metadata.create_all)

    sessionmaker = create_sessionmaker(engine)
    async with sessionmaker() as session:
        products = AsyncRepository(session, Product)

        mug = Product(sku="MUG-1", name="Mug")
        print(mug.id.version)  # 7: the id exists before the row does
        mug = await products.create(mug)
        print(mug.version, mug.created_at)  # 1, set by the server

        mug = await products.update(mug.id, {"name": "Large mug"}, expected_version=1)
        try:
            await products.update(mug.id, {"name": "Stale edit"}, expected_version=1)
        except ConcurrencyConflict as conflict:
            print(conflict.expected_version, conflict.actual_version)  # 1 2

        page = await products.list(limit=20, name__contains="mug")
        print([product.name for product in page.items], page.next_cursor)

        await products.soft_delete(mug.id)
        try:
            await products.get(mug.id)
        except NotFound:
            print("deleted rows are hidden")
        await products.restore(mug.id)
        await session.commit()

    await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
