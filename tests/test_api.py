"""The app over HTTP, through gradio_client, as a user's code would call it."""

from __future__ import annotations

import httpx
import pytest
from gradio_client.exceptions import AppError

from tests.helpers.serving import launch

TEXT = "The Chef  cooked\tthe méal.\nIt was 😀 good!"


def test_endpoints_are_named_and_documented(client):
    api = client.view_api(return_format="dict", print_info=False)
    endpoints = api["named_endpoints"]
    assert {"/detect", "/corrupt"} <= set(endpoints)
    assert [p["parameter_name"] for p in endpoints["/detect"]["parameters"]] == ["text", "threshold", "model"]
    assert [p["parameter_name"] for p in endpoints["/corrupt"]["parameters"]] == [
        "text",
        "fraction",
        "seed",
        "model",
    ]
    assert not any("submit" in name or "lambda" in name for name in endpoints)  # helpers are hidden


def test_the_suite_serves_the_page_as_app_py_does(app_url, service):
    """Every page test's server has the /v1 API beside the page, on one service, as app.py runs."""
    base = app_url.rstrip("/")
    assert httpx.get(base + "/health", timeout=30).json()["status"] == "ok"
    reply = httpx.post(base + "/v1/detect", json={"input": TEXT, "threshold": 0.5}, timeout=60)
    assert reply.status_code == 200, reply.text
    expected = service.detect(TEXT, 0.5).to_json()
    assert [t["text"] for t in reply.json()["data"][0]["tokens"]] == [t["text"] for t in expected["tokens"]]


def test_detect_over_http(client, service):
    tokens, words, summary, table, data = client.predict(TEXT, 0.5, api_name="/detect")
    assert data == service.detect(TEXT, 0.5).to_json()
    assert set(data) == {"tokens", "words", "threshold"} and data["threshold"] == 0.5
    for span in data["tokens"] + data["words"]:
        assert set(span) == {"text", "start", "end", "probability", "replaced"}
        assert TEXT[span["start"] : span["end"]] == span["text"]
        assert span["replaced"] == (span["probability"] > 0.5)
    # the highlighted output rebuilds the input exactly
    assert "".join(segment["token"] for segment in tokens) == TEXT
    assert "".join(segment["token"] for segment in words) == TEXT
    assert "words look replaced" in summary and "Random weights" in summary
    assert len(table["data"]) == len(data["tokens"])


def test_detect_default_threshold(client):
    *_, data = client.predict("The chef cooked.", api_name="/detect")
    assert data["threshold"] == 0.5


def test_corrupt_over_http_is_reproducible(client):
    text = "The chef cooked the meal in the kitchen while Marie worked in Paris."
    first = client.predict(text, 0.3, 11, api_name="/corrupt")
    second = client.predict(text, 0.3, 11, api_name="/corrupt")
    assert first[-1] == second[-1]
    data = first[-1]
    assert set(data) == {"original", "corrupted", "replacements", "tokens", "metrics"}
    assert set(data["metrics"]) == {"precision", "recall", "f1", "auc"}
    for r in data["replacements"]:
        assert data["corrupted"][r["start"] : r["end"]] == r["replacement"]
    original, corrupted, view, summary, _ = first
    assert "".join(s["token"] for s in original) == text
    assert "".join(s["token"] for s in corrupted) == data["corrupted"]
    assert "".join(s["token"] for s in view) == data["corrupted"]
    assert "words masked" in summary


@pytest.mark.parametrize(
    "args, endpoint, message",
    [
        (("", 0.5), "/detect", "empty"),
        # the slider's own bounds check (Gradio's message) or ours: both name the limit
        (("hello", 2.0), "/detect", "between 0 and 1|greater than maximum value 1"),
        (("hello", -1, 3), "/corrupt", "fraction|less than minimum value 0"),
        (("hello", 0.2, 1.5), "/corrupt", "whole number"),
    ],
)
def test_bad_input_is_a_clean_api_error(client, args, endpoint, message):
    with pytest.raises(AppError, match=message) as info:
        client.predict(*args, api_name=endpoint)
    assert "Traceback" not in str(info.value)


def test_missing_slot_message_and_other_tab_still_answers(tiny_env, tmp_path):
    from gradio_client import Client

    from electra_demo.service import ModelService

    missing = tmp_path / "nowhere" / "generator"
    demo = launch(ModelService(environ={**tiny_env, "ELECTRA_DEMO_GENERATOR": str(missing)}))
    try:
        client = Client(demo.local_url, verbose=False)
        with pytest.raises(AppError) as info:
            client.predict("The chef cooked.", 0.5, 1, api_name="/corrupt")
        assert "ELECTRA_DEMO_GENERATOR" in str(info.value) and str(missing) in str(info.value)
        *_, data = client.predict("The chef cooked.", 0.5, api_name="/detect")
        assert [t["text"] for t in data["tokens"]] == ["The", "chef", "cooked", "."]
    finally:
        demo.close()


