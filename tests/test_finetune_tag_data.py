"""The tagging and QA uploads as data (pure, no training): every format read, tag schemes normalised
to IOB2, every bad file refused with a message naming where, the held-out splits, the entity
metrics equal to seqeval's, the QA figures from the demo's SQuAD script, the views and model cards."""

from __future__ import annotations

import json
import random

import pytest

from electra_demo.checks import InputError
from electra_demo.finetune import card, data, qa_data, tag_data, views
from electra_demo.finetune.tag_metrics import tagging_metrics
from electra_demo.finetune.worker_qa import qa_metrics
from tests.helpers.data import qa_records

seqeval_metrics = pytest.importorskip("seqeval.metrics")
LIMITS = data.Limits()


def read_tags(text: str, name: str = "f.conll") -> tag_data.TagExamples:
    return tag_data.read_tagging(text.encode(), name, LIMITS)


CONLL = (
    "-DOCSTART- -X- O O\n\nMarie NNP B-NP B-PER\nCurie NNP I-NP I-PER\nworked VBD B-VP O\n"
    "in IN O O\nParis NNP B-NP B-LOC\n\nGoogle\tB-ORG\nis\tO\n\nBerlin I-LOC\n\nx O\n"
)


def test_conll_four_columns_tabs_and_docstart():
    ex = read_tags(CONLL)
    assert ex.shape == "conll" and ex.dropped == 0
    assert ex.sentences[0] == ["Marie", "Curie", "worked", "in", "Paris"]
    assert ex.tags[0] == ["B-PER", "I-PER", "O", "O", "B-LOC"]
    assert ex.tags[2] == ["B-LOC"]  # an I- that starts an entity: IOB1, made IOB2
    assert ex.scheme == "IOB1"
    assert ex.label_names == ["O", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PER", "I-PER"]


def test_jsonl_tokens_tags_and_ner_tags_and_spans():
    lines = [
        {"tokens": ["Marie", "Curie", "wins"], "tags": ["B-PER", "E-PER", "O"]},
        {"tokens": ["in", "Paris"], "ner_tags": ["O", "S-LOC"]},
        {"tokens": [], "tags": []},
        {"tokens": ["Google"], "tags": ["S-ORG"]},
        {"tokens": ["a"], "tags": ["O"]},
    ]
    ex = read_tags("\n".join(map(json.dumps, lines)), "f.jsonl")
    assert (ex.shape, ex.scheme, ex.dropped) == ("jsonl tokens", "BIOES", 1)
    assert ex.tags[:3] == [["B-PER", "I-PER", "O"], ["O", "B-LOC"], ["B-ORG"]]
    spans = [
        {"text": "Marie Curie met Pierre in Paris, France.", "entities": [[0, 11, "PER"], [16, 22, "PER"]]},
        {"text": "Paris, France.", "entities": [{"start": 0, "end": 5, "label": "LOC"}, [7, 13, "LOC"]]},
        {"text": "nothing here", "entities": []},
        {"text": "Google", "entities": [[0, 6, "ORG"]]},
    ]
    ex = read_tags("\n".join(map(json.dumps, spans)), "f.jsonl")
    assert ex.shape == "jsonl spans"
    assert ex.sentences[0] == ["Marie", "Curie", "met", "Pierre", "in", "Paris", ",", "France", "."]
    assert ex.tags[0] == ["B-PER", "I-PER", "O", "B-PER", "O", "O", "O", "O", "O"]
    assert ex.tags[1] == ["B-LOC", "O", "B-LOC", "O"]


def test_plain_labels_are_io_and_schemes_convert():
    assert tag_data.to_iob2(["PER", "PER", "O", "LOC", "PER"]) == ["B-PER", "I-PER", "O", "B-LOC", "B-PER"]
    assert tag_data.detect_scheme(["PER", "O"]) == "IO"
    assert tag_data.detect_scheme(["B-PER", "I-PER"]) == "IOB2"
    assert tag_data.to_iob2(["S-A", "B-B", "I-B", "E-B", "S-A"], "BIOES") == [
        "B-A",
        "B-B",
        "I-B",
        "I-B",
        "B-A",
    ]
    assert tag_data.to_iob2(["I-A", "I-A", "B-A", "I-B"]) == ["B-A", "I-A", "B-A", "B-B"]


@pytest.mark.parametrize(
    ("text", "name", "message"),
    [
        ("", "f.conll", "is empty"),
        ("\n\n  \n", "f.conll", "is empty"),
        ("a O\nb\n", "f.conll", "Line 2 has one column"),
        ('{"tokens": ["a", "b"], "tags": ["O"]}', "f.jsonl", "Line 1 has 2 tokens but 1 tags"),
        ('{"tokens": ["a"], "tags": [0]}', "f.jsonl", "the tags are numbers"),
        ('{"text": "ab cd", "entities": [[0, 5, "X"], [3, 5, "Y"]]}', "f.jsonl", "overlap"),
        ('{"text": "ab cd", "entities": [[0, 9, "X"]]}', "f.jsonl", r"\[0, 9\] is out of range"),
        ('{"text": "abcd", "entities": [[0, 2, "X"]]}', "f.jsonl", "cuts the word"),
        ('{"text": "ab", "entities": [[0, 2, "B-X"]]}', "f.jsonl", "is its type"),
        ('{"tokens": ["a"], "tags": ["O"]}\n{"text": "b"}', "f.jsonl", "Line 2 mixes"),
        ("{not json", "f.jsonl", "Line 1 is not valid JSON"),
        ("a O\n\nb O\n\nc O\n\nd O\n", "f.conll", "no entities"),
        ("a B-X\n\nb O\n", "f.conll", "at least 4 are needed"),
        ("a B-X\n", "f.csv", "not a supported type"),
    ],
)
def test_bad_tagging_files_are_refused_with_their_message(text, name, message):
    with pytest.raises(InputError, match=message):
        read_tags(text, name)


def test_sentence_split_is_seeded_and_disjoint():
    train, held = tag_data.split(10, 0.2, 42)
    assert (len(train), len(held)) == (8, 2) and not set(train) & set(held)
    assert tag_data.split(10, 0.2, 42) == (train, held) and tag_data.split(2, 0.5, 1)[1] != []


def random_tags(rng: random.Random, n: int) -> list[list[str]]:
    tags = ["O", "B-A", "I-A", "B-B", "I-B", "I-C"]
    return [[rng.choice(tags) for _ in range(rng.randint(1, 8))] for _ in range(n)]


@pytest.mark.parametrize("seed", range(6))
def test_entity_metrics_equal_seqeval(seed):
    rng = random.Random(seed)
    y_true = random_tags(rng, 30)
    y_pred = [
        [t if rng.random() < 0.7 else rng.choice(["O", "B-A", "I-B", "B-C"]) for t in s] for s in y_true
    ]
    ours = tagging_metrics(y_true, y_pred)
    assert ours["precision"] == pytest.approx(seqeval_metrics.precision_score(y_true, y_pred))
    assert ours["recall"] == pytest.approx(seqeval_metrics.recall_score(y_true, y_pred))
    assert ours["f1"] == pytest.approx(seqeval_metrics.f1_score(y_true, y_pred))
    assert ours["token_accuracy"] == pytest.approx(seqeval_metrics.accuracy_score(y_true, y_pred))
    report = seqeval_metrics.classification_report(y_true, y_pred, output_dict=True, zero_division=0)
    types = {k: v for k, v in report.items() if "avg" not in k}
    assert set(ours["per_type"]) == set(types)
    for kind, figures in types.items():
        mine = ours["per_type"][kind]
        assert mine["support"] == figures["support"]
        assert [mine[k] for k in ("precision", "recall", "f1")] == pytest.approx(
            [figures[k] for k in ("precision", "recall", "f1-score")]
        )


# ---- QA -----------------------------------------------------------------------------------------
SQUAD = {
    "version": "v2.0",
    "data": [
        {
            "title": "t",
            "paragraphs": [
                {
                    "context": "Paris is the capital of France.",
                    "qas": [
                        {"id": "a", "question": "What?", "answers": [{"text": "Paris", "answer_start": 0}]},
                        {
                            "id": "b",
                            "question": "Who?",
                            "answers": [],
                            "is_impossible": True,
                            "plausible_answers": [{"text": "France", "answer_start": 24}],
                        },
                        {"id": "c", "question": "Bad?", "answers": [{"text": "Paris", "answer_start": 3}]},
                    ],
                },
                {
                    "context": "Berlin.",
                    "qas": [
                        {"id": "d", "question": "Where?", "answers": [{"text": "Berlin", "answer_start": 0}]}
                    ],
                },
            ],
        }
    ],
}


def test_squad_json_and_jsonl_are_read_and_misaligned_answers_dropped():
    ex = qa_data.read_qa(json.dumps(SQUAD).encode(), "train.json", LIMITS)
    assert ex.shape == "squad" and ex.dropped == 1  # "c": its answer is not at its answer_start
    assert [(q.id, q.answers) for q in ex.questions] == [
        ("a", (("Paris", 0),)),
        ("b", ()),
        ("d", (("Berlin", 0),)),
    ]
    records = qa_records(6, unanswerable=2)
    ex = qa_data.read_qa("".join(json.dumps(r) + "\n" for r in records).encode(), "q.jsonl", LIMITS)
    assert ex.shape == "jsonl" and len(ex.questions) == 6 and ex.dropped == 0
    assert [bool(q.answers) for q in ex.questions] == [True] * 4 + [False] * 2
    assert all(q.context[q.answers[0][1] :].startswith(q.answers[0][0]) for q in ex.questions[:4])


@pytest.mark.parametrize(
    ("text", "name", "message"),
    [
        ("", "q.jsonl", "is empty"),
        ("{", "q.json", "not valid JSON"),
        ('{"version": 1}', "q.json", 'with a "data" list'),
        ('{"data": [{"paragraphs": [{"context": "c"}]}]}', "q.json", 'has no "qas" list'),
        ('{"question": "q", "context": "c"}', "q.jsonl", 'Line 1 needs "question", "context" and "answers"'),
        (
            '{"question": "q", "context": "c", "answers": {"text": ["c"], "answer_start": []}}',
            "q.jsonl",
            "1 texts but 0",
        ),
        (
            '{"question": "q", "context": "c", "answers": {"text": [], "answer_start": []}}',
            "q.jsonl",
            "at least 2 contexts",
        ),
        ("x", "q.txt", "not a supported type"),
    ],
)
def test_bad_qa_files_are_refused_with_their_message(text, name, message):
    with pytest.raises(InputError, match=message):
        qa_data.read_qa(text.encode(), name, LIMITS)


def test_qa_split_keeps_each_context_on_one_side_and_stride_is_checked():
    questions = [qa_data.Question(f"q{i}", "q", f"context {i % 5}", ()) for i in range(20)]
    train, held = qa_data.split_by_context(questions, 0.2, 42)
    assert sorted(train + held) == list(range(20)) and len(held) == 4
    assert not {questions[i].context for i in train} & {questions[i].context for i in held}
    settings = data.Settings(max_length=64)
    assert qa_data.check_stride(settings, 32).doc_stride == 32
    with pytest.raises(InputError, match="at most half the maximum length"):
        qa_data.check_stride(settings, 33)


def test_qa_figures_are_the_squad_scripts_as_fractions():
    questions = [r | {"id": r["id"]} for r in qa_records(4, unanswerable=1)]
    answer = questions[0]["answers"]["text"][0]
    figures = qa_metrics(questions, {"q0": answer, "q1": "wrong", "q2": "", "q3": ""})
    assert figures["has_answer"] == {"exact": pytest.approx(1 / 3), "f1": pytest.approx(1 / 3), "total": 3}
    assert figures["no_answer"] == {"exact": 1.0, "total": 1}
    assert figures["exact"] == pytest.approx(0.5)


def test_views_and_cards_of_tagging_and_qa_runs():
    metrics = tagging_metrics([["B-PER", "O", "B-LOC"]], [["B-PER", "O", "O"]])
    assert views.type_rows(metrics)[-1] == ["all (micro average)", 1.0, 0.5, 0.6667, 2]
    result = {
        "model_id": "ft-0123456789abcdef",
        "base": "discriminator",
        "mode": "full",
        "task": "tag",
        "labels": ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"],
        "rows": {"train": 8, "eval": 2, "dropped": 1},
        "settings": {"seed": 42},
        "metrics": metrics,
        "history": [{"step": 3, "epoch": 1, "loss": 0.1}],
        "seconds": 1.5,
        "stopped": "completed",
    }
    assert "Held-out entity F1 **0.667**" in views.task_summary(result, 24)
    facts = {
        "base_name": "B",
        "base_id": "b",
        "base_license": "apache-2.0",
        "date": "2026-01-01",
        "file": "f.conll",
    }
    text = card.tagging_card(result, facts)
    assert "pipeline_tag: token-classification" in text and "| PER | 1.0000 | 1.0000 | 1.0000 | 1 |" in text
    qa_result = {
        **result,
        "task": "qa",
        "labels": [],
        "metrics": {
            "exact": 0.5,
            "f1": 0.6,
            "has_answer": {"exact": 0.5, "f1": 0.6, "total": 2},
            "no_answer": {"exact": None, "total": 0},
        },
    }
    assert views.qa_rows(qa_result["metrics"])[2] == ["without (no answer)", "", "", 0]
    assert "| all | 0.5000 | 0.6000 | 2 |" in card.qa_card(qa_result, facts)
    cancelled = views.task_summary({**result, "metrics": None, "stopped": "cancelled"}, 24)
    assert cancelled.startswith("⏹️ **Cancelled** after 3 steps")


# ---- the children's encodings (the tiny tokenizer; no model) ---------------------------------------
@pytest.fixture(scope="module")
def tokenizer(tiny_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_dir / "discriminator")


def test_long_sentences_are_tagged_in_windows_with_no_word_left_out(tokenizer):
    import numpy as np

    from electra_demo.finetune.worker_tag import IGNORED, encode, word_predictions

    words = ["marie", "curie", "cooked", "in", "paris", "with", "google"] * 7  # 49 words, one piece each
    tags = [5, 6, 0, 0, 1, 0, 3] * 7
    rows = encode(tokenizer, {"tokens": [words, words[:3]], "tags": [tags, tags[:3]]}, max_length=16)
    long_rows = [r for r in rows if r["sentence"] == 0]
    assert len(long_rows) > 3 and all(len(r["input_ids"]) <= 16 for r in rows)  # windows, none cut off
    seen = {w for r in long_rows for w in r["words"] if w >= 0}
    assert seen == set(range(49))
    for row in rows:  # a word's first piece carries its tag; specials and other pieces -100
        sentence_tags = [tags, tags[:3]][row["sentence"]]
        assert row["labels"] == [sentence_tags[w] if w >= 0 else IGNORED for w in row["words"]]
    predicted = [
        np.array([w if w >= 0 else 0 for w in r["words"]]) for r in rows
    ]  # "predicts" the word index
    assert word_predictions(rows, predicted, [49, 3]) == [list(range(49)), [0, 1, 2]]


def test_qa_training_windows_point_at_the_answer_or_cls(tokenizer):
    from electra_demo.finetune.worker_qa import encode

    context = "the chef cooked meal in kitchen " * 6 + "the capital of paris is here"
    start = context.index("paris")
    question = {
        "question": "where is the capital?",
        "context": context,
        "answers": {"text": ["paris"], "answer_start": [start]},
    }
    none = {**question, "answers": {"text": [], "answer_start": []}}
    rows = encode(tokenizer, [question, none], max_length=24, doc_stride=8)
    with_answer = [r for r in rows if r["start_positions"] != 0]
    assert len(rows) > 4 and len(with_answer) >= 1
    for row in with_answer:
        span = row["input_ids"][row["start_positions"] : row["end_positions"] + 1]
        assert tokenizer.decode(span) == "paris"
    assert all(r["start_positions"] == r["end_positions"] == 0 for r in rows if r not in with_answer)
