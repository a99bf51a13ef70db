"""The /v1 API through real clients (the official ``openai`` package, plain HTTP), served beside
the page on one port and one model service; its answers equal transformers' and the page's."""

from __future__ import annotations

import base64
import json
import shutil

import httpx
import jsonschema
import numpy as np
import openai
import pytest

from electra_demo import config
from electra_demo.service import ModelService
from tests.helpers.compare import Tolerance, assert_close
from tests.helpers.serving import serve

TEXTS = [
    "The chef cooked the meal.",
    "Marie Curie worked in Paris; the Curie family lived there.",
    "Café 😀 naïve",
]
OPEN = {"ELECTRA_DEMO_RATE_LIMIT": "0"}
SERVE = {"environ": OPEN}  # for conftest's url
ROUNDING = Tolerance(rel=1e-5, abs=1e-5)  # rows batched with others differ by float rounding


@pytest.fixture(scope="module")
def client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)


def reference_embeddings(directory: str, texts: list[str], pooling: str) -> np.ndarray:
    """transformers called directly: the encoder's last hidden state, pooled, L2-normalised."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(directory)
    model = AutoModel.from_pretrained(directory).eval()
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    if pooling == "cls":
        pooled = hidden[:, 0]
    else:
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1)
    return torch.nn.functional.normalize(pooled, dim=-1).numpy()


# ---- OpenAI's client --------------------------------------------------------------------------
def test_models_list_has_every_slot_by_checkpoint_id(client, service):
    models = client.models.list().data
    by_slot = {m.model_extra["slot"]: m for m in models}
    assert set(by_slot) == set(config.REGISTRY) >= {"discriminator", "generator", "sentiment", "rerank"}
    for slot, model in by_slot.items():
        assert model.id == service.resolve(slot).source
        assert model.object == "model" and model.owned_by == "local" and model.created > 0
    assert "/v1/classify" in by_slot["nli"].model_extra["routes"]


def test_embeddings_default_base64_equals_float(client, tiny_env):
    default = client.embeddings.create(model="discriminator", input=TEXTS)  # the client asks for base64
    floats = client.embeddings.create(model="discriminator", input=TEXTS, encoding_format="float")
    assert [d.index for d in default.data] == [0, 1, 2]
    a = np.array([d.embedding for d in default.data], dtype=np.float32)
    b = np.array([d.embedding for d in floats.data], dtype=np.float32)
    np.testing.assert_array_equal(a, b)  # the same float32 numbers either way
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert default.model == tiny_env["ELECTRA_DEMO_DISCRIMINATOR"]
    assert default.usage.prompt_tokens == default.usage.total_tokens > len(TEXTS) * 2


def test_embeddings_base64_is_little_endian_float32(url):
    reply = httpx.post(
        url + "/v1/embeddings",
        json={"model": "discriminator", "input": TEXTS[0], "encoding_format": "base64"},
        timeout=60,
    ).json()
    raw = base64.b64decode(reply["data"][0]["embedding"])
    floats = httpx.post(
        url + "/v1/embeddings", json={"model": "discriminator", "input": TEXTS[0]}, timeout=60
    ).json()
    np.testing.assert_array_equal(
        np.frombuffer(raw, dtype="<f4"), np.array(floats["data"][0]["embedding"], "<f4")
    )


def test_each_error_class(client, service):
    with pytest.raises(openai.NotFoundError) as missing:
        client.embeddings.create(model="no-such-model", input="text")
    assert missing.value.body["code"] == "model_not_found" and missing.value.body["param"] == "model"
    with pytest.raises(openai.BadRequestError) as bad:
        client.embeddings.create(model="discriminator", input="text", dimensions=7)
    assert bad.value.body["param"] == "dimensions" and "32" in bad.value.body["message"]
    assert bad.value.request_id  # x-request-id, read by the client


# ---- equality with transformers, both backends ---------------------------------------------
@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_embeddings_equal_transformers(backend, tiny_env):
    fp32 = {"ELECTRA_DEMO_PRECISION": "fp32"}  # transformers' fp32 numbers, to rounding
    service = ModelService(environ={**tiny_env, "ELECTRA_DEMO_BACKEND": backend, **fp32})
    with serve(service, OPEN) as base:
        client = openai.OpenAI(base_url=base + "/v1", api_key="unused", max_retries=0)
        for slot in ("discriminator", "ner"):
            for pooling in ("mean", "cls"):
                reply = client.embeddings.create(model=slot, input=TEXTS, extra_body={"pooling": pooling})
                got = np.array([d.embedding for d in reply.data])
                want = reference_embeddings(tiny_env[f"ELECTRA_DEMO_{slot.upper()}"], TEXTS, pooling)
                np.testing.assert_allclose(got, want, atol=1e-4)
        assert service.load_encoder("discriminator").backend.startswith(
            "PyTorch" if backend == "torch" else "ONNX"
        )


def test_embeddings_token_ids_and_aliases(client, service, tiny_env):
    tokenizer = service.load_encoder("discriminator").tokenizer
    ids = [tokenizer(t)["input_ids"] for t in TEXTS[:2]]
    by_ids = client.embeddings.create(
        model=tiny_env["ELECTRA_DEMO_DISCRIMINATOR"], input=ids, encoding_format="float"
    )
    by_text = client.embeddings.create(model="discriminator", input=TEXTS[:2], encoding_format="float")
    np.testing.assert_allclose(
        [d.embedding for d in by_ids.data], [d.embedding for d in by_text.data], atol=1e-6
    )
    one = client.embeddings.create(model="discriminator", input=ids[0], encoding_format="float")
    assert len(one.data) == 1 and one.usage.prompt_tokens == len(ids[0])


# ---- equality with the page -------------------------------------------------------------------
def test_classify_equals_the_page(url, gc):
    items = {
        "sentiment": ["A wonderful film.", "Dull."],
        "emotion": ["I am so happy"],
        "nli": [["A man plays.", "Music."]],
    }
    for head, inputs in items.items():
        reply = httpx.post(url + "/v1/classify", json={"model": head, "input": inputs}, timeout=60).json()
        assert reply["object"] == "list" and reply["id"].startswith("classify-")
        for item, data in zip(inputs, reply["data"], strict=True):
            args = (item, "") if isinstance(item, str) else tuple(item)
            *_, expected = gc.predict(head, *args, api_name="/classify")
            assert_close(data["labels"], expected["labels"], ROUNDING)
            assert data["label"] == expected["labels"][0]["label"]
            assert data["num_classes"] == len(data["probs"]) == len(expected["labels"])
            scores = {x["label"]: x["score"] for x in expected["labels"]}
            labels = [x["label"] for x in sorted(data["labels"], key=lambda x: -x["score"])]
            assert sorted(data["probs"], reverse=True) == pytest.approx(
                [scores[label] for label in labels], abs=1e-5
            )
        assert reply["model"] == expected["model"]


def test_classify_probs_are_in_label_id_order(url, service):
    reply = httpx.post(
        url + "/v1/classify", json={"model": "emotion", "input": "I am so happy"}, timeout=60
    ).json()
    labels = service.load("emotion").labels
    data = reply["data"][0]
    assert data["probs"] == [
        next(x["score"] for x in data["labels"] if x["label"] == label) for label in labels
    ]


def test_detect_tag_answer_equal_the_page(url, gc):
    text = "Marie Curie worked in Paris.\nThe chef  cooked the méal 😀."
    detect = httpx.post(
        url + "/v1/detect", json={"input": [text, TEXTS[0]], "threshold": 0.4}, timeout=60
    ).json()
    for index, item in enumerate([text, TEXTS[0]]):
        *_, expected = gc.predict(item, 0.4, api_name="/detect")
        assert_close(detect["data"][index], {"index": index, **expected}, ROUNDING)
    assert detect["usage"]["prompt_tokens"] == sum(len(d["tokens"]) for d in detect["data"])
    tag = httpx.post(url + "/v1/tag", json={"input": text, "aggregation": "first"}, timeout=60).json()
    *_, expected = gc.predict(text, "first", api_name="/tag")
    assert_close(tag["data"], [{"index": 0, **expected}], ROUNDING)
    question = {"question": "Where did Marie Curie work?", "context": text}
    answer = httpx.post(url + "/v1/answer", json={"input": [question], "top_k": 2}, timeout=60).json()
    *_, expected = gc.predict(question["question"], text, 2, api_name="/answer")
    assert_close(answer["data"], [{"index": 0, **expected}], ROUNDING)
    assert answer["object"] == "list" and answer["usage"]["prompt_tokens"] > 0


# ---- limits and errors ---------------------------------------------------------------------
def post(url: str, path: str, body: object) -> httpx.Response:
    return httpx.post(url + path, json=body, timeout=60)


def error_of(reply: httpx.Response, status: int) -> dict:
    assert reply.status_code == status, reply.text
    assert reply.headers["x-request-id"]
    body = reply.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    assert "Traceback" not in body["error"]["message"]
    return body["error"]


def test_input_over_512_tokens_is_refused_with_its_count_unless_truncated(url, service):
    long = "the chef " * 350
    tokenizer = service.load("sentiment").tokenizer
    count, short = len(tokenizer(long)["input_ids"]), len(tokenizer("short")["input_ids"])
    assert count > 700
    for path, model in (("/v1/embeddings", "discriminator"), ("/v1/classify", "sentiment")):
        error = error_of(post(url, path, {"model": model, "input": ["short", long]}), 400)
        assert f"input[1] is {count} tokens long" in error["message"] and "512" in error["message"]
        assert error["param"] == "input[1]"
        ok = post(url, path, {"model": model, "input": ["short", long], "truncate_prompt_tokens": -1})
        assert ok.status_code == 200 and ok.json()["usage"]["prompt_tokens"] == short + 512
        cut = post(url, path, {"model": model, "input": [long], "truncate_prompt_tokens": 10}).json()
        assert cut["usage"]["prompt_tokens"] == 10


def test_truncated_classify_equals_the_pages_truncation(url, gc):
    long = "I loved this movie, it was wonderful. " * 80
    reply = post(
        url, "/v1/classify", {"model": "sentiment", "input": long, "truncate_prompt_tokens": -1}
    ).json()
    *_, expected = gc.predict("sentiment", long, "", api_name="/classify")
    assert expected["truncated"] is True
    assert_close(reply["data"][0]["labels"], expected["labels"], ROUNDING)


@pytest.mark.parametrize(
    "path, body, param, words",
    [
        ("/v1/embeddings", {"model": "discriminator", "input": ["a"] * 65}, "input", "at most 64"),
        ("/v1/embeddings", {"model": "discriminator", "input": 5}, "input", "list of token ids"),
        ("/v1/embeddings", {"model": "discriminator", "input": [[1, 2], [999999]]}, "input[1]", "vocabulary"),
        (
            "/v1/embeddings",
            {"model": "discriminator", "input": "a", "pooling": "max"},
            "pooling",
            "'mean' or 'cls'",
        ),
        (
            "/v1/embeddings",
            {"model": "discriminator", "input": "a", "encoding_format": "int8"},
            "encoding_format",
            "'float'",
        ),
        (
            "/v1/embeddings",
            {"model": "discriminator", "input": "a", "truncate_prompt_tokens": 0},
            "truncate_prompt_tokens",
            "-1",
        ),
        ("/v1/embeddings", {"input": "a"}, "model", "required"),
        (
            "/v1/embeddings",
            {"model": "discriminator", "input": "a", "encoding": "float"},
            "encoding",
            "Unknown field",
        ),
        ("/v1/classify", {"model": "nli", "input": "only one text"}, "input", "compares two texts"),
        ("/v1/classify", {"model": "sentiment", "input": [["a", "b", "c"]]}, "input", "two-item list"),
        ("/v1/classify", {"model": "discriminator", "input": "a"}, "model", "sentiment, emotion, nli"),
        ("/v1/detect", {"input": "a", "threshold": 2}, "threshold", "less than or equal to 1"),
        ("/v1/detect", {"input": ["fine", "  "]}, "input[1]", "empty"),
        ("/v1/tag", {"input": "a", "aggregation": "mean"}, "aggregation", "'none'"),
        ("/v1/answer", {"input": {"question": "q"}}, "input.context", "required"),
        ("/v1/answer", {"input": 3}, "input", "question, context"),
        (
            "/v1/answer",
            {"input": {"question": "Where?", "context": "Here."}, "max_seq_len": 64, "doc_stride": 63},
            "input",
            "stride",
        ),
    ],
)
def test_bad_requests_get_a_400_naming_the_field(url, path, body, param, words):
    error = error_of(post(url, path, body), 400)
    assert error["param"] == param and error["type"] == "invalid_request_error"
    assert words in error["message"], error["message"]


def test_body_over_2_mb_is_413_and_bad_json_400(url):
    big = {"model": "discriminator", "input": ["x" * 20_000] * 60, "user": "y" * 1_000_000}
    error = error_of(post(url, "/v1/embeddings", big), 413)
    assert error["code"] == "request_too_large"
    chunked = httpx.post(url + "/v1/embeddings", content=iter([b"{" + b" " * 2_100_000 + b"}"]), timeout=60)
    assert error_of(chunked, 413)["code"] == "request_too_large"  # no Content-Length: counted as read
    bad = httpx.post(url + "/v1/embeddings", content=b"{nope", headers={"content-type": "application/json"})
    assert error_of(bad, 400)["code"] == "invalid_json"


def test_unknown_route_and_method_are_openai_errors(url):
    assert error_of(httpx.get(url + "/v1/chat/completions"), 404)["code"] == "not_found"
    assert error_of(httpx.delete(url + "/v1/models"), 405)["code"] == "method_not_allowed"


def test_request_id_is_kept_or_made(url):
    mine = httpx.get(url + "/v1/models", headers={"x-request-id": "trace-42"})
    assert mine.headers["x-request-id"] == "trace-42"
    made = httpx.get(url + "/v1/models", headers={"x-request-id": "bad id\twith spaces"})
    assert len(made.headers["x-request-id"]) == 32
    assert httpx.get(url + "/").headers["x-request-id"]  # the page's responses too


def test_health_reports_slots(url, client):
    client.embeddings.create(model="ner", input="Paris")
    reply = httpx.get(url + "/health")
    assert reply.status_code == 200
    body = reply.json()
    assert body["status"] == "ok" and set(body["models"]) >= {"discriminator", "qa"}
    assert "ner" in body["encoders"]
    assert set(body["loaded"]) == {name for name, state in body["models"].items() if state == "loaded"}


def test_openapi_describes_every_field(url):
    spec = httpx.get(url + "/v1/openapi.json").json()
    assert {
        "/v1/models",
        "/v1/embeddings",
        "/v1/classify",
        "/v1/detect",
        "/v1/tag",
        "/v1/answer",
        "/health",
    } <= set(spec["paths"])
    for name, schema in spec["components"]["schemas"].items():
        for field, prop in schema.get("properties", {}).items():
            assert prop.get("description"), f"{name}.{field} has no description"
    for path, item in spec["paths"].items():
        for operation in item.values():
            assert "422" not in operation["responses"], path
    docs = httpx.get(url + "/v1/docs")
    assert docs.status_code == 200 and "/v1/openapi.json" in docs.text


def test_openapi_model_fields_validate_what_the_server_takes(url):
    """A client validating requests by the document: listed names and, where the route takes them,
    Fine-tune tab ids (ft-...) pass; other names fail; each request's own example passes."""
    spec = httpx.get(url + "/v1/openapi.json").json()
    schemas = spec["components"]["schemas"]

    def valid(name: str, body: dict) -> bool:
        document = {**schemas[name], "$defs": schemas}  # $refs point at #/components/schemas
        text = json.dumps(document).replace("#/components/schemas/", "#/$defs/")
        return jsonschema.Draft202012Validator(json.loads(text)).is_valid(body)

    ft_id = "ft-0123456789abcdef"
    assert valid("ClassifyRequest", {"model": "sentiment", "input": "Fine."})
    assert valid("ClassifyRequest", {"model": ft_id, "input": "Fine."})
    assert valid("EmbeddingRequest", {"model": ft_id, "input": "Fine."})
    assert not valid("ClassifyRequest", {"model": "ner", "input": "Fine."})
    assert not valid("ClassifyRequest", {"model": "ft-XYZ", "input": "Fine."})
    assert not valid("DetectRequest", {"model": ft_id, "input": "Fine."})
    assert valid("DetectRequest", {"model": "ad-0123456789abcdef", "input": "Fine."})
    for name in ("EmbeddingRequest", "ClassifyRequest", "DetectRequest", "TagRequest", "AnswerRequest"):
        (example,) = schemas[name]["examples"]
        assert valid(name, example), name
        assert httpx.post(url + spec_path(spec, name), json=example, timeout=60).status_code == 200, name


