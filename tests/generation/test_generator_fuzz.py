"""Fuzz the generator's own OpenAPI document (schemathesis) against the real server: every generated
request to the OpenAI routes gets a documented status (no 5xx, no FastAPI 422) and a body that matches the
documented schema. Bounded: a dozen examples per operation."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings

EXAMPLES_PER_OPERATION = 12


def test_openai_routes_answer_only_documented_statuses(generator_url):
    schema = schemathesis.openapi.from_url(f"{generator_url}/openapi.json").include(path_regex="^/openai/")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.label for op in operations} >= {"POST /openai/v1/chat/completions", "POST /openai/v1/completions"}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def answers_as_documented(case):
            case.call_and_validate(timeout=30)

        answers_as_documented()
