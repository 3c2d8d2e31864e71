import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.db.models import Product


@pytest.mark.asyncio
async def test_insert_and_select(db_session: AsyncSession) -> None:
    product = Product(sku="A", name="a")
    db_session.add(product)
    await db_session.commit()
    assert (await db_session.scalars(select(Product))).one().version == 1
