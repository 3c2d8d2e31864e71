"""Synthetic data loading: BulkLoader against the alternatives, in rows per second.

Run with ``python benchmarks/synthetic_load.py`` (``--help`` for the options).

One e-commerce schema (customers, products with a unique SKU, orders, order
lines; foreign keys and their indexes on), one scenario (``black-friday``, by
default at 100,000 orders), and these ways of filling it, each into a fresh
database:

* ``BulkLoader`` end to end: rows built from the factories' declarations and
  COPYed, generation included;
* ``psql \\copy`` of the very same rows from CSV files, in one transaction: the
  practical limit of the server for this schema;
* ``BulkLoader`` generation alone, without a database;
* Faker row generation alone: the same columns, one Faker call per value, as a
  hand-written generator does;
* factory_boy's ``SQLAlchemyModelFactory`` one object at a time (flushed one by
  one, committed at the end), the path applications use today, measured on a
  smaller count and reported per row.

Rates are compared with ``\\copy`` measured in the same run (best of the
rounds, interleaved), so they compare across machines where absolute rates do
not. The exit status is 1 when BulkLoader reaches less than ``--target`` of the
``\\copy`` rate (0.7 by default).
"""

# factory_boy's declarations have no annotations; mypy --strict would flag every call.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

import argparse
import datetime
import decimal
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

from factory.alchemy import SQLAlchemyModelFactory
from factory.declarations import LazyAttributeSequence, Sequence, SubFactory
from factory.faker import Faker
from faker import Faker as FakerGenerator
from sqlalchemy import ForeignKey, Numeric, String, Table, Text, UniqueConstraint
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship
from sqlalchemy.pool import NullPool

from fastapi_chassis.db import (
    Base,
    SoftDeleteMixin,
    TimestampMixin,
    UUIDv7PrimaryKeyMixin,
    VersionMixin,
    soft_unique_index,
)
from fastapi_chassis.synthetic import (
    BLACK_FRIDAY,
    AsyncSQLAlchemyFactory,
    BulkLoader,
    CommerceProvider,
    Planned,
    sku_for,
)
from fastapi_chassis.testing.postgres import (
    TEST_DATABASE_URL_ENV,
    create_database,
    drop_database,
    new_database_name,
    run_sync,
    start_server,
)

Money = Numeric(12, 2)


class Customer(UUIDv7PrimaryKeyMixin, TimestampMixin, SoftDeleteMixin, VersionMixin, Base):
    __tablename__ = "bench_customers"
    __table_args__ = (soft_unique_index("email"),)

    email: Mapped[str]
    first_name: Mapped[str]
    last_name: Mapped[str]
    address: Mapped[str] = mapped_column(Text)
    country_code: Mapped[str] = mapped_column(String(2))


class Product(UUIDv7PrimaryKeyMixin, TimestampMixin, SoftDeleteMixin, VersionMixin, Base):
    __tablename__ = "bench_products"
    __table_args__ = (soft_unique_index("sku"),)

    sku: Mapped[str]
    name: Mapped[str]
    price: Mapped[decimal.Decimal] = mapped_column(Money)


