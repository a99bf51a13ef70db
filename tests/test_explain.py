"""The explainer's numbers against independent computations, on either backend.

- gradient x input equals plain autograd (a hook on the word-embedding output) to 1e-5;
- integrated gradients equals Captum called directly with the same settings, and ``score`` /
  ``baseline_score`` equal direct forwards; completeness holds at 128 steps;
- a checkpoint built so one token decides the label gives that token the largest attribution;
- targets, windows, offsets and words keep their promises; cancelling stops the run early;
  explaining leaves the shared model as it was while other requests use it.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from electra_demo.service import ModelService
from electra_demo.tasks import explain, salience
from electra_demo.tasks.explain_inputs import FieldError
from tests.helpers import explain as ref

TASKS = list(ref.TEXTS)


@pytest.fixture(scope="module")
def lively_env(tiny_env, tmp_path_factory) -> dict[str, str]:
    return ref.write_lively(tiny_env, tmp_path_factory.mktemp("lively"))


@pytest.fixture(scope="module")
def services(lively_env) -> dict[str, ModelService]:
    """The same lively checkpoints served by ONNX Runtime and by PyTorch, in fp32 whatever the
    suite's precision: the models' own picks are compared with fp32 references (Explain in bf16:
    tests/test_precision.py)."""
    fp32 = {"ELECTRA_DEMO_PRECISION": "fp32"}
    return {
        backend: ModelService(environ={**lively_env, "ELECTRA_DEMO_BACKEND": backend, **fp32})
        for backend in ("onnx", "torch")
    }


@pytest.fixture(scope="module")
def references(lively_env):
    return {task: ref.reference_model(lively_env, task) for task in TASKS}


# ---- against independent computations -------------------------------------------------------------
@pytest.mark.parametrize("backend", ["onnx", "torch"])
@pytest.mark.parametrize("task", TASKS)
def test_gradient_x_input_equals_plain_autograd(services, references, backend, task):
    text, pair = ref.TEXTS[task]
    result = services[backend].explain(task, text, pair).to_json()
    tokenizer, model = references[task]
    inputs = ref.encode(tokenizer, text, pair)
    select = ref.selector(model, task, inputs, result["target"])
    expected, value = ref.autograd_gxi(model, inputs, select)
    actual = np.array([t["attribution"] for t in result["tokens"]])
    np.testing.assert_allclose(actual, ref.non_special(expected, inputs), rtol=0, atol=1e-5)
    assert abs(np.abs(actual).max()) > 0.05, "lively checkpoints give attributions of order one"
    assert result["score"] == pytest.approx(value, abs=1e-5)
    assert result["method"] == "gradient_x_input"
    assert result["steps"] is None and result["baseline_score"] is None and result["delta"] is None


@pytest.mark.parametrize("backend", ["onnx", "torch"])
@pytest.mark.parametrize("task", TASKS)
def test_integrated_gradients_equals_captum(services, references, backend, task):
    text, pair = ref.TEXTS[task]
    result = services[backend].explain(task, text, pair, "", "integrated_gradients", 32).to_json()
    tokenizer, model = references[task]
    inputs = ref.encode(tokenizer, text, pair)
    select = ref.selector(model, task, inputs, result["target"])
    batch = salience.internal_batch(inputs["input_ids"].shape[1])
    assert batch == 16
    expected, delta = ref.captum_ig(model, tokenizer, inputs, select, 32, batch)
    actual = np.array([t["attribution"] for t in result["tokens"]])
    np.testing.assert_allclose(actual, ref.non_special(expected, inputs), rtol=0, atol=1e-5)
    assert result["delta"] == pytest.approx(delta, abs=1e-5)
    # the JSON's scores are direct forwards of the input and the baseline
    assert result["score"] == pytest.approx(
        ref.forward_value(model, select, inputs["input_ids"], inputs), abs=1e-5
    )
    base = ref.baseline(tokenizer, inputs["input_ids"])
    assert result["baseline_score"] == pytest.approx(ref.forward_value(model, select, base, inputs), abs=1e-5)
    # and delta is what it says: sum(attributions) - (score - baseline_score)
    gap = result["score"] - result["baseline_score"]
    assert result["delta"] == pytest.approx(sum(actual) - gap, abs=1e-4)
    assert result["steps"] == 32


@pytest.mark.parametrize("lively", [True, False], ids=["lively", "tiny"])
@pytest.mark.parametrize("task", TASKS)
def test_completeness_at_128_steps(services, service, lively, task):
    text, pair = ref.TEXTS[task]
    chosen = services["onnx"] if lively else service
    result = chosen.explain(task, text, pair, "", "integrated_gradients", 128).to_json()
    gap = result["score"] - result["baseline_score"]
    assert abs(result["delta"]) <= 0.02 * abs(gap) + 1e-3, (result["delta"], gap)
    if lively:
        assert abs(gap) > 0.1, "the lively checkpoints move their logits"


def test_both_backends_give_the_same_explanation(services):
    for task in TASKS:
        text, pair = ref.TEXTS[task]
        a = services["onnx"].explain(task, text, pair).to_json()
        b = services["torch"].explain(task, text, pair).to_json()
        assert a["target"] == b["target"] and a["model"] == b["model"]
        np.testing.assert_allclose(
            [t["attribution"] for t in a["tokens"]], [t["attribution"] for t in b["tokens"]], atol=1e-5
        )


def test_onnx_slot_gets_a_pytorch_copy_counted_in_memory(services):
    onnx, torch_service = services["onnx"], services["torch"]
    onnx.explain("qa", *ref.TEXTS["qa"])  # the target comes from the QA task, served by ONNX Runtime
    loaded = onnx.loaded_models()
    assert "ONNX" in loaded["qa"].backend and loaded["qa"].weight_bytes == 0
    assert "PyTorch" in loaded["qa:torch"].backend and loaded["qa:torch"].weight_bytes > 0
    torch_service.explain("qa", *ref.TEXTS["qa"])
    assert "qa:torch" not in torch_service.loaded_models(), "PyTorch slots are differentiated as they are"


# ---- the model's own pick, and targets named by the caller ------------------------------------------
def test_default_targets_are_the_models_own_picks(services):
    chosen = services["torch"]  # the PyTorch model predicts and is differentiated: the same numbers
    for head in ("sentiment", "emotion", "nli"):
        text, pair = ref.TEXTS[head]
        result = chosen.explain(head, text, pair)
        top, probability = chosen.classify(head, text, pair).labels[0]
        assert result.target.json == {"label": top}
        assert result.target.probability == pytest.approx(probability, abs=1e-4)
    text = ref.TEXTS["detect"][0]
    result = chosen.explain("detect", text)
    detected = chosen.detect(text)
    best = max(detected.tokens, key=lambda t: t.probability)
    assert result.target.json == {"text": best.text, "start": best.start, "end": best.end}
    assert result.target.probability == pytest.approx(best.probability, abs=1e-4)
    question, context = ref.TEXTS["qa"]
    result = services["onnx"].explain("qa", question, context)
    span = services["onnx"].answer(question, context).best_span
    assert result.target.json == {"text": span.text, "start": span.start, "end": span.end}


def test_named_targets(services, references):
    chosen = services["torch"]
    result = chosen.explain("emotion", ref.TEXTS["emotion"][0], "", "fear").to_json()
    assert result["target"] == {"label": "fear"}
    tokenizer, model = references["emotion"]
    inputs = ref.encode(tokenizer, ref.TEXTS["emotion"][0], "")
    with torch.no_grad():
        logits = model(**{k: inputs[k] for k in ("input_ids", "token_type_ids", "attention_mask")}).logits
    assert result["score"] == pytest.approx(float(logits[0, model.config.label2id["fear"]]), abs=1e-5)
    result = chosen.explain("detect", "The chef cooked the meal.", "", "meal").to_json()
    assert result["target"] == {"text": "meal", "start": 20, "end": 24}
    question, context = ref.TEXTS["qa"]
    result = chosen.explain("qa", question, context, "Paris").to_json()
    at = context.index("Paris")
    assert result["target"] == {"text": "Paris", "start": at, "end": at + 5}


@pytest.mark.parametrize(
    "args, field, message",
    [
        (("sarcasm", "hi"), "task", r"Unknown task 'sarcasm'; expected one of: sentiment, emotion"),
        (("emotion", "hi", "", "", "shap"), "method", r"Unknown method 'shap'"),
        (("emotion", "hi", "", "", "integrated_gradients", 0), "steps", r"from 1 to 256; got 0"),
        (("emotion", "hi", "", "", "integrated_gradients", 257), "steps", r"from 1 to 256; got 257"),
        (("emotion", "hi", "", "", "integrated_gradients", 2.5), "steps", r"whole number"),
        (("emotion", "hi", "", "", "integrated_gradients", True), "steps", r"whole number.*bool"),
        (("emotion", "hi", "", "", "integrated_gradients", "32"), "steps", r"whole number.*a text of 2"),
        (
            ("emotion", "hi", "", "bliss"),
            "target",
            r"Unknown label for the emotion head; expected one of: sadness",
        ),
        (("emotion", "hi", "", 3), "target", r"must be a string"),
        (("emotion", "hi", "It was fun."), "text_pair", r"reads one text"),
        (("detect", "hi", "It was fun."), "text_pair", r"reads one text"),
        (("nli", "A man cooks."), "text_pair", r"please give the hypothesis"),
        (("qa", "Where?"), "text_pair", r"Please enter some context"),
        (("qa", "a " * 600, "Paris is big."), "text", r"question is 1,200 characters"),
        (("detect", "The chef cooked.", "", "pizza"), "target", r"does not occur in the text"),
        (("qa", "Where?", "Paris is big.", "London"), "target", r"does not occur in the context"),
        (("ft-0123456789abcd", "hi"), "task", r"no fine-tuned head with that id|Unknown or expired model id"),
        (("sentiment", ""), "text", r"Please enter some text: it is empty"),
    ],
)
def test_bad_arguments_name_the_field(service, args, field, message):
    with pytest.raises(FieldError, match=message) as caught:
        service.explain(*args)
    assert caught.value.field == field


# ---- windows, offsets, words -------------------------------------------------------------------
def test_long_inputs_explain_the_first_window(service):
    text = "the chef cooked the meal in the kitchen . " * 80  # 720 tokens
    result = service.explain("sentiment", text)
    assert result.truncated and len(result.tokens) == 510
    assert result.tokens[-1].end < len(text)
    short = service.explain("sentiment", "the chef cooked the meal.")
    assert not short.truncated


def test_qa_explains_the_window_that_holds_the_answer(service):
    filler = "the quick brown fox jumps over the lazy dog . " * 60  # ~600 tokens before the answer
    context = filler + "Marie Curie was born in Warsaw in 1867."
    at = context.index("Warsaw")
    result = service.explain("qa", "Where was Marie Curie born?", context, "Warsaw")
    assert result.truncated
    assert result.target.json == {"text": "Warsaw", "start": at, "end": at + 6}
    context_tokens = [t for t in result.tokens if t.segment == 1]
    assert context_tokens[0].start > 0, "a later window, not the first"
    assert any(t.start == at for t in context_tokens)
    question_tokens = [t for t in result.tokens if t.segment == 0]
    assert "".join(t.text for t in question_tokens) == "WherewasMarieCurieborn?"


ODD = "Café naïve 😀 東京 [SEP] <b>x</b>\n\ttabs  and  spaces"


@pytest.mark.parametrize("task, pair", [("emotion", ""), ("nli", ODD), ("detect", ""), ("qa", ODD)])
def test_offsets_point_into_each_segment(service, task, pair):
    text = "Where is 😀 Café?" if task == "qa" else ODD
    result = service.explain(task, text, pair, "東京" if task == "qa" else "")
    sources = (text, pair)
    assert result.tokens
    for piece in [*result.tokens, *result.words]:
        assert piece.text == sources[piece.segment][piece.start : piece.end], piece
        assert 0 <= piece.start < piece.end <= len(sources[piece.segment])
    for segment in (0, 1):
        tokens = [t for t in result.tokens if t.segment == segment]
        words = [w for w in result.words if w.segment == segment]
        assert sum(t.attribution for t in tokens) == pytest.approx(
            sum(w.attribution for w in words), abs=1e-9
        )
        assert [(t.start, t.end) for t in tokens] == sorted((t.start, t.end) for t in tokens)
    data = result.to_json()
    keys = "task model method steps target score baseline_score delta truncated tokens words"
    assert set(data) == set(keys.split())
    assert set(data["tokens"][0]) == {"text", "start", "end", "segment", "attribution"}


def test_words_sum_their_pieces():
    inputs = explain.Inputs(
        ids=[2, 10, 11, 12, 3, 13, 14, 3],
        types=[0, 0, 0, 0, 0, 1, 1, 1],
        segments=[None, 0, 0, 0, None, 1, 1, None],
        offsets=[(0, 0), (0, 3), (3, 5), (6, 8), (0, 0), (0, 2), (2, 4), (0, 0)],
        words=[None, 0, 0, 1, None, 0, 0, None],
        truncated=False,
    )
    values = np.array([9.0, 1.0, 2.0, 4.0, 9.0, 8.0, 16.0, 9.0])
    tokens, words = explain.pieces(inputs, values, ("abcde fg", "wxyz"))
    assert [(t.text, t.segment, t.attribution) for t in tokens] == [
        ("abc", 0, 1.0), ("de", 0, 2.0), ("fg", 0, 4.0), ("wx", 1, 8.0), ("yz", 1, 16.0)
    ]  # fmt: skip
    assert [(w.text, w.start, w.end, w.segment, w.attribution) for w in words] == [
        ("abcde", 0, 5, 0, 3.0), ("fg", 6, 8, 0, 4.0), ("wxyz", 0, 4, 1, 24.0)
    ]  # fmt: skip
    assert salience.baseline_ids([2, 10, 11, 3], [True, False, False, True], 0) == [2, 0, 0, 3]
    assert [salience.internal_batch(n) for n in (10, 128, 512)] == [16, 16, 4]


# ---- one token decides -----------------------------------------------------------------------
def write_decisive(directory: Path, word: str) -> int:
    """A tiny sentiment checkpoint whose label is "positive" exactly when ``word`` is in the text.

    Weights by hand: word embeddings random in dimensions 1.. and 0 in dimension 0, except
    ``word``'s (20 there); every position adds the same random vector (0 in dimension 0: without
    it the embedding LayerNorm would be scale-invariant in each word vector, and every
    gradient x input exactly 0); layer 0 attends uniformly (zero query and key) with identity
    values and output, so [CLS] takes the mean of every position; the feed-forward blocks and
    layer 1 add nothing; the head reads dimension 0 of [CLS].
    """
    from transformers import ElectraForSequenceClassification

    from electra_demo.tools.tiny import _electra_config, _labelled, tiny_tokenizer

    tokenizer = tiny_tokenizer()
    model = ElectraForSequenceClassification(
        _electra_config(len(tokenizer), **_labelled(("negative", "positive")))
    )
    decisive = tokenizer.convert_tokens_to_ids(word)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.zero_()
        for name, parameter in model.named_parameters():
            if "LayerNorm.weight" in name:
                parameter.fill_(1.0)
        embeddings = model.electra.embeddings
        embeddings.word_embeddings.weight[:, 1:] = torch.randn(len(tokenizer), 31, generator=generator) * 0.5
        embeddings.position_embeddings.weight[:, 1:] = torch.randn(31, generator=generator)
        embeddings.word_embeddings.weight[tokenizer.pad_token_id] = 0.0
        embeddings.word_embeddings.weight[decisive, 0] = 20.0
        attention = model.electra.encoder.layer[0].attention
        attention.self.value.weight.copy_(torch.eye(32))
        attention.output.dense.weight.copy_(torch.eye(32))
        head = model.classifier
        head.dense.weight[0, 0] = 10.0  # [CLS]'s dimension 0 is about -0.17 without the word, >= 0.02 with it
        head.dense.bias[0] = 0.7
        head.out_proj.weight[1, 0] = 10.0
        head.out_proj.bias[1] = -3.0
    model.config.electra_demo_random_weights = True
    model.save_pretrained(directory, safe_serialization=True)
    tokenizer.save_pretrained(directory)
    return decisive


@pytest.fixture(scope="module")
def decisive(tiny_env, tmp_path_factory) -> ModelService:
    directory = tmp_path_factory.mktemp("decisive")
    write_decisive(directory, "wonderful")
    return ModelService(
        environ={**tiny_env, "ELECTRA_DEMO_SENTIMENT": str(directory), "ELECTRA_DEMO_BACKEND": "torch"}
    )


@pytest.mark.parametrize("method", ["gradient_x_input", "integrated_gradients"])
def test_the_deciding_token_gets_the_largest_attribution(decisive, method):
    chosen = decisive
    with_word = [
        "The film was slow and wonderful.",
        "Wonderful, the chef cooked the meal in the kitchen.",
        "I loved this movie, it was wonderful and moving!",
    ]
    for text in with_word:
        assert chosen.classify("sentiment", text).labels[0][0] == "positive"
        result = chosen.explain("sentiment", text, "", "", method, 64)
        assert result.target.json == {"label": "positive"}
        top = max(result.words, key=lambda w: abs(w.attribution))
        assert top.text.lower() == "wonderful" and top.attribution > 0, [
            (w.text, round(w.attribution, 3)) for w in result.words
        ]
    assert chosen.classify("sentiment", "The film was slow and boring.").labels[0][0] == "negative"


# ---- cancel, and the shared model left alone -----------------------------------------------------
def test_cancel_stops_integrated_gradients_early(services):
    cancel = threading.Event()
    seen: list[float] = []

    def progress(fraction: float) -> None:
        seen.append(fraction)
        if len(seen) == 3:
            cancel.set()

    text, pair = ref.TEXTS["nli"]
    with pytest.raises(explain.Cancelled):
        services["torch"].explain(
            nli := "nli", text, pair, "", "integrated_gradients", 256, progress=progress, cancel=cancel
        )
    assert len(seen) == 3 and seen[-1] < 0.2, seen
    done = services["torch"].explain(nli, text, pair, "", "integrated_gradients", 8, progress=seen.append)
    assert done.delta is not None and seen[-1] == 1.0


def test_explaining_leaves_the_shared_model_alone(services):
    """On PyTorch the explainer differentiates the very model that serves the page: no
    parameter gets a gradient, nothing changes requires_grad or keeps a hook, and requests
    running meanwhile get the same answers as alone."""
    chosen = services["torch"]
    text = "I can't believe they threw me a surprise party!"
    alone = chosen.classify("emotion", text).labels
    model = chosen.load("emotion").model
    flags = [p.requires_grad for p in model.parameters()]
    stop = threading.Event()
    errors: list[BaseException] = []

    def explain_in_a_loop() -> None:
        try:
            while not stop.is_set():
                chosen.explain("emotion", text, "", "", "integrated_gradients", 64)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    worker = threading.Thread(target=explain_in_a_loop)
    worker.start()
    try:
        for _ in range(20):
            during = chosen.classify("emotion", text).labels
            assert [label for label, _ in during] == [label for label, _ in alone]
            np.testing.assert_allclose([s for _, s in during], [s for _, s in alone], atol=1e-5)
    finally:
        stop.set()
        worker.join(timeout=60)
    assert not errors, errors
    assert all(p.grad is None for p in model.parameters())
    assert [p.requires_grad for p in model.parameters()] == flags
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())
