"""schemathesis against every version's OpenAPI document: no 5xx, no off-schema answer.

schemathesis generates requests from each version's document and sends them to
the shop in process; the shop runs its lifespan and commits to the test
database. Every response to a valid request must match the schema its document
gives for its status and content type; no response at all may be a server error,
whatever garbage the request held.

Invalid requests to version 2 are checked for server errors only: a request
without the ``X-API-Version`` header its document requires is served by the
default version 1 (see the chassis's API versioning guide), whose bodies that
document does not describe.
"""

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi_chassis import ChassisSettings
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.core.result import Ok
from schemathesis.python import asgi

from shop.main import create_shop_app

pytestmark = pytest.mark.slow

CONTRACT = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.response_schema_conformance,
]
CHECKS = {
    ("1", GenerationMode.POSITIVE): CONTRACT,
    ("1", GenerationMode.NEGATIVE): CONTRACT,
    ("2", GenerationMode.POSITIVE): CONTRACT,
    ("2", GenerationMode.NEGATIVE): [schemathesis.checks.not_a_server_error],
}
EXAMPLES = 15
OPERATIONS = 25


@pytest.fixture(scope="module")
def shop_schemas(chassis_database_url: str) -> Iterator[dict[str, Any]]:
    app = create_shop_app(ChassisSettings(database_url=chassis_database_url, log_configure=False))
    yield {
        version: schemathesis.openapi.from_asgi(f"/openapi/v{version}.json", app)
        for version in ("1", "2")
    }
    # schemathesis keeps an application's lifespan running for the whole process;
    # stop it (and the shop's pool) before the test database is dropped.
    asgi.shutdown_lifespans()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize("version", ["1", "2"])
def test_every_operation_answers_within_its_contract(
    shop_schemas: dict[str, Any], version: str, mode: GenerationMode
) -> None:
    operations = 0
    for result in shop_schemas[version].get_all_operations():
        assert isinstance(result, Ok)
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            case.call_and_validate(checks=CHECKS[version, mode])

        check()
    assert operations == OPERATIONS
