"""Test support for applications built on fastapi-chassis, shipped as a pytest plugin.

Installing ``fastapi-chassis[testing]`` registers the plugin (entry point
``pytest11``). It stays inert until a test asks for one of its fixtures:

``db_session``
    An :class:`~sqlalchemy.ext.asyncio.AsyncSession` in a transaction that is
    rolled back after the test, including whatever the code under test
    committed (it commits to a SAVEPOINT).
``db_engine``
    An :class:`~sqlalchemy.ext.asyncio.AsyncEngine` on the test database, made on
    the test's event loop.
``chassis_database_url``
    The URL of the session's database, created fresh with the schema and dropped
    at the end.
``chassis_metadata``
    The :class:`~sqlalchemy.MetaData` whose tables the database gets; set the
    ``chassis_metadata`` ini option (``module:attribute``) or override the fixture.
``chassis_postgres``
    The server: ``CHASSIS_TEST_DATABASE_URL``, else a Docker container, else an
    embedded PostgreSQL 18 (see :mod:`fastapi_chassis.testing.postgres`).

Inside a rolled-back test transaction ``now()`` is the time the transaction
started: every row written by one test gets the same timestamps.
"""
