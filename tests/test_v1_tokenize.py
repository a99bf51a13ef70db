"""/v1/tokenize and /v1/detokenize (vLLM's shape, plus offsets), /v1/classify's raw_scores and the
x-compute-time header, over plain HTTP and the openai client's ``post``, on the tiny checkpoints:
the ids and offsets are the tokenizer's own, detokenize inverts tokenize, raw scores are the
logits transformers computes, and bad input is a 400 in the /v1 error shape."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import httpx
import numpy as np
import openai
import pytest

from electra_demo import config
from electra_demo.service import ModelService
from electra_demo.trained import kinds
from electra_demo.trained.store import Meta

PROMPTS = ["The chef cooked the meal.", "Café 😀 naïve [SEP] text", "  spaced\tout\nlines  "]
SERVE = {"service": "own_service", "environ": {"ELECTRA_DEMO_RATE_LIMIT": "0"}}  # for conftest's url


@pytest.fixture(scope="module")
def own_service(tiny_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> ModelService:
    """The tiny checkpoints on PyTorch in fp32 (no export to wait for, and raw scores comparable to
    transformers' own float32 logits), with a store of its own."""
    cache = str(tmp_path_factory.mktemp("tokenize"))
    fp32 = {"ELECTRA_DEMO_BACKEND": "torch", "ELECTRA_DEMO_PRECISION": "fp32"}
    return ModelService(environ={**tiny_env, **fp32, "ELECTRA_DEMO_CACHE": cache})


@pytest.fixture(scope="module")
def client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)


