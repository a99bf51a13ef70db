"""Zero-shot classification (/zeroshot, /v1/classify's zero-shot models, its MCP tool).

The pure steps on hand-built inputs; the task on checkpoints with spread-out scores
(tests/helpers/zeroshot.py): ``rtd`` equals the discriminator's P(original) computed directly with
transformers, ``nli`` equals transformers 4.x's zero-shot pipeline's published formula on the
logits computed directly (scripts/zeroshot_reference.py runs the real 4.x pipeline, dev only);
then the endpoint over gradio_client, plain HTTP, /v1 (the openai client's ``post``) and MCP,
every bad input a clear message on each."""

from __future__ import annotations

import re

import httpx
import numpy as np
import openai
import pytest

from electra_demo.checks import InputError
from electra_demo.page import links
from electra_demo.page.demo import LINKS
from electra_demo.service import ModelService
from electra_demo.tasks import zeroshot
from tests.helpers.compare import Tolerance, assert_close
from tests.helpers.serving import call_gradio
from tests.helpers.zeroshot import REVERSED, nli_logits, pipeline_formula, rtd_reference, write_sharp

SERVE = {"service": "sharp", "environ": {"ELECTRA_DEMO_RATE_LIMIT": "0"}, "mcp_server": True}
CLOSE = Tolerance(rel=1e-5, abs=1e-6)
TEXT = "The striker scored twice and the crowd went wild."
LABELS = ["sports", "politics", "science", "kitchenware", "music"]  # "kitchenware": several pieces
CASES = [  # (labels, template)
    (LABELS, "It was {}."),
    (LABELS[:2], "{} is what this text is about."),
    (["Café crème", "naïve", "東京"], "Topic: {}!"),
]
BAD = [  # (candidate_labels, hypothesis_template, method, words in the message, the /v1 param)
    ("", "It was {}.", "rtd", "Please give candidate labels", "candidate_labels"),
    ("sports", "It was {}.", "rtd", "at least 2 candidate labels", "candidate_labels"),
    (
        ",".join(f"l{i}" for i in range(21)),
        "It was {}.",
        "rtd",
        "At most 20 candidate labels; got 21",
        "candidate_labels",
    ),
    ("sports, Sports", "It was {}.", "rtd", "Labels 1 and 2 are the same", "candidate_labels"),
    ("sports,, music", "It was {}.", "rtd", "Label 2 is empty", "candidate_labels"),
    ("sports, music", "It was good.", "rtd", "must hold {} exactly once.*it has none", "hypothesis_template"),
    ("sports, music", "{} or {}", "rtd", "must hold {} exactly once.*it has 2", "hypothesis_template"),
    (
        "sports, " + "x" * 101,
        "It was {}.",
        "rtd",
        "Label 2 is 101 characters long; the limit is 100",
        "candidate_labels",
    ),
    (
        "sports, music",
        "It was {}.",
        "sarcasm",
        "Unknown method 'sarcasm'; expected one of: rtd, nli",
        "method",
    ),
]


@pytest.fixture(scope="module")
def sharp_env(tmp_path_factory, tiny_env) -> dict[str, str]:
    return {**tiny_env, **write_sharp(tmp_path_factory.mktemp("sharp"))}


@pytest.fixture(scope="module")
def sharp(sharp_env) -> ModelService:
    """Every slot on the tiny checkpoints, the discriminator and NLI head sharpened; PyTorch fp32
    whatever the suite's precision: compared with transformers' fp32 numbers to rounding."""
    return ModelService(
        environ={**sharp_env, "ELECTRA_DEMO_BACKEND": "torch", "ELECTRA_DEMO_PRECISION": "fp32"}
    )


# ---- the pure steps -----------------------------------------------------------------------
def test_labels_from_text_or_list_stripped():
    assert zeroshot.check_labels(" sports , politics,science ") == ["sports", "politics", "science"]
    assert zeroshot.check_labels(["a, b", "c"]) == ["a, b", "c"]  # a list's label may hold a comma
    assert len(zeroshot.check_labels(",".join(f"l{i}" for i in range(20)))) == 20
    assert zeroshot.check_labels(["x" * 100, "y"])[0] == "x" * 100