def spec_path(spec: dict, request: str) -> str:
    """The route whose body is ``request``."""
    for path, item in spec["paths"].items():
        body = item.get("post", {}).get("requestBody", {})
        if (
            body.get("content", {})
            .get("application/json", {})
            .get("schema", {})
            .get("$ref", "")
            .endswith("/" + request)
        ):
            return path
    raise AssertionError(f"no route takes {request}")


def test_gradio_call_with_missing_arguments_is_a_4xx_with_a_message(url):
    for name in ("detect", "corrupt", "classify", "tag", "answer"):
        reply = httpx.post(f"{url}/gradio_api/call/v2/{name}", json={}, timeout=30)
        assert reply.status_code == 422, (name, reply.text)
        assert (
            "required argument" in reply.json()["detail"]
            and f"/gradio_api/call/v2/{name}" in reply.json()["detail"]
        )
    unknown = httpx.post(f"{url}/gradio_api/call/v2/nope", json={})
    assert unknown.status_code == 404 and "/detect" in unknown.json()["detail"]
    extra = httpx.post(f"{url}/gradio_api/call/v2/detect", json={"text": "hi", "colour": "red"})
    assert extra.status_code == 422 and "threshold" in extra.json()["detail"]
    fine = httpx.post(f"{url}/gradio_api/call/v2/detect", json={"text": "The chef cooked."})
    assert fine.status_code == 200 and fine.json()["event_id"]


