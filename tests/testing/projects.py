"""A small application, written as a project using the plugin would write it.

The inner test sessions get these files; each test adds its own ``pytest.ini``
and test modules. The application: customers, products (versioned, audited),
orders that record ``shop.order.placed``, factories for all three, and routes
that commit, fail, log and record events.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    import pytest

MODELS = '''
from uuid import UUID

from sqlalchemy import ForeignKey
from sqlalchemy.orm import Mapped, mapped_column, relationship

import fastapi_chassis.events  # noqa: F401 - the outbox table
from fastapi_chassis.db import (
    AuditMixin,
    Base,
    TimestampMixin,
    UUIDv7PrimaryKeyMixin,
    VersionMixin,
)


class Customer(UUIDv7PrimaryKeyMixin, TimestampMixin, Base):
    __tablename__ = "customers"

    email: Mapped[str] = mapped_column(unique=True)


class Product(UUIDv7PrimaryKeyMixin, TimestampMixin, VersionMixin, AuditMixin, Base):
    __tablename__ = "products"

    name: Mapped[str]
    price_cents: Mapped[int]


class Order(UUIDv7PrimaryKeyMixin, TimestampMixin, Base):
    __tablename__ = "orders"

    customer_id: Mapped[UUID] = mapped_column(ForeignKey("customers.id"))
    customer: Mapped[Customer] = relationship(lazy="selectin")
    total_cents: Mapped[int] = mapped_column(default=0)


class Currency(Base):
    """Reference data: the migrations load its rows."""

    __tablename__ = "currencies"

    code: Mapped[str] = mapped_column(primary_key=True)
    name: Mapped[str]
'''

EVENTS = """
from typing import ClassVar
from uuid import UUID

from fastapi_chassis.events import DomainEvent


class OrderPlaced(DomainEvent):
    event_type: ClassVar[str] = "shop.order.placed"
    schema_version: ClassVar[str] = "1.0"

    total_cents: int
    customer_id: UUID
"""

FACTORIES = """
import factory

from fastapi_chassis.synthetic import AsyncSQLAlchemyFactory
from shop_models import Customer, Order, Product


class CustomerFactory(AsyncSQLAlchemyFactory[Customer]):
    class Meta:
        model = Customer

    email = factory.Sequence(lambda n: f"customer{n}@example.com")


class ProductFactory(AsyncSQLAlchemyFactory[Product]):
    class Meta:
        model = Product

    name = factory.Sequence(lambda n: f"Product {n}")
    price_cents = 1200


class OrderFactory(AsyncSQLAlchemyFactory[Order]):
    class Meta:
        model = Order

    customer = factory.SubFactory(CustomerFactory)
    total_cents = 2400
"""

APP = """
import logging
import os
from pathlib import Path
from uuid import UUID

import structlog
from fastapi import APIRouter, HTTPException
from pydantic import BaseModel
from sqlalchemy import select

from fastapi_chassis import ChassisSettings, create_app, hookimpl
from fastapi_chassis.api import SessionDep
from fastapi_chassis.events import record_event
from shop_events import OrderPlaced
from shop_factories import CustomerFactory, OrderFactory, ProductFactory
from shop_models import Base, Order, Product

router = APIRouter()
log = structlog.get_logger("shop")


class OrderIn(BaseModel):
    customer_id: UUID
    total_cents: int


@router.post("/orders", status_code=201)
async def place_order(body: OrderIn, session: SessionDep) -> dict[str, str]:
    order = Order(customer_id=body.customer_id, total_cents=body.total_cents)
    session.add(order)
    await record_event(
        session,
        OrderPlaced(
            aggregate_id=order.id, total_cents=body.total_cents, customer_id=body.customer_id
        ),
    )
    log.info("order placed", order_id=str(order.id), total_cents=body.total_cents)
    logging.getLogger("shop.audit").warning("order %s placed", order.id)
    return {"id": str(order.id)}


@router.get("/orders/count")
async def count_orders(session: SessionDep) -> dict[str, int]:
    rows = await session.scalars(select(Order.id))
    return {"count": len(rows.all())}


@router.post("/products/{name}/fail")
async def create_then_fail(name: str, session: SessionDep) -> None:
    session.add(Product(name=name, price_cents=1))
    await session.flush()
    raise HTTPException(status_code=422, detail="refused after writing")