@pytest.mark.parametrize("labels, template, method, words, param", BAD, ids=[b[3][:24] for b in BAD])
def test_each_bad_input_is_a_clear_input_error(labels, template, method, words, param):
    with pytest.raises(InputError, match=words) as caught:
        zeroshot.preprocess(TEXT, labels, template, method, False)
    assert getattr(caught.value, "field", None) == param
    assert "Traceback" not in str(caught.value) and "x" * 101 not in str(caught.value)


def test_other_bad_values():
    with pytest.raises(InputError, match="no brace besides"):
        zeroshot.check_template("{} {x}")
    with pytest.raises(InputError, match="Label 2 contains a character that is not valid Unicode"):
        zeroshot.check_labels(["a", "b\ud800"])
    with pytest.raises(InputError, match="template contains a character that is not valid Unicode"):
        zeroshot.check_template("{} \udfff")
    with pytest.raises(InputError, match="Label 2 must be a text"):
        zeroshot.check_labels(["a", 3])
    with pytest.raises(InputError, match="multi_label must be true or false"):
        zeroshot.preprocess(TEXT, "a, b", "{}", "rtd", "yes")
    with pytest.raises(InputError, match="Please enter some text"):
        zeroshot.preprocess("  ", "a, b", "{}", "rtd", False)


def test_rtd_scores_normalise_unless_multi_label():
    logits = [np.array([9.0, 0.0, 2.0]), np.array([0.0, -1.0, 1.0])]
    positions = [[1, 2], [1]]
    raw = [np.mean([1 - 1 / (1 + np.exp(-0.0)), 1 - 1 / (1 + np.exp(-2.0))]), 1 - 1 / (1 + np.exp(1.0))]
    assert zeroshot.rtd_scores(logits, positions, True) == pytest.approx(raw)
    assert zeroshot.rtd_scores(logits, positions, False) == pytest.approx(np.array(raw) / sum(raw))
    assert zeroshot.rtd_scores([np.array([0.0, 1e4])] * 2, [[1], [1]], False) == [0.5, 0.5]


@pytest.mark.parametrize(
    "names, entailment",
    [
        (("entailment", "neutral", "contradiction"), 0),
        (REVERSED, 2),
        (("ENTAILS", "other"), 0),
        (("a", "b"), -1),
    ],
)
@pytest.mark.parametrize("multi_label", [False, True])
def test_nli_scores_are_the_pipelines_formula(names, entailment, multi_label):
    label2id = {name: i for i, name in enumerate(names)}
    assert zeroshot.entailment_index(label2id) == entailment
    logits = np.random.default_rng(0).normal(size=(4, len(names))).astype(np.float32) * 3
    ours = zeroshot.nli_scores(logits, entailment, multi_label)
    np.testing.assert_allclose(ours, pipeline_formula(logits, label2id, multi_label), rtol=1e-6)


def test_ranking_is_highest_first_ties_in_label_order():
    assert zeroshot.postprocess(["a", "b", "c"], [0.2, 0.5, 0.2]) == [("b", 0.5), ("a", 0.2), ("c", 0.2)]


def test_rtd_rows_cut_the_text_not_the_template(sharp):
    loaded = sharp.load("discriminator")
    rows, positions, truncated = zeroshot.rtd_rows(
        loaded.tokenizer, 64, "word " * 100, ["sports"], "It was {}."
    )
    assert truncated and len(rows[0][0]) == 64
    hypothesis = loaded.tokenizer("It was sports.", add_special_tokens=False)["input_ids"]
    assert rows[0][0][-len(hypothesis) - 1 : -1] == hypothesis
    assert [rows[0][0][p] for p in positions[0]] == loaded.tokenizer("sports", add_special_tokens=False)[
        "input_ids"
    ]
    with pytest.raises(InputError, match="too long"):
        zeroshot.rtd_rows(loaded.tokenizer, 6, "word", ["sports"], "It was really {}.")


