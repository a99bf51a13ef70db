"""The model service on small checkpoints, against a direct transformers computation."""

from __future__ import annotations

import shutil
import threading

import pytest
import torch
from transformers import AutoTokenizer, ElectraForPreTraining

from electra_demo.checks import InputError
from electra_demo.service import ModelService, ModelUnavailable
from electra_demo.text.processing import precision_recall_f1, roc_auc

TEXTS = {
    "plain": "The chef cooked the meal in the kitchen.",
    "accents": "Café, naïve résumé and crème brûlée.",
    "combining": "Cafe\u0301 and nai\u0308ve written with combining marks.",
    "cjk": "東京は日本の首都です。北京是中国的首都。",
    "emoji": "Emoji 😀 and 👩‍👩‍👧 families, ©, €.",
    "rtl": "مرحبا بالعالم and שלום עולם mixed with English.",
    "whitespace": "Tabs\tand  double spaces\nand new lines\n\n  end.",
    "punctuation": "?!... ,;: --",
    "one_char": "a",
    "html": '<script>alert("x")</script> <b>bold</b> & <img src=x onerror=alert(1)>',
}


@pytest.fixture(scope="module")
def service(tiny_env) -> ModelService:
    """fp32 whatever the suite's precision (``ELECTRA_DEMO_PRECISION``): compared with transformers'
    own fp32 numbers to rounding; bf16's agreement with fp32 is tests/test_precision.py's."""
    return ModelService(environ={**tiny_env, "ELECTRA_DEMO_PRECISION": "fp32"})


@pytest.fixture(scope="module")
def reference(tiny_env):
    path = tiny_env["ELECTRA_DEMO_DISCRIMINATOR"]
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = ElectraForPreTraining.from_pretrained(path).eval()
    return tokenizer, model


def direct(reference, text):
    """P(replaced) per token the plain transformers way: tokenizer + model + sigmoid."""
    tokenizer, model = reference
    encoding = tokenizer(text, return_tensors="pt", return_offsets_mapping=True)
    offsets = encoding.pop("offset_mapping")[0].tolist()
    with torch.inference_mode():
        probabilities = torch.sigmoid(model(**encoding).logits[0]).tolist()
    assert encoding.tokens()[0] == "[CLS]" and encoding.tokens()[-1] == "[SEP]"
    return [(tuple(o), p) for o, p in zip(offsets[1:-1], probabilities[1:-1], strict=True)]


@pytest.mark.parametrize("name", sorted(TEXTS))
def test_detect_equals_direct_transformers(service, reference, name):
    text = TEXTS[name]
    result = service.detect(text)
    expected = direct(reference, text)
    assert [(t.start, t.end) for t in result.tokens] == [span for span, _ in expected]
    for token, (_, probability) in zip(result.tokens, expected, strict=True):
        assert token.probability == pytest.approx(probability, abs=1e-5)
        assert token.text == text[token.start : token.end]
        assert token.replaced == (token.probability > 0.5)


def test_detect_keeps_original_casing_and_no_special_tokens(service):
    result = service.detect("The CHEF Cooked")
    assert [t.text for t in result.tokens][:1] == ["The"]
    assert all(t.text not in ("[CLS]", "[SEP]") for t in result.tokens)
    assert "CHEF" in {w.text for w in result.words}


def test_words_take_the_max_of_their_pieces(service):
    result = service.detect("Unbelievably, the kitchenware arrived.")
    for word in result.words:
        pieces = [t for t in result.tokens if word.start <= t.start and t.end <= word.end]
        assert pieces and word.probability == max(t.probability for t in pieces)
        assert word.text == result.text[word.start : word.end]
        assert word.replaced == (word.probability > result.threshold)


def test_threshold_moves_the_flags(service):
    low, high = service.detect(TEXTS["plain"], 0.0), service.detect(TEXTS["plain"], 1.0)
    assert all(t.replaced for t in low.tokens) and not any(t.replaced for t in high.tokens)