class Order(UUIDv7PrimaryKeyMixin, TimestampMixin, VersionMixin, Base):
    __tablename__ = "bench_orders"

    customer_id: Mapped[UUID] = mapped_column(ForeignKey("bench_customers.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    total: Mapped[decimal.Decimal] = mapped_column(Money)
    placed_at: Mapped[datetime.datetime]
    customer: Mapped[Customer] = relationship()


class OrderItem(UUIDv7PrimaryKeyMixin, TimestampMixin, Base):
    __tablename__ = "bench_order_items"
    __table_args__ = (UniqueConstraint("order_id", "product_id"),)

    order_id: Mapped[UUID] = mapped_column(ForeignKey("bench_orders.id"), index=True)
    product_id: Mapped[UUID] = mapped_column(ForeignKey("bench_products.id"), index=True)
    quantity: Mapped[int]
    unit_price: Mapped[decimal.Decimal] = mapped_column(Money)
    order: Mapped[Order] = relationship()
    product: Mapped[Product] = relationship()


TABLES: list[Table] = [
    model.__table__  # type: ignore[misc]
    for model in (Customer, Product, Order, OrderItem)
]
COPY_HEADER = "vs \\copy"
COPY_ORDER = ["bench_products", "bench_customers", "bench_orders", "bench_order_items"]


# -- the application's factories, as the loader uses them ---------------------


class CustomerFactory(AsyncSQLAlchemyFactory[Customer]):
    class Meta:
        model = Customer

    first_name = Faker("first_name")
    last_name = Faker("last_name")
    email = LazyAttributeSequence(lambda o, n: f"{o.first_name}.{o.last_name}.{n}@example.com")
    address = Faker("shipping_address")
    country_code = Planned("country_code", default="US")


class ProductFactory(AsyncSQLAlchemyFactory[Product]):
    class Meta:
        model = Product

    sku = Sequence(sku_for)
    name = Faker("product_name")
    price = Planned("price", default=Faker("price"))


class OrderFactory(AsyncSQLAlchemyFactory[Order]):
    class Meta:
        model = Order

    customer = SubFactory(CustomerFactory)
    status = Planned("status", default="placed")
    total = Planned("total", default=decimal.Decimal("0.00"))
    placed_at = Planned("placed_at", default=lambda: datetime.datetime.now(datetime.UTC))


class OrderItemFactory(AsyncSQLAlchemyFactory[OrderItem]):
    class Meta:
        model = OrderItem

    order = SubFactory(OrderFactory)
    product = SubFactory(ProductFactory)
    quantity = Planned("quantity", default=1)
    unit_price = Planned("unit_price", default=Faker("price"))


ROLES: dict[str, type] = {
    "customer": CustomerFactory,
    "product": ProductFactory,
    "order": OrderFactory,
    "order_item": OrderItemFactory,
}


# -- the same factories, the way factory_boy's SQLAlchemy integration runs them -


class SyncSession:
    """The session the synchronous factories save through (set per measurement)."""

    current: Session | None = None


class SyncCustomerFactory(SQLAlchemyModelFactory):
    class Meta:
        model = Customer
        sqlalchemy_session_factory = lambda: SyncSession.current  # noqa: E731
        sqlalchemy_session_persistence = "flush"

    first_name = Faker("first_name")
    last_name = Faker("last_name")
    email = LazyAttributeSequence(lambda o, n: f"{o.first_name}.{o.last_name}.{n}@example.com")
    address = Faker("shipping_address")
    country_code = "US"


class SyncProductFactory(SQLAlchemyModelFactory):
    class Meta:
        model = Product
        sqlalchemy_session_factory = lambda: SyncSession.current  # noqa: E731
        sqlalchemy_session_persistence = "flush"

    sku = Sequence(sku_for)
    name = Faker("product_name")
    price = Faker("price")


class SyncOrderItemFactory(SQLAlchemyModelFactory):
    class Meta:
        model = OrderItem
        sqlalchemy_session_factory = lambda: SyncSession.current  # noqa: E731
        sqlalchemy_session_persistence = "flush"

    quantity = 1
    unit_price = Faker("price")


class SyncOrderFactory(SQLAlchemyModelFactory):
    class Meta:
        model = Order
        sqlalchemy_session_factory = lambda: SyncSession.current  # noqa: E731
        sqlalchemy_session_persistence = "flush"

    status = "placed"
    total = Faker("price", median=60)
    placed_at = Faker("date_time", tzinfo=datetime.UTC)


# -- measurements ----------------------------------------------------------------


@dataclass
class Measurement:
    """One way of filling the schema and its best rate."""

    name: str
    rows: int = 0
    best_seconds: float = float("inf")

    @property
    def rate(self) -> float:
        return self.rows / self.best_seconds if self.rows else 0.0

    def record(self, rows: int, seconds: float) -> None:
        self.rows = rows
        self.best_seconds = min(self.best_seconds, seconds)


@contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    name = new_database_name("chassis_bench")
    url = create_database(server_url, name)
    try:
        run_sync(lambda: _create_schema(url))
        yield url
    finally:
        drop_database(server_url, name)


async def _create_schema(url: str) -> None:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(lambda sync: Base.metadata.create_all(sync, tables=TABLES))
    finally:
        await engine.dispose()


def measure_loader(url: str, scale: int) -> tuple[int, float]:
    loader = BulkLoader(url, ROLES)
    started = time.perf_counter()
    report = run_sync(lambda: loader.load(BLACK_FRIDAY, scale=scale, seed=1))
    return report.total_rows, time.perf_counter() - started


def measure_generation(scale: int) -> tuple[int, float]:
    loader = BulkLoader("postgresql://unused/unused", ROLES)
    started = time.perf_counter()
    rows = sum(len(part.rows) for part in loader.generate(BLACK_FRIDAY, scale=scale, seed=1))
    return rows, time.perf_counter() - started


def psql_command(url: URL, psql: str) -> tuple[list[str], dict[str, str]]:
    host = url.query.get("host") or url.host or "localhost"
    command = [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", str(host)]
    if url.port:
        command += ["-p", str(url.port)]
    if url.username:
        command += ["-U", url.username]
    command += ["-d", str(url.database)]
    environment = dict(os.environ)
    if url.password:
        environment["PGPASSWORD"] = str(url.password)
    return command, environment


def export_csv(url: str, psql: str, directory: Path) -> None:
    command, environment = psql_command(make_url(url), psql)
    script = directory / "export.sql"
    body = "".join(f"\\copy {table} TO '{directory / table}.csv' CSV\n" for table in COPY_ORDER)
    script.write_text(body)
    subprocess.run([*command, "-f", str(script)], env=environment, check=True)  # noqa: S603


def measure_copy(url: str, psql: str, directory: Path, rows: int) -> tuple[int, float]:
    command, environment = psql_command(make_url(url), psql)
    script = directory / "load.sql"
    body = "".join(f"\\copy {table} FROM '{directory / table}.csv' CSV\n" for table in COPY_ORDER)
    script.write_text(body)
    started = time.perf_counter()
    subprocess.run([*command, "-1", "-f", str(script)], env=environment, check=True)  # noqa: S603
    return rows, time.perf_counter() - started


def measure_factory_boy(url: str, orders: int) -> tuple[int, float]:
    sync_url = make_url(url).set(drivername="postgresql+psycopg2")
    engine = create_sync_engine(sync_url, poolclass=NullPool)
    counts = BLACK_FRIDAY.counts(orders)
    rng = random.Random(1)
    started = time.perf_counter()
    with Session(engine) as session:
        SyncSession.current = session
        products = [SyncProductFactory.create() for _ in range(counts.products)]
        customers = [SyncCustomerFactory.create() for _ in range(counts.customers)]
        rows = len(products) + len(customers)
        for _ in range(orders):
            order = SyncOrderFactory.create(customer=rng.choice(customers))
            lines = rng.choice((1, 2, 2, 3, 3, 4))
            for product in rng.sample(products, lines):
                SyncOrderItemFactory.create(order=order, product=product)
            rows += 1 + lines
        session.commit()
    seconds = time.perf_counter() - started
    SyncSession.current = None
    engine.dispose()
    return rows, seconds


def measure_faker(rows: int) -> tuple[int, float]:
    fake = FakerGenerator("en_US")
    fake.add_provider(CommerceProvider)
    fake.seed_instance(1)
    counts = BLACK_FRIDAY.counts(100_000)
    total = counts.expected_total
    share = {
        "product": counts.products / total,
        "customer": counts.customers / total,
        "order": counts.orders / total,
    }
    makers: list[tuple[float, Callable[[int], tuple[object, ...]]]] = [
        (share["product"], lambda n: (sku_for(n), fake.product_name(), fake.price())),
        (
            share["customer"],
            lambda n: (
                fake.first_name(),
                fake.last_name(),
                f"{n}-{fake.email()}",
                fake.shipping_address(),
                fake.country_code(),
            ),
        ),
        (
            share["order"],
            lambda _n: (
                fake.uuid4(),
                fake.random_element(("placed", "abandoned")),
                fake.price(median=60),
                fake.date_time(tzinfo=datetime.UTC),
            ),
        ),
        (
            1 - sum(share.values()),
            lambda _n: (fake.uuid4(), fake.uuid4(), fake.pyint(1, 3), fake.price()),
        ),
    ]
    started = time.perf_counter()
    made = 0
    for fraction, make in makers:
        for number in range(max(1, round(rows * fraction))):
            make(number)
            made += 1
    return made, time.perf_counter() - started


def server_url(option: str | None) -> tuple[str, Callable[[], None]]:
    url = option or os.environ.get(TEST_DATABASE_URL_ENV)
    if url:
        return url, lambda: None
    handle = start_server()
    return handle.url, handle.stop


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=int, default=100_000, help="orders (default 100,000)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds; best counts")
    parser.add_argument(
        "--factory-boy-orders", type=int, default=400, help="orders made one by one"
    )
    parser.add_argument("--faker-rows", type=int, default=20_000, help="rows Faker generates")
    parser.add_argument(
        "--database-url",
        help=f"a server to make databases on (default: ${TEST_DATABASE_URL_ENV}, "
        "else an embedded PostgreSQL)",
    )
    parser.add_argument("--target", type=float, default=0.7, help="BulkLoader / \\copy target")
    arguments = parser.parse_args(argv)

    psql = shutil.which("psql")
    url, stop = server_url(arguments.database_url)
    loader = Measurement("BulkLoader, end to end (COPY, generation included)")
    copy = Measurement("psql \\copy of the same rows from CSV")
    generation = Measurement("BulkLoader, generation only (no database)")
    faker = Measurement("Faker row generation alone (one call per value)")
    factory_boy = Measurement("factory_boy SQLAlchemyModelFactory, one by one")
    try:
        with tempfile.TemporaryDirectory() as temporary:
            directory = Path(temporary)
            for round_number in range(arguments.rounds):
                with fresh_database(url) as database:
                    loader.record(*measure_loader(database, arguments.scale))
                    if round_number == 0 and psql:
                        export_csv(database, psql, directory)
                if psql:
                    with fresh_database(url) as database:
                        copy.record(*measure_copy(database, psql, directory, loader.rows))
                generation.record(*measure_generation(arguments.scale))
            faker.record(*measure_faker(arguments.faker_rows))
            with fresh_database(url) as database:
                factory_boy.record(*measure_factory_boy(database, arguments.factory_boy_orders))
    finally:
        stop()

    reference = copy.rate or None
    print(
        f"black-friday at {arguments.scale:,} orders: {loader.rows:,} rows in 4 tables, "
        f"best of {arguments.rounds} rounds"
    )
    print(f"{'':<55}{'rows/s':>12}{COPY_HEADER:>10}")
    for measurement in (loader, copy, generation, faker, factory_boy):
        shown = f"{measurement.rate / reference:.2f}" if reference else "-"
        print(f"{measurement.name:<55}{measurement.rate:>12,.0f}{shown:>10}")
    print(
        f"BulkLoader is {loader.rate / factory_boy.rate:.1f} times factory_boy's one-by-one path "
        f"({factory_boy.rows:,} rows measured)"
    )
    if reference is None:
        print("psql is not on PATH: no \\copy reference, no target checked")
        return 0
    ratio = loader.rate / reference
    if ratio < arguments.target:
        print(f"MISSED: BulkLoader reached {ratio:.2f} of \\copy; the target is {arguments.target}")
        return 1
    print(f"ok: BulkLoader reached {ratio:.2f} of \\copy (target {arguments.target})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