# ---- the task against transformers -----------------------------------------------------------
@pytest.mark.parametrize("labels, template", CASES)
@pytest.mark.parametrize("multi_label", [False, True])
def test_rtd_equals_a_direct_computation(sharp, sharp_env, labels, template, multi_label):
    result = sharp.zeroshot(TEXT, ", ".join(labels), template, "rtd", multi_label)
    raw = np.array(rtd_reference(sharp_env["ELECTRA_DEMO_DISCRIMINATOR"], TEXT, labels, template))
    expected = raw if multi_label else raw / raw.sum()
    got = dict(result.labels)
    assert [label for label, _ in result.labels] == [labels[i] for i in np.argsort(-expected, kind="stable")]
    assert_close([got[label] for label in labels], expected.tolist(), CLOSE)
    assert result.to_json()["method"] == "rtd" and result.to_json()["template"] == template
    assert max(expected) - min(expected) > 1e-3  # the checkpoint tells the labels apart


@pytest.mark.parametrize("labels, template", CASES)
@pytest.mark.parametrize("multi_label", [False, True])
def test_nli_equals_the_pipelines_formula(sharp, sharp_env, labels, template, multi_label):
    result = sharp.zeroshot(TEXT, labels, template, "nli", multi_label)
    directory = sharp_env["ELECTRA_DEMO_NLI"]
    label2id = dict(sharp.load("nli").model.config.label2id)
    expected = pipeline_formula(nli_logits(directory, TEXT, labels, template), label2id, multi_label)
    got = dict(result.labels)
    assert_close([got[label] for label in labels], [float(x) for x in expected], CLOSE)
    assert max(expected) - min(expected) > 1e-4


def test_nli_finds_entailment_by_name(tmp_path, tiny_env):
    env = {**tiny_env, **write_sharp(tmp_path, REVERSED), "ELECTRA_DEMO_BACKEND": "torch"}
    env["ELECTRA_DEMO_PRECISION"] = "fp32"
    service = ModelService(environ=env)
    assert service.load("nli").labels == list(REVERSED)
    for multi_label in (False, True):
        got = dict(service.zeroshot(TEXT, LABELS, "It was {}.", "nli", multi_label).labels)
        logits = nli_logits(env["ELECTRA_DEMO_NLI"], TEXT, LABELS, "It was {}.")
        expected = pipeline_formula(logits, {name: i for i, name in enumerate(REVERSED)}, multi_label)
        assert_close([got[label] for label in LABELS], [float(x) for x in expected], CLOSE)


def test_a_long_text_is_cut_and_every_label_runs_in_one_batch(sharp, monkeypatch):
    loaded = sharp.load("discriminator")
    batches = []
    original = loaded.batcher.run
    monkeypatch.setattr(loaded.batcher, "run", lambda rows: batches.append(len(rows)) or original(rows))
    labels = [f"label{i}" for i in range(20)]
    result = sharp.zeroshot("The match was long. " * 200, labels)
    assert batches == [20] and result.truncated and len(result.labels) == 20
    assert sum(score for _, score in result.labels) == pytest.approx(1.0)


def test_the_default_backend_and_precision_serve_it(service):
    """The suite's default service (ONNX Runtime, or OpenVINO in bf16 where the CPU has it) answers
    as PyTorch fp32 does, within bf16's rounding."""
    fp32 = ModelService(
        environ={**service.environ, "ELECTRA_DEMO_BACKEND": "torch", "ELECTRA_DEMO_PRECISION": "fp32"}
    )
    for method in zeroshot.METHODS:
        served = service.zeroshot(TEXT, LABELS, method=method).to_json()
        assert [x["score"] for x in served["labels"]] == sorted(
            (x["score"] for x in served["labels"]), reverse=True
        )
        expected = dict(fp32.zeroshot(TEXT, LABELS, method=method).labels)
        got = {x["label"]: x["score"] for x in served["labels"]}
        assert_close(
            [got[label] for label in LABELS], [expected[label] for label in LABELS], Tolerance(0, 5e-3)
        )


