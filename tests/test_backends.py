"""Backends (PyTorch, ONNX Runtime fp32 and int8) and micro-batching: equal answers, fallbacks."""

from __future__ import annotations

import logging
import threading
import time

import numpy as np
import pytest

from electra_demo.runtime import backends
from electra_demo.runtime.backends import BackendChoice
from electra_demo.runtime.batching import MicroBatcher, pad_rows, plan_batches, run_rows
from electra_demo.service import ModelService
from tests.helpers.compare import Tolerance, assert_close

ROUNDING = Tolerance(rel=0, abs=1e-5)  # ONNX Runtime and PyTorch (and batched rows) round apart
TEXTS = [
    "The chef cooked the meal in the kitchen.",
    "Marie Curie worked at the University of Paris.",
    "Café 東京 😀 and\ttabs\nnew lines.",
    "x",
]


def services(tiny_env):
    """Both backends on the suite's shared export cache (export itself is tested on fresh caches below),
    in fp32 whatever the suite's precision: they agree to rounding there (bf16: tests/test_precision.py)."""
    environ = {**tiny_env, "ELECTRA_DEMO_PRECISION": "fp32"}
    return (
        ModelService(environ={**environ, "ELECTRA_DEMO_BACKEND": "torch"}),
        ModelService(environ={**environ, "ELECTRA_DEMO_BACKEND": "onnx"}),
    )


def test_onnx_equals_torch_on_every_task(tiny_env):
    torch_service, onnx_service = services(tiny_env)
    for text in TEXTS:
        assert_close(onnx_service.detect(text).to_json(), torch_service.detect(text).to_json(), ROUNDING)
        onnx_tags, torch_tags = onnx_service.tag(text, "simple"), torch_service.tag(text, "simple")
        assert_close(onnx_tags.to_json(), torch_tags.to_json(), ROUNDING)
        assert_close(
            onnx_service.classify("emotion", text).to_json(),
            {**torch_service.classify("emotion", text).to_json()},
            ROUNDING,
        )
        assert_close(
            onnx_service.answer("Who worked?", text, top_k=5).to_json(),
            torch_service.answer("Who worked?", text, top_k=5).to_json(),
            ROUNDING,
        )
    assert_close(
        onnx_service.classify("nli", TEXTS[0], TEXTS[1]).to_json(),
        torch_service.classify("nli", TEXTS[0], TEXTS[1]).to_json(),
        ROUNDING,
    )
    assert onnx_service.card("discriminator")["backend"].startswith("ONNX Runtime CPU fp32")
    assert torch_service.card("discriminator")["backend"] == "PyTorch cpu fp32"


def test_export_is_cached_and_reused_on_the_next_start(tiny_env, tmp_path):
    environ = {**tiny_env, "ELECTRA_DEMO_CACHE": str(tmp_path), "ELECTRA_DEMO_BACKEND": "onnx"}
    first = ModelService(environ=environ)
    first.detect("The chef.")
    assert "exported now" in first.card("discriminator")["backend"]
    exports = sorted(p.parent.name for p in tmp_path.glob("*/model.onnx"))
    assert len(exports) == 1
    second = ModelService(environ=environ)
    second.detect("The chef.")
    assert "cached export" in second.card("discriminator")["backend"]
    assert sorted(p.parent.name for p in tmp_path.glob("*/model.onnx")) == exports


