"""Property-based fuzzing (schemathesis) of every documented route: the /v1 API from its own
OpenAPI document, with and without keys, and Gradio's routes from /gradio_api/openapi.json.

For every generated request, valid by the schema (positive) or not (negative): never a 5xx, and
the answer matches the document: its status is documented, its body fits the schema, its headers
are the documented ones, and a request the schema forbids is refused. Examples per operation are
few (``EXAMPLES``) so the suite stays quick; raise ``ELECTRA_DEMO_FUZZ_EXAMPLES`` to fuzz longer.
"""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from electra_demo.service import ModelService
from tests.helpers.fuzzing import EXAMPLES, V1_CHECKS, fuzz
from tests.helpers.serving import serve

KEY = "sk-fuzz"
# Gradio documents only its 200s, so an error's status and body are not held to the document;
# what holds there is: no 5xx, and a 200's body fits.
GRADIO_CHECKS = [not_a_server_error, response_schema_conformance]
V1_OPERATIONS = [
    ("GET", "/v1/models"),
    ("POST", "/v1/embeddings"),
    ("POST", "/v1/classify"),
    ("POST", "/v1/detect"),
    ("POST", "/v1/tag"),
    ("POST", "/v1/answer"),
    ("POST", "/v1/rerank"),
    ("POST", "/v1/score"),
    ("GET", "/health"),
]
GRADIO_OPERATIONS = [
    ("POST", f"/gradio_api/call/v2/{name}")
    for name in ("detect", "corrupt", "classify", "zeroshot", "tag", "answer", "rerank")
]


@pytest.fixture(scope="module")
def servers(tiny_env):
    # PyTorch, so that fuzzing every slot's encoder costs no ONNX export per slot
    service = ModelService(environ={**tiny_env, "ELECTRA_DEMO_BACKEND": "torch"})
    keyed = {"ELECTRA_DEMO_API_KEYS": KEY, "ELECTRA_DEMO_RATE_LIMIT": "0"}
    with serve(service, {"ELECTRA_DEMO_RATE_LIMIT": "0"}) as open_url, serve(service, keyed) as keyed_url:
        yield {"open": open_url, "keyed": keyed_url}


def v1_cases() -> list:
    """Every operation, open and keyed, positive and negative (where the schema leaves anything
    to get wrong: a GET without parameters has nothing, except the key on the keyed server)."""
    cases = []
    for keys in ("open", "keyed"):
        for method, path in V1_OPERATIONS:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                if (
                    mode == GenerationMode.NEGATIVE
                    and method == "GET"
                    and (keys == "open" or path == "/health")
                ):
                    continue
                cases.append(pytest.param(keys, method, path, mode, id=f"{keys}-{method}-{path}-{mode}"))
    return cases


@pytest.mark.parametrize("keys, method, path, mode", v1_cases())
def test_v1_fuzz(servers, keys, method, path, mode):
    base = servers[keys]
    headers = {"Authorization": f"Bearer {KEY}"} if keys == "keyed" else {}
    schema = schemathesis.openapi.from_url(base + "/v1/openapi.json", headers=headers)
    fuzz(schema, base, method, path, mode, V1_CHECKS, headers)


@pytest.mark.parametrize("method, path", V1_OPERATIONS[:-1], ids=[p for _, p in V1_OPERATIONS[:-1]])
def test_v1_fuzz_without_the_key_is_always_401(servers, method, path):
    """Generated requests without a key, or with a wrong one, are refused before any route runs."""
    base = servers["keyed"]
    schema = schemathesis.openapi.from_url(
        base + "/v1/openapi.json", headers={"Authorization": f"Bearer {KEY}"}
    )
    operation = schema[path][method]

    @settings(
        max_examples=max(3, EXAMPLES // 3),
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def run(case) -> None:
        for headers in ({"Authorization": "Bearer sk-wrong"}, {}):
            response = case.call(base_url=base, headers=headers, timeout=60)
            assert response.status_code == 401, response.text
            assert response.json()["error"]["code"] in ("invalid_api_key", "missing_api_key")

    run()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
@pytest.mark.parametrize("method, path", GRADIO_OPERATIONS, ids=[p for _, p in GRADIO_OPERATIONS])
@pytest.mark.parametrize("keys", ["open", "keyed"])  # the API's keys leave Gradio's routes as they are
def test_gradio_fuzz(servers, keys, method, path, mode):
    base = servers[keys]
    schema = schemathesis.openapi.from_url(base + "/gradio_api/openapi.json")
    fuzz(schema, base, method, path, mode, GRADIO_CHECKS)


def test_gradio_documents_the_routes_fuzzed_here(servers):
    paths = httpx.get(servers["open"] + "/gradio_api/openapi.json").json()["paths"]
    assert {path for _, path in GRADIO_OPERATIONS} <= set(paths)