def tokenizer_of(directory: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(directory)


def post(url: str, path: str, body: dict) -> httpx.Response:
    return httpx.post(url + path, json=body, timeout=120)


def test_tokenize_equals_the_tokenizers_ids_and_offsets(url, client, tiny_env):
    from transformers import AutoConfig

    directory = tiny_env["ELECTRA_DEMO_NER"]
    tokenizer = tokenizer_of(directory)
    longest = AutoConfig.from_pretrained(directory).max_position_embeddings
    for prompt in PROMPTS:
        for specials in (True, False):
            body = {"model": "ner", "prompt": prompt, "add_special_tokens": specials, "return_offsets": True}
            reply = post(url, "/v1/tokenize", body)
            assert reply.status_code == 200, reply.text
            got = reply.json()
            own = tokenizer(
                prompt, add_special_tokens=specials, return_offsets_mapping=True, split_special_tokens=True
            )
            assert got["tokens"] == own["input_ids"] and got["count"] == len(own["input_ids"])
            assert got["offsets"] == [list(pair) for pair in own["offset_mapping"]]
            assert got["max_model_len"] == longest
            for (start, end), token in zip(got["offsets"], got["tokens"], strict=True):
                if token not in tokenizer.all_special_ids:
                    assert 0 <= start < end <= len(prompt) and prompt[start:end].strip()
    # the openai client's post; the default model; no offsets unless asked
    plain = client.post("/tokenize", cast_to=object, body={"prompt": PROMPTS[0]})
    assert set(plain) == {"tokens", "count", "max_model_len"}
    assert plain["tokens"] == tokenizer(PROMPTS[0])["input_ids"]  # the slots share the tokenizer
    bare = {"model": directory, "prompt": PROMPTS[0], "add_special_tokens": False}  # by checkpoint id
    by_id = client.post("/tokenize", cast_to=object, body=bare)
    assert by_id["tokens"] == plain["tokens"][1:-1]


def test_detokenize_inverts_tokenize(url, client, tiny_env):
    tokenizer = tokenizer_of(tiny_env["ELECTRA_DEMO_DISCRIMINATOR"])
    for prompt in PROMPTS:
        ids = post(url, "/v1/tokenize", {"prompt": prompt}).json()["tokens"]
        text = client.post("/detokenize", cast_to=object, body={"model": "discriminator", "tokens": ids})
        assert text == {"prompt": tokenizer.decode(ids)}
        bare = post(url, "/v1/tokenize", {"prompt": prompt, "add_special_tokens": False}).json()["tokens"]
        if tokenizer.unk_token_id not in bare:  # every piece known: decoding reads back the same ids
            again = post(url, "/v1/detokenize", {"tokens": bare}).json()["prompt"]
            assert tokenizer(again, add_special_tokens=False)["input_ids"] == bare
    lower = "the"  # an uncased word the tiny vocabulary holds whole: it reads back as typed
    ids = post(url, "/v1/tokenize", {"prompt": lower, "add_special_tokens": False}).json()["tokens"]
    assert post(url, "/v1/detokenize", {"tokens": ids}).json() == {"prompt": lower}
    assert post(url, "/v1/detokenize", {"tokens": []}).json() == {"prompt": ""}


def stage(service: ModelService, tiny_dir: Path, task: str, slot: str) -> str:
    """Put the tiny ``slot`` checkpoint in the service's store as a trained model of kind ``task``."""
    model_id = kinds.new_id(task)
    shutil.copytree(tiny_dir / slot, service.finetuned.staging(model_id))
    labels = tuple(config.REGISTRY[slot].labels)
    meta = Meta(model_id, task, slot, "tiny", "apache-2.0", "full", labels, False, time.time(), task=task)
    service.finetuned.add(meta, owner="tests")
    return model_id


def test_a_trained_models_tokenizer_by_its_id(url, own_service, tiny_dir, tiny_env):
    tagger = stage(own_service, tiny_dir, "tag", "ner")  # any kind: a tagger here, not a /classify head
    prompt = PROMPTS[1]
    mine = post(url, "/v1/tokenize", {"model": tagger, "prompt": prompt}).json()
    own = tokenizer_of(tiny_env["ELECTRA_DEMO_NER"])(prompt, split_special_tokens=True)
    assert mine["tokens"] == own["input_ids"]
    text = post(url, "/v1/detokenize", {"model": tagger, "tokens": mine["tokens"]})
    assert text.status_code == 200 and "[CLS]" in text.json()["prompt"]
    gone = post(url, "/v1/tokenize", {"model": "ft-00000000000000ff", "prompt": prompt})
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "model_not_found"


def test_bad_input_is_a_400_in_the_v1_shape(url, client, tiny_env):
    size = len(tokenizer_of(tiny_env["ELECTRA_DEMO_DISCRIMINATOR"]))
    cases = [  # (route, body, status, param, words the message holds)
        ("/v1/detokenize", {"tokens": [2, size]}, 400, "tokens[1]", f"0 to {size - 1}"),
        ("/v1/detokenize", {"tokens": [2, -1]}, 400, "tokens[1]", "greater than or equal to 0"),
        ("/v1/detokenize", {"tokens": "2 3"}, 400, "tokens", "valid list"),
        ("/v1/detokenize", {"tokens": [2.5]}, 400, "tokens[0]", "valid integer"),
        ("/v1/detokenize", {}, 400, "tokens", "required"),
        ("/v1/tokenize", {"prompt": "x" * (config.MAX_TEXT_CHARS + 1)}, 400, "prompt", "at most"),
        ("/v1/tokenize", {"prompt": 3}, 400, "prompt", "valid string"),
        ("/v1/tokenize", {"prompt": "x", "add_special_tokens": "yes"}, 400, "add_special_tokens", "boolean"),
        ("/v1/tokenize", {"prompt": "x", "offsets": True}, 400, "offsets", "Unknown field"),
        ("/v1/tokenize", {"prompt": "x", "model": "gpt-4"}, 404, "model", "does not exist"),
    ]
    for route, body, status, param, words in cases:
        reply = post(url, route, body)
        assert reply.status_code == status, (route, body, reply.text)
        error = reply.json()["error"]
        assert error["param"] == param and words in error["message"], (body, error)
        assert "Traceback" not in reply.text and "x" * 100 not in reply.text  # the text is not echoed
    with pytest.raises(openai.BadRequestError) as refused:
        client.post("/detokenize", cast_to=object, body={"tokens": [size + 7]})
    assert refused.value.body["code"] == "invalid_token_id"


def test_raw_scores_are_the_logits_transformers_computes(url, tiny_env):
    import torch
    from transformers import AutoModelForSequenceClassification

    texts = ["A wonderful film.", "Dull and far too long."]
    directory = tiny_env["ELECTRA_DEMO_SENTIMENT"]
    model = AutoModelForSequenceClassification.from_pretrained(directory).eval()
    with torch.no_grad():
        logits = model(**tokenizer_of(directory)(texts, padding=True, return_tensors="pt")).logits.numpy()
    raw = post(url, "/v1/classify", {"model": "sentiment", "input": texts, "raw_scores": True}).json()
    probs = post(url, "/v1/classify", {"model": "sentiment", "input": texts}).json()
    labels = [model.config.id2label[i] for i in range(logits.shape[1])]
    for row, raw_row, prob_row in zip(logits, raw["data"], probs["data"], strict=True):
        np.testing.assert_allclose(raw_row["probs"], row, rtol=1e-4, atol=1e-5)
        assert [item["label"] for item in raw_row["labels"]] == [labels[i] for i in np.argsort(-row)]
        assert [item["score"] for item in raw_row["labels"]] == sorted(raw_row["probs"], reverse=True)
        assert raw_row["label"] == prob_row["label"] and abs(sum(prob_row["probs"]) - 1) < 1e-5


def test_every_v1_answer_carries_x_compute_time_beside_x_request_id(url):
    answers = [
        httpx.get(url + "/v1/models"),
        post(url, "/v1/tokenize", {"prompt": "timed"}),
        post(url, "/v1/classify", {"model": "sentiment", "input": "timed", "raw_scores": True}),
        post(url, "/v1/detokenize", {"tokens": [10**9]}),  # 400
        post(url, "/v1/tokenize", {"prompt": "x", "model": "nope"}),  # 404
        httpx.get(url + "/v1/tokenize"),  # 405
        httpx.get(url + "/v1/no-such-route"),  # 404
        httpx.post(url + "/v1/tokenize", content=b"{not json", headers={"content-type": "application/json"}),
        httpx.get(url + "/health"),
    ]
    for reply in answers:
        assert reply.headers["x-request-id"], reply.request.url
        assert reply.headers["x-compute-time"].isdigit(), (reply.request.url, reply.headers)
    assert "x-compute-time" not in httpx.get(url + "/").headers  # the page is Gradio's, as before