def test_classify_over_http(client, service):
    label, summary, data = client.predict("sentiment", "I loved it!", "", api_name="/classify")
    assert data == service.classify("sentiment", "I loved it!").to_json()
    assert set(data) == {"head", "model", "labels", "truncated"}
    # gr.Label shows the same probabilities, highest first
    assert [c["label"] for c in label["confidences"]] == [x["label"] for x in data["labels"]]
    assert label["label"] == data["labels"][0]["label"]
    assert data["model"] in summary


def test_classify_pair_head_over_http(client):
    *_, data = client.predict("nli", "A man cooks.", "Someone cooks.", api_name="/classify")
    assert data["head"] == "nli" and len(data["labels"]) == 3
    with pytest.raises(AppError, match="second"):
        client.predict("nli", "A man cooks.", "", api_name="/classify")


def test_classify_text_pair_defaults_to_empty(client):
    *_, data = client.predict("emotion", "I am so happy today", api_name="/classify")
    assert {x["label"] for x in data["labels"]} == {"sadness", "joy", "love", "anger", "fear", "surprise"}


def test_classify_truncation_flag_over_http(client):
    *_, data = client.predict("sentiment", "It was good. " * 300, "", api_name="/classify")
    assert data["truncated"] is True


def test_tag_over_http(client, service):
    text = "Marie Curie worked at the University of Paris.\nThen  Berlin."
    for strategy in ("none", "simple", "max"):
        highlighted, summary, table, data = client.predict(text, strategy, api_name="/tag")
        assert data == service.tag(text, strategy).to_json()
        assert "".join(s["token"] for s in highlighted) == text
        assert f"{len(data['entities'])} entities" in summary
        for entity in data["entities"]:
            assert text[entity["start"] : entity["end"]] == entity["text"]
        assert len(table["data"]) == len(data["entities"])
    *_, default = client.predict(text, api_name="/tag")
    assert default == service.tag(text, "simple").to_json()


def test_head_helpers_are_not_in_the_api(client):
    endpoints = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert set(endpoints) == {
        "/detect",
        "/corrupt",
        "/proofread",
        "/classify",
        "/zeroshot",
        "/rerank",
        "/tag",
        "/answer",
        "/explain",
        "/batch",
        "/finetune",
        "/finetune_tag",
        "/finetune_qa",
        "/adapt",
    }
    assert [p["parameter_name"] for p in endpoints["/classify"]["parameters"]] == [
        "head",
        "text",
        "text_pair",
    ]
    assert [p["parameter_name"] for p in endpoints["/tag"]["parameters"]] == ["text", "aggregation", "model"]


def test_answer_over_http(client, service):
    context = "Marie Curie worked at the University of Paris.\nShe was born in Warsaw, in 1867."
    highlighted, summary, table, data = client.predict(
        "Where was Marie Curie born?", context, 3, api_name="/answer"
    )
    assert data == service.answer("Where was Marie Curie born?", context, 3).to_json()
    assert "".join(s["token"] for s in highlighted) == context
    assert len(table["data"]) == len(data["answers"]) <= 3
    for a in data["answers"]:
        assert context[a["start"] : a["end"]] == a["text"]
    assert ("No answer in this context" in summary) == data["no_answer"]
    endpoints = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    names = [p["parameter_name"] for p in endpoints["/answer"]["parameters"]]
    assert names[:3] == ["question", "context", "top_k"]
    assert all(p["parameter_has_default"] for p in endpoints["/answer"]["parameters"][2:])


def test_answer_errors_are_clean(client):
    with pytest.raises(AppError, match="question: it is empty"):
        client.predict("", "Paris is big.", 3, api_name="/answer")


def test_batch_file_over_http(client, service, tmp_path):
    """Upload a CSV through the API, get CSV and JSONL back with one record per row."""
    import csv
    import json

    from gradio_client import handle_file

    upload = tmp_path / "reviews.csv"
    upload.write_text("id,review\n1,A wonderful film.\n2,\n3,Dull and far too long.\n", encoding="utf-8")
    summary, preview, files = client.predict(
        handle_file(str(upload)),
        "classify",
        "review",
        "",
        "",
        "",
        "sentiment",
        "simple",
        0.5,
        3,
        api_name="/batch",
    )
    assert "2 of 3 rows done" in summary and "1 failed" in summary
    assert [row[0] for row in preview["data"]] == [1, 2, 3]
    paths = sorted(files, key=lambda p: p.endswith(".jsonl"))
    assert paths[0].endswith(".csv") and paths[1].endswith(".jsonl")
    records = [json.loads(line) for line in open(paths[1], encoding="utf-8")]
    assert [r["row"] for r in records] == [1, 2, 3]
    assert records[0] == {
        "row": 1,
        "text": "A wonderful film.",
        **service.classify("sentiment", "A wonderful film.").to_json(),
    }
    assert "empty" in records[1]["error"]
    with open(paths[0], encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["row"] for r in rows] == ["1", "2", "3"] and rows[1]["error"] == records[1]["error"]


def test_batch_refuses_too_many_rows_with_the_limit(client, tmp_path):
    from gradio_client import handle_file

    upload = tmp_path / "many.txt"
    upload.write_text("".join(f"line {i}\n" for i in range(501)), encoding="utf-8")
    with pytest.raises(AppError, match="501 rows; the limit is 500"):
        client.predict(handle_file(str(upload)), "detect", api_name="/batch")
