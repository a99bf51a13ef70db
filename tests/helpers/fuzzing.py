"""Property-based fuzzing (schemathesis) of one documented operation against a served app: every
generated request, valid by the schema (positive) or not (negative), is held to the given checks.
Examples per operation are few (``EXAMPLES``) so the suite stays quick; raise
``ELECTRA_DEMO_FUZZ_EXAMPLES`` to fuzz longer."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

EXAMPLES = int(os.environ.get("ELECTRA_DEMO_FUZZ_EXAMPLES", "12"))
# What the /v1 API's document promises: never a 5xx, a documented status, a body that fits the
# schema, the documented headers, and a request the schema forbids refused.
V1_CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


def fuzz(schema, base: str, method: str, path: str, mode: GenerationMode, checks, headers=None) -> None:
    """``EXAMPLES`` generated requests for ``method path`` of ``schema``, sent to ``base`` with
    ``headers``, each answer held to ``checks``; a /v1 route must let a valid request through."""
    headers = headers or {}
    operation = schema[path][method]
    statuses: list[int] = []

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,  # the same cases every run: a failure here is a failure next time
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case) -> None:
        response = case.call(base_url=base, headers=headers, timeout=120)
        statuses.append(response.status_code)
        case.validate_response(response, checks=checks, headers=headers)

    run()
    if mode == GenerationMode.POSITIVE and path.startswith("/v1/"):  # valid requests do get through
        assert 200 in statuses, statuses