# ---- over HTTP ---------------------------------------------------------------------------------
def test_gradio_client_and_plain_http_equal_the_service(url, gc, sharp):
    for args in [(TEXT, "sports, politics, music"), (TEXT, "sports, politics", "About {}.", "nli", True)]:
        expected = sharp.zeroshot(*args).to_json()
        chart, summary, answer = gc.predict(*args, api_name="/zeroshot")
        assert_close(answer, expected, CLOSE)
        assert chart["label"] == expected["labels"][0]["label"] and "Top label" in summary
        kind, outputs = call_gradio(url, "zeroshot", list(args))
        assert kind == "complete" and isinstance(outputs, list)
        assert_close(outputs[-1], expected, CLOSE)
    assert set(answer) == {"labels", "method", "template", "multi_label"}


def test_classify_with_the_zero_shot_head_points_at_zeroshot(gc):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="its own endpoint: /zeroshot"):
        gc.predict("zero-shot", TEXT, "", api_name="/classify")


@pytest.fixture(scope="module")
def openai_client(url) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)


def classify(client: openai.OpenAI, body: dict) -> dict:
    return client.post("/classify", body=body, cast_to=object)


def test_v1_classify_zero_shot_equals_the_page(openai_client, gc):
    texts = [TEXT, "A new law passed the senate."]
    for model, method in (("zero-shot", "rtd"), ("zero-shot-nli", "nli")):
        body = {"model": model, "input": texts, "candidate_labels": LABELS[:3], "multi_label": False}
        reply = classify(openai_client, body)
        assert reply["object"] == "list" and reply["id"].startswith("classify-")
        assert reply["warning"].startswith("Random weights") and reply["usage"]["prompt_tokens"] > 0
        for index, (text, data) in enumerate(zip(texts, reply["data"], strict=True)):
            *_, page = gc.predict(
                text, ", ".join(LABELS[:3]), "It was {}.", method, False, api_name="/zeroshot"
            )
            assert data["index"] == index and data["num_classes"] == 3
            assert_close(data["labels"], page["labels"], CLOSE)
            assert data["label"] == page["labels"][0]["label"]
            scores = {x["label"]: x["score"] for x in page["labels"]}
            assert_close(data["probs"], [scores[label] for label in LABELS[:3]], CLOSE)  # as given
    one = classify(
        openai_client, {**body, "input": TEXT, "hypothesis_template": "About {}.", "multi_label": True}
    )
    *_, page = gc.predict(TEXT, ", ".join(LABELS[:3]), "About {}.", "nli", True, api_name="/zeroshot")
    assert_close(one["data"][0]["labels"], page["labels"], CLOSE)


@pytest.mark.parametrize("labels, template, method, words, param", BAD, ids=[b[3][:24] for b in BAD])
def test_bad_input_is_a_clear_error_over_every_way_in(
    url, gc, openai_client, labels, template, method, words, param
):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match=words):
        gc.predict(TEXT, labels, template, method, False, api_name="/zeroshot")
    kind, message = call_gradio(url, "zeroshot", [TEXT, labels, template, method, False])
    assert kind == "error" and message is not None
    assert re.search(words, message["error"]), message
    if method != "rtd":
        return  # /v1 takes the method from the model's name
    body = {
        "model": "zero-shot",
        "input": TEXT,
        "candidate_labels": [x.strip() for x in labels.split(",")] if labels else [],
    }
    if template != "It was {}.":
        body["hypothesis_template"] = template
    with pytest.raises(openai.BadRequestError) as bad:
        classify(openai_client, body)
    error = bad.value.body
    assert error["param"] == param and "Traceback" not in error["message"]
    assert re.search(words, error["message"]), error