def test_failed_export_falls_back_to_torch_and_says_so(tiny_env, tmp_path, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("exporter exploded")

    monkeypatch.setattr(backends, "export_onnx", broken)  # the child-process export
    service = ModelService(
        environ={**tiny_env, "ELECTRA_DEMO_CACHE": str(tmp_path), "ELECTRA_DEMO_BACKEND": "onnx"}
    )
    with caplog.at_level(logging.WARNING):
        result = service.detect("The chef cooked.")
    assert result.tokens
    backend = service.card("discriminator")["backend"]
    assert backend.startswith("PyTorch") and "fallback" in backend and "exporter exploded" in backend
    assert "ONNX backend failed" in caplog.text


def test_int8_mode_is_opt_in_and_reports_its_agreement(tiny_env):
    # the suite's shared export cache: int8 and fp32 exports of one checkpoint must live side by side
    int8 = ModelService(environ={**tiny_env, "ELECTRA_DEMO_INT8": "1"})
    fp32 = ModelService(environ=dict(tiny_env))
    text = TEXTS[1]
    a, b = int8.detect(text).to_json(), fp32.detect(text).to_json()
    backend = int8.card("discriminator")["backend"]
    assert "int8" in backend and "vs fp32" in backend
    assert "int8" not in fp32.card("discriminator")["backend"]
    # int8 changes the numbers a little (the card shows by how much), not the tokens
    assert [t["text"] for t in a["tokens"]] == [t["text"] for t in b["tokens"]]
    differences = [
        abs(x["probability"] - y["probability"]) for x, y in zip(a["tokens"], b["tokens"], strict=True)
    ]
    assert max(differences) < 0.05


def test_backend_choice_from_environment(tmp_path):
    assert BackendChoice.from_environ({}).backend == "auto"
    choice = BackendChoice.from_environ(
        {"ELECTRA_DEMO_BACKEND": "Torch", "ELECTRA_DEMO_CACHE": str(tmp_path)}
    )
    assert choice.backend == "torch" and choice.cache_dir == tmp_path and not choice.int8
    with pytest.raises(ValueError, match="ELECTRA_DEMO_BACKEND must be auto, torch or onnx; got 'tpu'"):
        BackendChoice.from_environ({"ELECTRA_DEMO_BACKEND": "tpu"})


# ---- batching ------------------------------------------------------------------------------
def echo(inputs):
    """A stand-in model: per-token output = id * 10 + token type; one 'pooled' value per row."""
    ids = inputs["input_ids"]
    return {"logits": ids * 10 + inputs["token_type_ids"], "pooled": ids.sum(axis=1)}


def test_pad_rows():
    padded = pad_rows([([5, 6, 7], [0, 1, 1]), ([8], [0])], pad_id=0)
    assert padded["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert padded["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert padded["token_type_ids"].tolist() == [[0, 1, 1], [0, 0, 0]]


def test_plan_batches_sorts_by_length_and_caps_size():
    assert plan_batches([5, 100, 7, 90, 6], max_rows=2, max_tokens=1000) == [[0, 4], [2, 3], [1]]
    assert plan_batches([10, 10, 10], max_rows=8, max_tokens=20) == [[0, 1], [2]]


def test_run_rows_cuts_each_row_back_to_its_length():
    rows = [([1, 2, 3], [0, 0, 1]), ([4], [0]), ([5, 6], [1, 1])]
    outputs = run_rows(echo, rows, per_token=True, pad_id=0, max_rows=8, max_tokens=100)
    assert [o["logits"].tolist() for o in outputs] == [[10, 20, 31], [40], [51, 61]]


def held_batcher(model, waiting: int, **kwargs) -> tuple[MicroBatcher, list[int], threading.Event]:
    """A batcher whose first model call waits until ``waiting`` more requests are queued behind it
    (waiting on that event, not on the clock), so those must ride together in the next call.
    Returns the batcher, the rows of each model call, and an event set once the first call runs."""
    calls: list[int] = []
    first = threading.Event()
    batcher: MicroBatcher

    def held(inputs):
        calls.append(inputs["input_ids"].shape[0])
        if len(calls) == 1:
            first.set()
            deadline = time.monotonic() + 120  # a bound reached only if the callers never come
            while len(batcher._pending) < waiting:
                assert time.monotonic() < deadline, "the other requests never reached the batcher"
                time.sleep(0.005)
        return model(inputs)

    batcher = MicroBatcher(held, **kwargs)
    return batcher, calls, first


def run_together(caller, first_key, other_keys, first: threading.Event) -> None:
    """``caller(first_key)`` and, once its model call runs, the others side by side."""
    threads = [threading.Thread(target=caller, args=(first_key,))]
    threads[0].start()
    assert first.wait(120), "the first request never reached the model"
    threads += [threading.Thread(target=caller, args=(k,)) for k in other_keys]
    for thread in threads[1:]:
        thread.start()
    for thread in threads:
        thread.join()


def test_micro_batcher_merges_concurrent_callers_and_keeps_answers_apart():
    batcher, calls, first = held_batcher(echo, waiting=7, per_token=True, max_rows=16)
    results = {}

    def caller(k):
        results[k] = batcher.run([([k, k + 1], [0, 0])])[0]["logits"].tolist()

    run_together(caller, 1, range(2, 9), first)
    assert results == {k: [k * 10, (k + 1) * 10] for k in range(1, 9)}
    assert calls == [1, 7]  # the seven that arrived during the first call rode together


def test_one_failing_request_fails_alone():
    def fragile(inputs):
        if (inputs["input_ids"] == 666).any():
            raise RuntimeError("out of memory (simulated)")
        return echo(inputs)

    batcher, calls, first = held_batcher(fragile, waiting=3, per_token=True)
    outcomes = {}

    def caller(k):
        try:
            outcomes[k] = batcher.run([([k], [0])])[0]["logits"].tolist()
        except RuntimeError as error:
            outcomes[k] = str(error)

    run_together(caller, 1, (2, 666, 3), first)
    assert outcomes == {1: [10], 2: [20], 3: [30], 666: "out of memory (simulated)"}
    assert calls[:2] == [1, 3]  # the bad row was in a batch with two good ones, then each alone


def test_concurrent_requests_get_what_they_would_get_alone(service):
    texts = [f"{TEXTS[i % len(TEXTS)]} {'word ' * i}" for i in range(8)]
    alone = [service.detect(t).to_json() for t in texts]
    together: dict[int, dict] = {}

    def caller(i):
        together[i] = service.detect(texts[i]).to_json()

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(len(texts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for i in range(len(texts)):
        assert_close(together[i], alone[i], ROUNDING)
    assert np.isfinite([t["probability"] for t in together[0]["tokens"]]).all()