def _plain_call(url: str, name: str, data: list) -> tuple[str, object]:
    """POST /gradio_api/call/<name> with {"data": data}, then its stream: (event, outputs)."""
    posted = httpx.post(f"{url}/gradio_api/call/{name}", json={"data": data}, timeout=60)
    assert posted.status_code == 200, posted.text
    stream = httpx.get(f"{url}/gradio_api/call/{name}/{posted.json()['event_id']}", timeout=120).text
    event = [line for line in stream.splitlines() if line.startswith("event: ")][-1][7:]
    last = [line for line in stream.splitlines() if line.startswith("data: ")][-1][6:]
    return event, json.loads(last)


def test_plain_http_callers_may_leave_out_trailing_optional_arguments(url, service):
    """Code written for an endpoint's earlier arguments keeps working when it gains a trailing
    optional one: left-out trailing arguments get their defaults, as gradio_client gives them."""
    event, outputs = _plain_call(url, "detect", ["The chef cooked the meal."])
    assert event == "complete" and outputs[-1] == service.detect("The chef cooked the meal.").to_json()
    event, outputs = _plain_call(url, "classify", ["sentiment", "A fine film."])  # text_pair left out
    assert event == "complete" and outputs[-1]["head"] == "sentiment"
    event, outputs = _plain_call(url, "answer", ["Where was Marie born?", "Marie was born in Warsaw."])
    assert event == "complete" and outputs[-1]["settings"]["top_k"] == 3
    for given, missing in (([], "head, text"), (["sentiment"], "text")):  # refused, in words
        reply = httpx.post(f"{url}/gradio_api/call/classify", json={"data": given}, timeout=60)
        assert reply.status_code == 422, reply.text
        detail = reply.json()["detail"]
        assert detail.startswith(f"No value provided for required argument: {missing}.")
        assert "POST /gradio_api/call/classify takes" in detail


