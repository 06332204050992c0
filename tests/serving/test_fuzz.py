"""Property-based fuzzing of the API from its own OpenAPI schema (schemathesis).

Schemathesis generates requests that fit the schema and requests that break
it (wrong types, missing fields, out-of-range numbers, odd Unicode), sends
them to the application with the real registered model loaded, and checks
every answer: never a 5xx, status codes and bodies as documented, invalid
data rejected and valid data accepted.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config._checks import NegativeDataRejectionConfig

from course_lib.model.training import TrainResult
from course_lib.serving.app import create_app
from course_lib.serving.model_service import ModelService, ServingConfig, resolve_and_load
from tests.conftest import SMALL

EXAMPLES_PER_OPERATION = 120


@pytest.fixture(scope="module")
def api_schema(small_model: TrainResult):
    config = ServingConfig(model_name=SMALL.model_name, model_version="champion", max_batch=5)
    loaded = resolve_and_load(config)
    service = ModelService(config, loader=lambda _: loaded)
    service.start().join(timeout=60)
    assert service.ready, service.detail
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(service, load=False))
    # Over the batch limit is a 413 (Content Too Large), a rejection like 422.
    statuses = [*schema.config.checks.negative_data_rejection.expected_statuses, "413"]
    schema.config.checks.negative_data_rejection = NegativeDataRejectionConfig.from_dict(
        {"expected-statuses": statuses}
    )
    return schema


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_no_server_error_and_answers_as_documented(case: schemathesis.Case) -> None:
    case.call_and_validate()