@pytest.mark.parametrize(
    "body, param, words",
    [
        ({"model": "zero-shot", "input": TEXT}, "candidate_labels", "need candidate_labels"),
        (
            {"model": "zero-shot-nli", "input": [["a", "b"]], "candidate_labels": ["x", "y"]},
            "input[0]",
            "one text",
        ),
        (
            {"model": "zero-shot", "input": "  ", "candidate_labels": ["x", "y"]},
            "input",
            "Please enter some text",
        ),
        (
            {
                "model": "zero-shot",
                "input": TEXT,
                "candidate_labels": ["x", "y"],
                "truncate_prompt_tokens": 8,
            },
            "truncate_prompt_tokens",
            "only for the heads",
        ),
        (
            {"model": "sentiment", "input": TEXT, "candidate_labels": ["x", "y"]},
            "candidate_labels",
            "only for the zero-shot",
        ),
        ({"model": "emotion", "input": TEXT, "multi_label": True}, "multi_label", "only for the zero-shot"),
        ({"model": "zero-shot", "input": TEXT, "candidate_labels": "x, y"}, "candidate_labels", "valid list"),
    ],
)
def test_v1_zero_shot_field_errors(openai_client, body, param, words):
    with pytest.raises(openai.BadRequestError) as bad:
        classify(openai_client, body)
    assert bad.value.body["param"] == param and words in bad.value.body["message"], bad.value.body


def test_openapi_lists_the_zero_shot_models(url):
    spec = httpx.get(url + "/v1/openapi.json", timeout=30).json()
    body = spec["components"]["schemas"]["ClassifyRequest"]
    names = body["properties"]["model"]["anyOf"][0]["enum"]
    assert {"zero-shot", "zero-shot-nli", "sentiment"} <= set(names)
    assert {"candidate_labels", "hypothesis_template", "multi_label"} <= set(body["properties"])


def test_mcp_tool_is_listed_and_answers(url, sharp):
    tools = {tool["name"]: tool for tool in httpx.get(url + "/gradio_api/mcp/schema", timeout=30).json()}
    properties = tools["zeroshot"]["inputSchema"]["properties"]
    assert list(properties) == ["text", "candidate_labels", "hypothesis_template", "method", "multi_label"]
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    arguments = {"text": TEXT, "candidate_labels": "sports, politics", "method": "nli"}
    call = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "zeroshot", "arguments": arguments},
    }
    reply = httpx.post(url + "/gradio_api/mcp/", json=call, headers=headers, timeout=60)
    assert reply.status_code == 200 and '"isError":false' in reply.text, reply.text
    top = sharp.zeroshot(TEXT, "sports, politics", method="nli").labels[0]
    assert f"'label': '{top[0]}', 'score': {top[1]}" in reply.text.replace('\\"', '"')
    arguments["candidate_labels"] = "sports"
    reply = httpx.post(url + "/gradio_api/mcp/", json=call, headers=headers, timeout=60)
    assert '"isError":true' in reply.text and "at least 2 candidate labels" in reply.text


# ---- the page's link --------------------------------------------------------------------------
def test_a_zero_shot_link_round_trips_and_a_heads_link_carries_none_of_it():
    values = {
        "head": "zero-shot",
        "text": TEXT,
        "candidate_labels": "sports, politics",
        "hypothesis_template": "About {}.",
        "method": "nli",
        "multi_label": True,
    }
    query = links.make_link(LINKS["classify"], values)
    parsed = links.parse_link(dict(httpx.QueryParams(query.lstrip("?"))), LINKS)
    assert parsed.values == values and parsed.notices == [] and parsed.runnable
    head = links.make_link(LINKS["classify"], {**values, "head": "sentiment"})
    assert dict(httpx.QueryParams(head.lstrip("?"))) == {"tab": "classify", "head": "sentiment", "text": TEXT}