class ShopPlugin:
    name = "shop"

    @hookimpl
    def chassis_routers(self, version, settings):
        return [router]

    @hookimpl
    def chassis_event_types(self):
        return [OrderPlaced]

    @hookimpl
    def chassis_factories(self):
        return {"customer": CustomerFactory, "product": ProductFactory, "order": OrderFactory}

    @hookimpl
    def chassis_metadata(self):
        return Base.metadata

    @hookimpl
    def chassis_startup(self, app):
        settings = app.state.chassis.settings
        line = (
            f"{os.getpid()} {settings.database_url.get_secret_value()} "
            f"{settings.events_listen_url}\\n"
        )
        with Path("lifespans.log").open("a") as lifespans:
            lifespans.write(line)


def make_app():
    return create_app(
        ChassisSettings(
            service_name="shop",
            events_relay_enabled=True,
            events_poll_interval=0.05,
            # A server that does not exist: the tests must never reach it.
            events_listen_url="postgresql://nobody@db.invalid:5432/elsewhere",
        ),
        plugins=[ShopPlugin()],
    )
"""


def write_shop(pytester: pytest.Pytester, models: str = MODELS) -> None:
    """Put the shop's modules in the inner session's directory."""
    pytester.makepyfile(
        shop_models=models, shop_events=EVENTS, shop_factories=FACTORIES, shop_app=APP
    )


#: What every inner session of the shop puts in its ``pytest.ini``.
SHOP_INI = {
    "chassis_app": "shop_app:make_app",
    "pythonpath": ".",
}

ALEMBIC_INI = """[alembic]
script_location = migrations
path_separator = os
"""

# Alembic's async template, with the lines the chassis recipe adds.
ENV_PY = """
import asyncio
import os

from alembic import context
from alembic_utils.replaceable_entity import register_entities
from sqlalchemy import pool
from sqlalchemy.ext.asyncio import create_async_engine

from fastapi_chassis.db.migrations import (
    chassis_entities,
    include_object,
    process_revision_directives,
)
from shop_models import Base

config = context.config
target_metadata = Base.metadata
register_entities(chassis_entities(target_metadata))


def do_run_migrations(connection):
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=include_object,
        process_revision_directives=process_revision_directives,
    )
    with context.begin_transaction():
        context.run_migrations()


async def main():
    url = config.get_main_option("sqlalchemy.url") or os.environ["CHASSIS_DATABASE_URL"]
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(do_run_migrations)
    finally:
        await engine.dispose()


asyncio.run(main())
"""

SCRIPT_MAKO = '''"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
"""

from alembic import op
import sqlalchemy as sa
${imports if imports else ""}

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = ${repr(branch_labels)}
depends_on = ${repr(depends_on)}


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    ${downgrades if downgrades else "pass"}
'''

SEED_REVISION = '''"""Load the currencies.

Revision ID: {revision}
Revises: {down_revision}
"""

from alembic import op

revision = "{revision}"
down_revision = "{down_revision}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("INSERT INTO currencies (code, name) VALUES ('EUR', 'Euro'), ('USD', 'US dollar')")


def downgrade() -> None:
    {downgrade}
'''
SEED = "5eed00000001"


def write_migrations(
    directory: Path,
    initial: tuple[str, str],
    *,
    seed_downgrade: str = 'op.execute("DELETE FROM currencies")',
    extra: dict[str, str] | None = None,
) -> None:
    """Write an Alembic project: ``alembic.ini``, ``env.py`` and the revisions.

    Args:
        directory: The project directory.
        initial: The autogenerated first revision: its id and its file.
        seed_downgrade: The body of the seed revision's downgrade.
        extra: Further revision files, by file name.
    """
    (directory / "alembic.ini").write_text(ALEMBIC_INI)
    versions = directory / "migrations" / "versions"
    versions.mkdir(parents=True, exist_ok=True)
    (directory / "migrations" / "env.py").write_text(ENV_PY)
    (directory / "migrations" / "script.py.mako").write_text(SCRIPT_MAKO)
    revision, text = initial
    (versions / f"{revision}_create.py").write_text(text)
    seed = SEED_REVISION.format(revision=SEED, down_revision=revision, downgrade=seed_downgrade)
    (versions / f"{SEED}_seed.py").write_text(seed)
    for name, body in (extra or {}).items():
        (versions / name).write_text(body)