def test_long_text_is_covered_by_windows_like_the_tokenizers_overflow(service, reference):
    """Over 1,000 tokens: every token is scored, from the window where it has most context.

    The reference windows come from the tokenizer's own overflow-with-stride, run one by one.
    """
    tokenizer, model = reference
    text = " ".join(f"{TEXTS['plain']} {TEXTS['accents']} number {i}." for i in range(60))
    n_tokens = len(tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])
    assert n_tokens > 1000
    result = service.detect(text)
    assert len(result.tokens) == n_tokens

    stride = 128
    windows = tokenizer(
        text,
        max_length=512,
        truncation=True,
        stride=stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
    )
    best: dict[tuple[int, int], tuple[int, float]] = {}
    for ids, offsets in zip(windows["input_ids"], windows["offset_mapping"], strict=True):
        with torch.inference_mode():
            probabilities = torch.sigmoid(model(input_ids=torch.tensor([ids])).logits[0]).tolist()
        content = len(ids) - 2
        for position in range(1, len(ids) - 1):
            context = min(position - 1, content - position)
            key = tuple(offsets[position])
            if key not in best or context > best[key][0]:
                best[key] = (context, probabilities[position])
    assert len(windows["input_ids"]) >= 3
    for token in result.tokens:
        assert token.probability == pytest.approx(best[(token.start, token.end)][1], abs=1e-5)


def test_corrupt_is_reproducible_and_consistent(service):
    text = "The chef cooked the meal in the kitchen while Marie Curie worked at the University of Paris."
    first, again = service.corrupt(text, 0.3, 7), service.corrupt(text, 0.3, 7)
    assert first.to_json() == again.to_json()
    data = first.to_json()
    assert data["original"] == text
    assert set(data) == {"original", "corrupted", "replacements", "tokens", "metrics"}
    assert data["replacements"], "a 30% corruption of 17 words should replace something"
    for r in data["replacements"]:
        assert data["corrupted"][r["start"] : r["end"]] == r["replacement"]
        assert r["replacement"].lower() != r["original"].lower()
    # the tokens are the discriminator's view of the corrupted text
    assert data["tokens"] == service.detect(data["corrupted"]).to_json()["tokens"]
    # the metrics follow from the flags and the true replacements
    truth = [
        any(t["start"] < r["end"] and r["start"] < t["end"] for r in data["replacements"])
        for t in data["tokens"]
    ]
    p, r, f = precision_recall_f1(truth, [t["replaced"] for t in data["tokens"]])
    assert data["metrics"] == {
        "precision": p,
        "recall": r,
        "f1": f,
        "auc": roc_auc(truth, [t["probability"] for t in data["tokens"]]),
    }
    # masked words: replaced ones plus those whose sample equalled the original
    assert len(first.replacements) + len(first.unchanged) == round(0.3 * 17)


def test_corrupt_other_seed_other_result(service):
    text = "The quick brown fox jumps over the lazy dog near the kitchen of the chef."
    results = {str(service.corrupt(text, 0.5, seed).to_json()["replacements"]) for seed in range(4)}
    assert len(results) > 1


def test_corrupt_fraction_zero_changes_nothing(service):
    data = service.corrupt("The chef cooked.", 0.0, 1).to_json()
    assert data["corrupted"] == "The chef cooked." and data["replacements"] == []
    assert data["metrics"]["recall"] is None and data["metrics"]["auc"] is None


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda s: s.detect(""), "empty"),
        (lambda s: s.detect("   \n"), "empty"),
        (lambda s: s.detect("x" * 20_001), "20,001 characters long; the limit is 20,000"),
        (lambda s: s.detect("text", 1.5), "threshold must be between 0 and 1"),
        (lambda s: s.detect("\x00\x01"), "no characters the model can read"),
        (lambda s: s.corrupt("text", -0.5, 1), "fraction"),
        (lambda s: s.corrupt("text", 0.5, "abc"), "seed must be a whole number"),
    ],
)
def test_bad_input_gets_a_clear_message(service, call, message):
    with pytest.raises(InputError, match=message):
        call(service)


