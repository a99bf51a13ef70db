"""The app over HTTP, through gradio_client, as a user's code would call it."""

from __future__ import annotations

import pytest
from gradio_client.exceptions import AppError

from tests.conftest import launch

TEXT = "The Chef  cooked\tthe méal.\nIt was 😀 good!"


def test_endpoints_are_named_and_documented(client):
    api = client.view_api(return_format="dict", print_info=False)
    endpoints = api["named_endpoints"]
    assert {"/detect", "/corrupt"} <= set(endpoints)
    assert [p["parameter_name"] for p in endpoints["/detect"]["parameters"]] == ["text", "threshold"]
    assert [p["parameter_name"] for p in endpoints["/corrupt"]["parameters"]] == ["text", "fraction", "seed"]
    assert not any("submit" in name or "lambda" in name for name in endpoints)  # helpers are hidden


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
