"""Pure pieces of the /v1 API: pooling, input checks, error shaping, model names."""

from __future__ import annotations

import numpy as np
import pytest

from electra_demo.api.catalog import Catalog
from electra_demo.api.errors import ApiError, describe, param_path, validation_error
from electra_demo.checks import InputError
from electra_demo.tasks import embed


def test_mean_and_cls_pooling_are_unit_vectors():
    hidden = [np.array([[3.0, 4.0], [1.0, 0.0]], np.float32), np.array([[0.0, 2.0]], np.float32)]
    mean = embed.postprocess(hidden, "mean")
    np.testing.assert_allclose(mean[0], np.array([2.0, 2.0]) / np.sqrt(8), rtol=1e-6)
    np.testing.assert_allclose(mean[1], [0.0, 1.0])
    cls = embed.postprocess(hidden, "cls")
    np.testing.assert_allclose(cls[0], [0.6, 0.8], rtol=1e-6)
    assert mean.dtype == np.float32
    np.testing.assert_allclose(embed.postprocess([np.zeros((2, 3), np.float32)], "mean"), 0.0)  # no NaN
    with pytest.raises(InputError, match="mean, cls"):
        embed.postprocess(hidden, "max")


def test_inputs_are_normalised_and_checked():
    assert embed.check_inputs("a") == ["a"]
    assert embed.check_inputs([1, 2]) == [[1, 2]]
    assert embed.check_inputs([[1], "b"]) == [[1], "b"]
    for bad, words in (
        ([], "must be"),
        (["ok", " "], "text input[1]"),
        ([[1], [-1]], "input[1]"),
        ([True], "input[0]"),
    ):
        with pytest.raises(InputError, match=words.replace("[", r"\[")):
            embed.check_inputs(bad)


def test_embedding_token_limit_and_truncation(service):
    loaded = service.load_encoder("discriminator")
    long = "the chef " * 400
    with pytest.raises(InputError, match=r"input\[1\] is \d+ tokens long .* limit is 512"):
        embed.tokenize(loaded, ["short", long], None)
    rows = embed.tokenize(loaded, ["short", long], 16)
    assert len(rows[1]) == 16 and rows[1][0] == loaded.tokenizer.cls_token_id
    assert rows[1][-1] == loaded.tokenizer.sep_token_id
    assert len(embed.tokenize(loaded, [long], -1)[0]) == loaded.max_tokens
    assert embed.tokenize(loaded, [[5] * 600], 7) == [[5] * 7]
    for bad in (0, loaded.max_tokens + 1, -2):
        with pytest.raises(InputError, match="truncate_prompt_tokens"):
            embed.tokenize(loaded, ["x"], bad)
    with pytest.raises(InputError, match="room"):
        embed.tokenize(loaded, [long], 2)


def test_validation_errors_name_the_field_without_echoing_input():
    error = validation_error(
        [{"loc": ("body", "input", "list[constrained-str]", 3), "type": "string_type", "msg": "x"}]
    )
    assert error.param == "input[3]"
    assert param_path(("body", "input", "QAInput", "context")) == "input.context"
    assert (
        validation_error([{"loc": ("body",), "type": "missing", "msg": "Field required"}]).code
        == "missing_body"
    )
    union = validation_error(
        [
            {
                "loc": ("body", "input", "constrained-str"),
                "type": "string_type",
                "msg": "Input should be a valid string",
            },
            {
                "loc": ("body", "input", "list[constrained-str]"),
                "type": "too_long",
                "msg": "List should have at most 64 items",
            },
        ],
        {"input": "a text or a list of 1 to 64 texts"},
    )
    assert union.param == "input" and "at most 64" in union.message and "a text or a list" in union.message
    secret = "<script>alert(1)</script> and much more text"
    assert secret not in describe(secret) and describe("gpt-4") == "'gpt-4'"
    assert ApiError(429, "slow down", retry_after=7).headers() == {"Retry-After": "7"}
    assert ApiError(503, "busy").body()["error"]["type"] == "server_error"


def test_catalog_takes_aliases_and_ids_and_refuses_the_rest(service):
    catalog = Catalog(service.resolve)
    assert catalog.slot_for("nli", "/v1/classify") == "nli"
    assert catalog.slot_for(service.resolve("ner").source, "/v1/embeddings") == "ner"
    with pytest.raises(ApiError) as unknown:
        catalog.slot_for("../../etc/passwd", "/v1/embeddings")
    assert unknown.value.status == 404 and unknown.value.code == "model_not_found"
    with pytest.raises(ApiError) as wrong:
        catalog.slot_for("qa", "/v1/classify")
    assert wrong.value.status == 400 and "sentiment, emotion, nli" in wrong.value.message
    assert catalog.names("/v1/tag") == ["ner", service.resolve("ner").source]
