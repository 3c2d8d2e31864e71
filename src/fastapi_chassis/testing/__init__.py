"""Test support for applications built on fastapi-chassis, shipped as a pytest plugin.

Installing ``fastapi-chassis[testing]`` registers the plugin (entry point
``pytest11``). It stays inert until a test asks for one of its fixtures:

- `db_session`: an `AsyncSession` in a transaction that is rolled back after
  the test, including whatever the code under test committed (it commits to a
  SAVEPOINT).
- `db_engine`: an `AsyncEngine` on the test database that pools nothing, so
  its connections live on the event loop that opened them.
- `chassis_database_url`: the URL of the session's database, created fresh
  with the schema and dropped at the end.
- `chassis_metadata`: the `MetaData` whose tables the database gets; set the
  `chassis_metadata` ini option (`module:attribute`) or override the fixture.
- `chassis_postgres`: the server: `CHASSIS_TEST_DATABASE_URL`, else a Docker
  container, else an embedded PostgreSQL 18 (see
  `fastapi_chassis.testing.postgres`).

``db_session`` is opened on the event loop pytest-asyncio gives function-scoped
async fixtures (``asyncio_default_fixture_loop_scope``), and a connection cannot
cross event loops: set ``asyncio_default_test_loop_scope`` to the same value (both
``function``, or both ``session``). A test whose loop differs fails at setup,
saying so.

Without pytest-asyncio the fixtures still exist, and fail with what to install.
The embedded server is stopped and its data directory deleted at the end of the
session, and also when the test process dies without its teardown.

Inside a rolled-back test transaction ``now()`` is the time the transaction
started: every row written by one test gets the same timestamps.
"""
