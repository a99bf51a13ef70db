"""Fine-tuned heads: our answers equal transformers' own pipelines on the same checkpoints."""

from __future__ import annotations

import json
import shutil

import pytest
from transformers import pipeline

from electra_demo import config
from electra_demo.checks import InputError
from electra_demo.service import ModelService, ModelUnavailable

TEXTS = [
    "I loved this movie, it was wonderful and moving!",
    "This film was boring, slow and far too long.",
    "Café naïve 東京 😀 مرحبا \t new\nlines",
    "?!",
    "x",
]
PAIRS = [
    ("A man is cooking a meal in the kitchen.", "Someone is cooking."),
    ("Paris is the capital of France.", "Berlin is in France."),
]
NER_TEXTS = [
    "Marie Curie worked at the University of Paris with Pierre Curie.",
    "Google released ELECTRA in 2020 at ICLR in Addis Ababa, Ethiopia.",
    "Unbelievably, kitchenware from Berlin arrived at the café in Paris!",
    "東京 and 北京 are capitals; 😀 is not.",
]


@pytest.fixture(scope="module")
def service(tiny_env) -> ModelService:
    """fp32 whatever the suite's precision (``ELECTRA_DEMO_PRECISION``): compared with transformers'
    own fp32 numbers to rounding; bf16's agreement with fp32 is tests/test_precision.py's."""
    return ModelService(environ={**tiny_env, "ELECTRA_DEMO_PRECISION": "fp32"})


@pytest.fixture(scope="module")
def classifiers(tiny_env):
    return {
        head: pipeline("text-classification", model=tiny_env[config.REGISTRY[head].env_var], top_k=None)
        for head in config.CLASSIFY_HEADS
    }


@pytest.fixture(scope="module")
def tagger(tiny_env):
    return pipeline("token-classification", model=tiny_env["ELECTRA_DEMO_NER"])


def assert_same_scores(ours, reference):
    assert [x["label"] for x in ours] == [x["label"] for x in reference]
    for mine, theirs in zip(ours, reference, strict=True):
        assert mine["score"] == pytest.approx(theirs["score"], abs=1e-5)


@pytest.mark.parametrize("head", ["sentiment", "emotion"])
@pytest.mark.parametrize("text", TEXTS)
def test_classify_equals_text_classification_pipeline(service, classifiers, head, text):
    result = service.classify(head, text).to_json()
    assert result["head"] == head and result["truncated"] is False
    assert result["model"] == service.resolve(head).source
    assert_same_scores(result["labels"], classifiers[head]([text])[0])
    assert [x["score"] for x in result["labels"]] == sorted(
        (x["score"] for x in result["labels"]), reverse=True
    )
    assert sum(x["score"] for x in result["labels"]) == pytest.approx(1.0)


@pytest.mark.parametrize("premise, hypothesis", PAIRS)
def test_nli_pairs_equal_the_pipeline(service, classifiers, premise, hypothesis):
    result = service.classify("nli", premise, hypothesis).to_json()
    reference = classifiers["nli"]({"text": premise, "text_pair": hypothesis})
    assert_same_scores(result["labels"], reference)
    assert {x["label"] for x in result["labels"]} == {"entailment", "neutral", "contradiction"}


def test_long_text_is_truncated_and_says_so(service, classifiers):
    text = "The film was long but moving. " * 200
    result = service.classify("sentiment", text).to_json()
    assert result["truncated"] is True
    assert_same_scores(result["labels"], classifiers["sentiment"]([text], truncation=True)[0])
    assert service.classify("sentiment", "Short.").to_json()["truncated"] is False


@pytest.mark.parametrize(
    "args, message",
    [
        (("topic", "text"), "Unknown head 'topic'; expected one of: sentiment, emotion, nli"),
        (("sentiment", "text", "a second text"), "only for: nli"),
        (("nli", "premise", ""), "second one"),
        (("nli", "premise", "   "), "second one"),
        (("sentiment", ""), "empty"),
    ],
)
def test_classify_bad_input(service, args, message):
    with pytest.raises(InputError, match=message):
        service.classify(*args)


def test_generic_label_names_come_from_the_registry(tiny_env, tmp_path):
    path = tmp_path / "sentiment"
    shutil.copytree(tiny_env["ELECTRA_DEMO_SENTIMENT"], path)
    cfg = json.loads((path / "config.json").read_text())
    cfg["id2label"] = {"0": "LABEL_0", "1": "LABEL_1"}
    cfg["label2id"] = {"LABEL_0": 0, "LABEL_1": 1}
    (path / "config.json").write_text(json.dumps(cfg))

    class Renamed(ModelService):  # the registry's names apply to the default slot only
        def resolve(self, name):
            resolved = super().resolve(name)
            return type(resolved)(resolved.slot, str(path), None, overridden=False, local=True)

    labels = [
        x["label"] for x in Renamed(environ=tiny_env).classify("sentiment", "Great.").to_json()["labels"]
    ]
    assert sorted(labels) == ["negative", "positive"]


def test_wrong_head_checkpoint_is_refused(tiny_env):
    """Sequence-classification weights in the NER slot leave its classifier newly initialised."""
    service = ModelService(environ={**tiny_env, "ELECTRA_DEMO_NER": tiny_env["ELECTRA_DEMO_DISCRIMINATOR"]})
    with pytest.raises(ModelUnavailable, match="newly initialised"):
        service.tag("Marie Curie")


@pytest.mark.parametrize("strategy", config.AGGREGATIONS)
@pytest.mark.parametrize("text", NER_TEXTS)
def test_tag_equals_token_classification_pipeline(service, tagger, strategy, text):
    result = service.tag(text, strategy).to_json()
    reference = tagger(text, aggregation_strategy=strategy)
    assert [(e["start"], e["end"]) for e in result["entities"]] == [(r["start"], r["end"]) for r in reference]
    assert [e["label"] for e in result["entities"]] == [
        r.get("entity_group") or r["entity"] for r in reference
    ]
    for mine, theirs in zip(result["entities"], reference, strict=True):
        assert mine["score"] == pytest.approx(float(theirs["score"]), abs=1e-5)
        assert mine["text"] == text[mine["start"] : mine["end"]]
        assert set(mine) == {"text", "label", "score", "start", "end"}


def test_tag_covers_long_texts(service, tiny_env):
    from transformers import AutoTokenizer

    text = " ".join(NER_TEXTS[:2] * 80)
    tokenizer = AutoTokenizer.from_pretrained(tiny_env["ELECTRA_DEMO_NER"])
    encoding = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
    assert len(encoding["input_ids"]) > 1500
    past_first_window = encoding["offset_mapping"][1200][0]
    for strategy in config.AGGREGATIONS:
        entities = service.tag(text, strategy).to_json()["entities"]
        assert any(e["start"] > past_first_window for e in entities), strategy
        assert all(e["text"] == text[e["start"] : e["end"]] for e in entities)


def test_tag_bad_aggregation(service):
    with pytest.raises(InputError, match="Unknown aggregation 'median'"):
        service.tag("Paris", "median")