def test_random_weights_are_said_and_trained_ones_are_not(tiny_env, tiny_dir, tmp_path, client, url):
    """--tiny's checkpoints are marked random: every answer from one says so (a `warning` in the body,
    the slot in a header) and /v1/models flags them; a checkpoint without the mark gets neither."""
    reply = httpx.post(url + "/v1/detect", json={"input": TEXTS[0]}, timeout=60)
    assert reply.headers["x-electra-random-weights"] == "discriminator"
    assert reply.json()["warning"].startswith("Random weights: the discriminator checkpoint")
    embeddings = client.embeddings.create(model="ner", input=TEXTS[0])
    assert "meaningless" in embeddings.model_extra["warning"]
    assert all(m.model_extra["random_weights"] for m in client.models.list().data)

    trained = shutil.copytree(tiny_dir / "discriminator", tmp_path / "discriminator")
    config = json.loads((trained / "config.json").read_text())
    del config["electra_demo_random_weights"]  # what a real checkpoint's config looks like
    (trained / "config.json").write_text(json.dumps(config))
    service = ModelService(environ={**tiny_env, "ELECTRA_DEMO_DISCRIMINATOR": str(trained)})
    with serve(service, OPEN) as base:
        reply = httpx.post(base + "/v1/detect", json={"input": TEXTS[0]}, timeout=60)
        assert reply.status_code == 200 and "warning" not in reply.json()
        assert "x-electra-random-weights" not in reply.headers
        cards = {m["slot"]: m["random_weights"] for m in httpx.get(base + "/v1/models").json()["data"]}
        assert cards["discriminator"] is False and cards["qa"] is True
        tagged = httpx.post(base + "/v1/tag", json={"input": TEXTS[0]}, timeout=60)
        assert tagged.headers["x-electra-random-weights"] == "ner"
