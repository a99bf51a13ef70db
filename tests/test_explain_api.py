"""/explain over HTTP: the page's endpoint through gradio_client, ``POST /v1/explain`` through
httpx (one JSON, the same numbers), its errors in the API's one shape, its OpenAPI entry, and
schemathesis fuzzing of the route from that document."""

from __future__ import annotations

import re

import httpx
import pytest
import schemathesis
from schemathesis import GenerationMode

from electra_demo.service import ModelService
from electra_demo.tasks import explain
from tests.helpers.compare import Tolerance, assert_close
from tests.helpers.fuzzing import V1_CHECKS, fuzz

OPEN = {"ELECTRA_DEMO_RATE_LIMIT": "0"}
SERVE = {"service": "api_service", "environ": OPEN, "mcp_server": True}  # for conftest's url
ROUNDING = Tolerance(rel=1e-5, abs=1e-5)  # JSON and the page round differently
CONTEXT = "Marie Curie was born in Warsaw in 1867. She moved to Paris in 1891."
CASES = [  # (task, text, text_pair, target, method, steps)
    ("emotion", "I can't believe they threw me a surprise party!", "", "", "gradient_x_input", 32),
    ("nli", "A man is cooking dinner.", "Someone makes food.", "neutral", "integrated_gradients", 16),
    ("detect", "The chef cooked the meal.", "", "", "integrated_gradients", 8),
    ("qa", "Where was Marie Curie born?", CONTEXT, "", "gradient_x_input", 32),
]
FIELDS = ["task", "text", "text_pair", "target", "method", "steps"]


@pytest.fixture(scope="module")
def api_service(tiny_env) -> ModelService:
    # PyTorch: no ONNX export per slot (test_explain.py covers the ONNX setting)
    return ModelService(environ={**tiny_env, "ELECTRA_DEMO_BACKEND": "torch"})


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_v1_explain_equals_the_page_and_the_service(url, gc, api_service, case):
    body = dict(zip(FIELDS, case, strict=True))
    reply = httpx.post(url + "/v1/explain", json=body, timeout=120)
    assert reply.status_code == 200, reply.text
    data = reply.json()
    # the test checkpoints have random weights: /v1 says so beside the page's JSON
    assert data.pop("warning").startswith("Random weights") and reply.headers["x-electra-random-weights"]
    *views, page_json = gc.predict(*case, api_name="/explain")
    assert_close(data, page_json, ROUNDING)
    assert_close(data, api_service.explain(*case).to_json(), ROUNDING)
    assert data["task"] == case[0] and data["method"] == case[4]
    assert len(views) == 5  # words, tokens, summary, notes, chart
    sources = (case[1], case[2])
    for piece in data["tokens"] + data["words"]:
        assert piece["text"] == sources[piece["segment"]][piece["start"] : piece["end"]]


def test_v1_explain_defaults_are_the_endpoints(url):
    reply = httpx.post(
        url + "/v1/explain", json={"task": "sentiment", "text": "A wonderful film."}, timeout=60
    )
    assert reply.status_code == 200, reply.text
    data = reply.json()
    assert data["method"] == "gradient_x_input" and data["steps"] is None and data["delta"] is None
    assert data["target"]["label"] in ("negative", "positive")


@pytest.mark.parametrize(
    "body, status, param, message",
    [
        ({"task": "emotion", "text": "hi", "method": "shap"}, 400, "method", r"gradient_x_input"),
        ({"task": "emotion", "text": "hi", "steps": 0}, 400, "steps", r"greater than or equal to 1"),
        ({"task": "emotion", "text": "hi", "steps": 257}, 400, "steps", r"less than or equal to 256"),
        ({"task": "emotion", "text": "hi", "steps": "32"}, 400, "steps", r"valid integer"),
        ({"task": "sarcasm", "text": "hi"}, 400, "task", r"Unknown task 'sarcasm'; expected one of"),
        ({"task": "emotion"}, 400, "text", r"required"),
        ({"task": "emotion", "text": "hi", "model": "emotion"}, 400, "model", r"Unknown field 'model'"),
        ({"task": "emotion", "text": "x" * 20_001}, 400, "text", r"at most 20000 characters"),
        ({"task": "emotion", "text": "   "}, 400, "text", r"Please enter some text: it is empty"),
        (
            {"task": "emotion", "text": "hi", "target": "bliss"},
            400,
            "target",
            r"Unknown label for the emotion",
        ),
        ({"task": "nli", "text": "A man cooks."}, 400, "text_pair", r"please give the hypothesis"),
        (
            {"task": "qa", "text": "Where?", "text_pair": CONTEXT, "target": "Rome"},
            400,
            "target",
            r"does not occur",
        ),
        ({"task": "detect", "text": "\x00\x01"}, 400, "input", r"no characters the model can read"),
    ],
)
def test_v1_explain_errors_have_the_one_shape(url, body, status, param, message):
    reply = httpx.post(url + "/v1/explain", json=body, timeout=60)
    assert reply.status_code == status, reply.text
    error = reply.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["param"] == param
    assert error["type"] == "invalid_request_error"
    assert re.search(message, error["message"]), error["message"]
    assert "Traceback" not in reply.text and len(error["message"]) < 600


def test_v1_explain_body_limit_is_enforced_at_the_edge(url):
    reply = httpx.post(
        url + "/v1/explain",
        content=b'{"task": "emotion", "text": "' + b"x" * 3_000_000 + b'"}',
        headers={"content-type": "application/json"},
        timeout=60,
    )
    assert reply.status_code == 413 and reply.json()["error"]["code"] == "request_too_large"


def test_v1_explain_is_in_the_openapi_document(url):
    document = httpx.get(url + "/v1/openapi.json", timeout=30).json()
    operation = document["paths"]["/v1/explain"]["post"]
    assert {"200", "400", "413", "503"} <= set(operation["responses"])
    schemas = document["components"]["schemas"]
    request = schemas["ExplainRequest"]
    assert list(request["properties"]) == FIELDS
    assert request["required"] == ["task", "text"]
    assert request["properties"]["steps"]["maximum"] == explain.MAX_STEPS
    pattern = request["properties"]["task"]["pattern"]
    assert all(re.fullmatch(pattern, t) for t in explain.TASKS)
    response = schemas["ExplainResponse"]["properties"]
    keys = "task model method steps target score baseline_score delta truncated tokens words"
    assert set(response) == {*keys.split(), "warning"}  # warning: only for random weights (--tiny)
    assert "warning" not in schemas["ExplainResponse"]["required"]


def test_explain_is_an_mcp_tool_described_from_its_docstring(url):
    tools = {tool["name"]: tool for tool in httpx.get(url + "/gradio_api/mcp/schema", timeout=30).json()}
    tool = tools["explain"]
    assert "attributions" in tool["description"]
    properties = tool["inputSchema"]["properties"]
    assert list(properties) == FIELDS  # the request and the progress tracker are not parameters
    for name in FIELDS:
        description = properties[name].get("description", "")
        assert len(description) > 10 and description.rstrip().endswith((".", ")")), (name, description)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_v1_explain_fuzz(url, mode):
    """Generated bodies, valid and invalid by the document: never a 5xx, answers as documented."""
    schema = schemathesis.openapi.from_url(url + "/v1/openapi.json")
    fuzz(schema, url, "POST", "/v1/explain", mode, V1_CHECKS)