def test_missing_slot_fails_alone_and_recovers(tiny_env, tmp_path):
    missing = tmp_path / "generator"
    service = ModelService(environ={**tiny_env, "ELECTRA_DEMO_GENERATOR": str(missing)})
    with pytest.raises(ModelUnavailable) as info:
        service.corrupt("The chef cooked.", 0.5, 1)
    message = str(info.value)
    assert "generator" in message and str(missing) in message and "ELECTRA_DEMO_GENERATOR" in message
    assert service.status()["generator"].startswith("failed")
    assert service.detect("The chef cooked.").tokens  # the other model still answers
    shutil.copytree(tiny_env["ELECTRA_DEMO_GENERATOR"], missing)  # fix the files ...
    assert service.corrupt("The chef cooked.", 0.5, 1).corrupted  # ... and the next request loads it
    assert service.status()["generator"] == "loaded"


def test_wrong_task_checkpoint_is_refused(tiny_env):
    # the generator's masked-LM weights leave the discriminator's head newly initialised
    service = ModelService(
        environ={**tiny_env, "ELECTRA_DEMO_DISCRIMINATOR": tiny_env["ELECTRA_DEMO_GENERATOR"]}
    )
    with pytest.raises(ModelUnavailable, match="newly initialised"):
        service.detect("hello")


def test_truncated_safetensors_is_refused(tiny_env, tmp_path):
    broken = tmp_path / "disc"
    shutil.copytree(tiny_env["ELECTRA_DEMO_DISCRIMINATOR"], broken)
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    service = ModelService(environ={**tiny_env, "ELECTRA_DEMO_DISCRIMINATOR": str(broken)})
    with pytest.raises(ModelUnavailable, match="ELECTRA_DEMO_DISCRIMINATOR"):
        service.detect("hello")


def test_pickle_weights_are_never_loaded(tiny_env, tmp_path):
    """Safetensors only: a checkpoint with only a pickled pytorch_model.bin is refused."""
    pickled = tmp_path / "disc"
    shutil.copytree(tiny_env["ELECTRA_DEMO_DISCRIMINATOR"], pickled)
    model = ElectraForPreTraining.from_pretrained(pickled)
    (pickled / "model.safetensors").unlink()
    torch.save(model.state_dict(), pickled / "pytorch_model.bin")
    service = ModelService(environ={**tiny_env, "ELECTRA_DEMO_DISCRIMINATOR": str(pickled)})
    with pytest.raises(ModelUnavailable):
        service.detect("hello")


def test_concurrent_first_requests_load_once(tiny_env):
    service = ModelService(environ=tiny_env)
    calls = []
    original = service._load_checkpoint

    def counting(resolved):
        calls.append(resolved.name)
        return original(resolved)

    service._load_checkpoint = counting
    threads = [threading.Thread(target=service.detect, args=("The chef.",)) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert calls == ["discriminator"]


def test_random_weights_are_declared(service):
    assert service.card("discriminator")["random_weights"] is True


def test_tiny_checkpoints_share_one_tokenizer(tiny_env):
    from electra_demo.config import REGISTRY

    vocabularies = {
        name: AutoTokenizer.from_pretrained(tiny_env[slot.env_var]).get_vocab()
        for name, slot in REGISTRY.items()
    }
    first = next(iter(vocabularies.values()))
    assert all(v == first for v in vocabularies.values())


def _load_into(service: ModelService, name: str, failed: dict[str, BaseException]) -> None:
    try:
        service.load(name)
    except BaseException as error:  # noqa: BLE001 - the test reports it
        failed[name] = error


def test_slots_loaded_in_threads_at_once_all_load_whole(tiny_env):
    """Four slots loaded in four threads at once (the warm-up beside visitors' first requests):
    each loads, the generator's head tied to its embeddings. transformers' from_pretrained is not
    safe in two threads at once (its tied head came out "missing" and the load was refused), so
    the service takes that step one at a time."""
    for _ in range(3):
        service = ModelService(environ={**tiny_env, "ELECTRA_DEMO_BACKEND": "torch"})
        slots = ["generator", "sentiment", "qa", "discriminator"]
        failed: dict[str, BaseException] = {}

        threads = [threading.Thread(target=_load_into, args=(service, name, failed)) for name in slots]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert failed == {}
        generator = service.load("generator").model
        head = generator.get_output_embeddings().weight
        assert head.data_ptr() == generator.get_input_embeddings().weight.data_ptr()
