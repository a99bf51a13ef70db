"""SQuAD 2.0 metrics against hand-computed values, and the evaluation command's scoring loop.

Every expected number is worked out by hand in the comments; nothing is computed by the code
under test and then compared with itself.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from electra_demo.checks import InputError
from electra_demo.text.squad_metrics import (
    compute_exact,
    compute_f1,
    evaluate,
    get_tokens,
    max_over_golds,
    missing_predictions,
    normalize_answer,
)
from electra_demo.tools.evaluate_qa import format_table, limit_dataset, load_dataset, run_evaluation

FIXTURE = Path(__file__).parent / "fixtures" / "squad_tiny.json"


# ---- normalisation and tokens ----------------------------------------------------------------


def test_normalize_lowercases_strips_punctuation_articles_and_spaces() -> None:
    assert normalize_answer("The  Eiffel Tower!") == "eiffel tower"
    assert normalize_answer("Eiffel tower!") == "eiffel tower"
    # "wrought-iron" loses its hyphen (punctuation is deleted, not replaced by a space)
    assert normalize_answer("a wrought-iron lattice") == "wroughtiron lattice"
    # articles go only as whole words: "theatre", "another", "anaconda" keep their letters
    assert normalize_answer("An anaconda in the theatre, another") == "anaconda in theatre another"


def test_normalize_order_punctuation_before_articles() -> None:
    # lower -> remove punc -> remove articles: "A." becomes "a", which is then an article
    assert normalize_answer("A. Lincoln") == "lincoln"
    # "the's" -> punctuation removed -> "thes", no longer the article
    assert normalize_answer("the's") == "thes"


def test_articles_only_answer_normalises_to_empty() -> None:
    assert normalize_answer("The a AN") == ""
    assert get_tokens("The a AN") == []
    assert get_tokens("") == []
    assert get_tokens("Marie  Curie.") == ["marie", "curie"]


# ---- exact match and F1 ----------------------------------------------------------------------


def test_exact_match() -> None:
    # "the Eiffel Tower" -> "eiffel tower"; "Eiffel tower!" -> "eiffel tower": equal
    assert compute_exact("the Eiffel Tower", "Eiffel tower!") == 1
    # "marie curie" != "curie"
    assert compute_exact("Marie Curie", "Curie") == 0
    # no-answer gold "" vs empty prediction: "" == "" -> 1; vs "Paris" -> 0
    assert compute_exact("", "") == 1
    assert compute_exact("", "Paris") == 0


def test_f1_partial_overlap() -> None:
    # gold [marie, curie], pred [curie]: common 1, precision 1/1 = 1, recall 1/2 = 0.5
    # F1 = 2 * (1 * 0.5) / (1 + 0.5) = 1 / 1.5 = 0.667
    assert compute_f1("Marie Curie", "Curie") == pytest.approx(2 / 3)
    # gold [pioneering, research, on, radioactivity], pred [research, on, radioactivity]:
    # common 3, precision 3/3 = 1, recall 3/4; F1 = 2 * 0.75 / 1.75 = 6/7 = 0.857
    long_gold = "pioneering research on radioactivity"
    assert compute_f1(long_gold, "research on radioactivity") == pytest.approx(6 / 7)
    # same normalised tokens -> 1.0; no token in common -> 0.0
    assert compute_f1("the Eiffel Tower", "Eiffel tower!") == 1.0
    assert compute_f1("Marie Curie", "Paris") == 0.0


def test_f1_counts_repeated_tokens_once_per_occurrence() -> None:
    # gold [new, york, new, york] (4), pred [new, new, new] (3): Counter overlap {new: 2} = 2
    # precision 2/3, recall 2/4 = 1/2; F1 = 2 * (2/3 * 1/2) / (2/3 + 1/2) = (2/3) / (7/6) = 4/7
    assert compute_f1("New York New York", "new new new") == pytest.approx(4 / 7)


def test_f1_with_empty_sides() -> None:
    # either side without tokens: 1.0 when both are empty, else 0.0
    assert compute_f1("", "") == 1.0
    assert compute_f1("", "Paris") == 0.0
    assert compute_f1("Paris", "") == 0.0
    # an articles-only prediction has no tokens, so it counts as "no answer"
    assert compute_f1("", "the") == 1.0
    assert compute_exact("", "the") == 1


def test_max_over_golds() -> None:
    golds = ["wrought-iron lattice", "wrought-iron"]
    pred = "a wrought-iron lattice tower"  # -> [wroughtiron, lattice, tower]
    # vs [wroughtiron, lattice]: common 2, P 2/3, R 2/2 = 1; F1 = 2 * (2/3) / (5/3) = 4/5 = 0.8
    # vs [wroughtiron]: common 1, P 1/3, R 1; F1 = 2 * (1/3) / (4/3) = 1/2
    # best = 0.8; exact 0 against both
    assert max_over_golds(compute_f1, golds, pred) == pytest.approx(0.8)
    assert max_over_golds(compute_exact, golds, pred) == 0
    # "1889." equals the first gold after normalisation
    assert max_over_golds(compute_exact, ["1889", "in 1889"], "1889.") == 1


def test_max_over_golds_no_golds_means_no_answer() -> None:
    # an empty gold list is the single gold "": only the empty prediction scores
    assert max_over_golds(compute_exact, [], "") == 1
    assert max_over_golds(compute_f1, [], "") == 1.0
    assert max_over_golds(compute_exact, [], "Paris") == 0
    assert max_over_golds(compute_f1, [], "Paris") == 0.0


# ---- evaluate on the fixture -----------------------------------------------------------------

# Hand-written predictions for tests/fixtures/squad_tiny.json, with each question's scores:
#   eiffel-1 (has answer; golds "wrought-iron lattice", "wrought-iron")
#            "a wrought-iron lattice tower": EM 0, F1 max(4/5, 1/2) = 0.8 (see test_max_over_golds)
#   eiffel-2 (has answer; golds "1889", "in 1889")
#            "1889.": EM 1, F1 1
#   eiffel-3 (impossible) "": EM 1, F1 1
#   curie-1  (has answer; gold "Marie Curie") "Curie": EM 0, F1 2/3
#   curie-2  (has answer; golds "radioactivity", "pioneering research on radioactivity")
#            "research on radioactivity": vs "radioactivity" P 1/3 R 1 F1 1/2;
#            vs the long gold F1 6/7 (see test_f1_partial_overlap); EM 0, F1 6/7
#   curie-3  (impossible) "Marie Curie": EM 0, F1 0
PREDICTIONS = {
    "eiffel-1": "a wrought-iron lattice tower",
    "eiffel-2": "1889.",
    "eiffel-3": "",
    "curie-1": "Curie",
    "curie-2": "research on radioactivity",
    "curie-3": "Marie Curie",
}
# HasAns (eiffel-1, eiffel-2, curie-1, curie-2), 4 questions:
#   EM = (0 + 1 + 0 + 0) / 4 = 25.0 %
#   F1 = (4/5 + 1 + 2/3 + 6/7) / 4 = (84/105 + 105/105 + 70/105 + 90/105) / 4 = (349/105) / 4
#      = 349/420 = 0.8309523... -> 83.095238 %
# NoAns (eiffel-3, curie-3), 2 questions: EM = (1 + 0) / 2 = 50 %, F1 = (1 + 0) / 2 = 50 %
# Overall, 6 questions:
#   EM = (0 + 1 + 1 + 0 + 0 + 0) / 6 = 2/6 = 33.333 %
#   F1 = (349/105 + 1 + 0) / 6 = (454/105) / 6 = 454/630 = 0.7206349... -> 72.063492 %
EXPECTED = {
    "exact": 100 * 2 / 6,
    "f1": 100 * 454 / 630,
    "total": 6,
    "HasAns_exact": 25.0,
    "HasAns_f1": 100 * 349 / 420,
    "HasAns_total": 4,
    "NoAns_exact": 50.0,
    "NoAns_f1": 50.0,
    "NoAns_total": 2,
}


@pytest.fixture(scope="module")
def squad_tiny() -> list[dict[str, Any]]:
    return load_dataset(FIXTURE)


def assert_metrics(got: dict[str, Any], expected: dict[str, Any]) -> None:
    assert set(got) == set(expected)
    for key, value in expected.items():
        assert got[key] == (value if value is None or key.endswith("total") else pytest.approx(value)), key


def test_evaluate_fixture(squad_tiny: list[dict[str, Any]]) -> None:
    assert_metrics(evaluate(squad_tiny, PREDICTIONS), EXPECTED)
    assert EXPECTED["f1"] == pytest.approx(72.063492)  # the decimals quoted above
    assert EXPECTED["HasAns_f1"] == pytest.approx(83.095238)


def test_evaluate_all_correct_and_all_empty(squad_tiny: list[dict[str, Any]]) -> None:
    gold = {
        "eiffel-1": "wrought-iron lattice",
        "eiffel-2": "in 1889",
        "eiffel-3": "",
        "curie-1": "Marie Curie",
        "curie-2": "radioactivity",
        "curie-3": "",
    }
    perfect = evaluate(squad_tiny, gold)
    assert (perfect["exact"], perfect["f1"], perfect["HasAns_f1"], perfect["NoAns_f1"]) == (100.0,) * 4
    # always "no answer": right on the 2 impossible questions only -> 2/6 overall, 0 % HasAns, 100 % NoAns
    empty = evaluate(squad_tiny, dict.fromkeys(gold, ""))
    assert empty["exact"] == pytest.approx(100 * 2 / 6)
    assert empty["f1"] == pytest.approx(100 * 2 / 6)
    assert (empty["HasAns_exact"], empty["HasAns_f1"]) == (0.0, 0.0)
    assert (empty["NoAns_exact"], empty["NoAns_f1"]) == (100.0, 100.0)


def test_missing_prediction_counts_as_no_answer(squad_tiny: list[dict[str, Any]]) -> None:
    # leave out eiffel-2 (answerable, was EM 1 F1 1) and curie-3 (impossible, was EM 0 F1 0):
    # both are scored as "" -> eiffel-2 becomes 0/0, curie-3 becomes 1/1; totals stay 6, 4, 2
    partial = {k: v for k, v in PREDICTIONS.items() if k not in ("eiffel-2", "curie-3")}
    assert missing_predictions(squad_tiny, partial) == ["eiffel-2", "curie-3"]
    # Overall EM (0 + 0 + 1 + 0 + 0 + 1) / 6 = 2/6; F1 (4/5 + 0 + 1 + 2/3 + 6/7 + 1) / 6
    #   = (244/105 + 2) / 6 = (454/105) / 6 = 454/630 (the same sum as before, by coincidence)
    # HasAns EM 0/4 = 0; F1 (4/5 + 0 + 2/3 + 6/7) / 4 = (244/105) / 4 = 244/420
    # NoAns EM (1 + 1) / 2 = 100; F1 100
    expected = {
        **EXPECTED,
        "exact": 100 * 2 / 6,
        "f1": 100 * 454 / 630,
        "HasAns_exact": 0.0,
        "HasAns_f1": 100 * 244 / 420,
        "NoAns_exact": 100.0,
        "NoAns_f1": 100.0,
    }
    assert_metrics(evaluate(squad_tiny, partial), expected)


def test_empty_groups_are_none(squad_tiny: list[dict[str, Any]]) -> None:
    paragraph = squad_tiny[1]["paragraphs"][0]
    only_answerable = [{"paragraphs": [{**paragraph, "qas": paragraph["qas"][:1]}]}]
    # one question, curie-1, predicted "Curie": EM 0, F1 2/3
    result = evaluate(only_answerable, PREDICTIONS)
    assert result["total"] == result["HasAns_total"] == 1
    assert result["f1"] == pytest.approx(100 * 2 / 3)
    assert (result["NoAns_exact"], result["NoAns_f1"], result["NoAns_total"]) == (None, None, 0)


def test_gold_that_normalises_to_empty_is_dropped() -> None:
    # as in the official script, golds that normalise to "" are dropped; if none is left,
    # the question's only gold is "" (even though its answers list is non-empty, it is HasAns)
    qa = {"id": "q", "question": "?", "answers": [{"text": "The", "answer_start": 0}]}
    dataset = [{"paragraphs": [{"context": "x", "qas": [qa]}]}]
    assert evaluate(dataset, {"q": ""})["HasAns_exact"] == 100.0
    assert evaluate(dataset, {"q": "x"})["HasAns_exact"] == 0.0


def test_evaluate_rejects_empty_and_duplicate() -> None:
    with pytest.raises(ValueError, match="no questions"):
        evaluate([], {})
    qa = {"id": "q", "question": "?", "answers": []}
    with pytest.raises(ValueError, match="more than once"):
        evaluate([{"paragraphs": [{"context": "", "qas": [qa, qa]}]}], {})


# ---- run_evaluation with a hand-written answer table standing in for the model ---------------


class _Result:
    def __init__(self, payload: dict[str, Any]) -> None:
        self._payload = payload

    def to_json(self) -> dict[str, Any]:
        return self._payload


class TableService:
    """Answers the fixture's questions from a hand-written table, in the service's JSON shape.

    It stands in for the model, not for the code under test: run_evaluation and the metrics
    still do all of their own work on what it returns.
    """

    def __init__(self, table: dict[str, dict[str, Any]]) -> None:
        self.table = table
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    def answer(self, question: str, context: str, **options: Any) -> _Result:
        self.calls.append((question, context, options))
        entry = self.table[question]
        if "refuse" in entry:
            raise InputError(entry["refuse"])
        return _Result({"answers": entry["answers"], "no_answer": entry["no_answer"], "settings": options})


def span(text: str, score: float) -> dict[str, Any]:
    return {"text": text, "score": score, "start": 0, "end": len(text)}


NO_SPAN = {"text": "", "score": 0.6, "start": 0, "end": 0}

# The same predictions as PREDICTIONS, as the service would return them: "no answer" is either
# no_answer true with the empty answer first (eiffel-3), and a span that lost (curie-3) is
# no_answer false with the span first; only answers[0] is scored.
ANSWER_TABLE: dict[str, dict[str, Any]] = {
    "What is the Eiffel Tower made of?": {
        "answers": [span("a wrought-iron lattice tower", 0.7), span("wrought-iron", 0.2)],
        "no_answer": False,
    },
    "When was the Eiffel Tower completed?": {"answers": [span("1889.", 0.9), NO_SPAN], "no_answer": False},
    "Who designed the Statue of Liberty?": {
        "answers": [NO_SPAN, span("Gustave Eiffel", 0.3)],
        "no_answer": True,
    },
    "Who conducted pioneering research on radioactivity?": {
        "answers": [span("Curie", 0.5), span("Marie Curie", 0.4)],
        "no_answer": False,
    },
    "What did Curie research?": {"answers": [span("research on radioactivity", 0.8)], "no_answer": False},
    "Who was the first man to win a Nobel Prize?": {
        "answers": [span("Marie Curie", 0.5), NO_SPAN],
        "no_answer": False,
    },
}


def test_run_evaluation_end_to_end(squad_tiny: list[dict[str, Any]]) -> None:
    service = TableService(ANSWER_TABLE)
    seen: list[tuple[int, int]] = []
    result = run_evaluation(
        squad_tiny, service, options={"top_k": 2}, progress=lambda done, total: seen.append((done, total))
    )
    assert result.predictions == PREDICTIONS
    assert_metrics(result.metrics, EXPECTED)
    assert (result.evaluated, result.available, result.refused) == (6, 6, {})
    assert seen == [(i, 6) for i in range(1, 7)]
    # every question was asked once, with its own paragraph and the options passed through
    assert [q for q, _, _ in service.calls] == list(ANSWER_TABLE)
    assert service.calls[3][1].startswith("Marie Curie was a physicist")
    assert all(options == {"top_k": 2} for _, _, options in service.calls)

    table = format_table(result)
    lines = table.splitlines()
    # overall 33.33 / 72.06 (6), has answer 25.00 / 83.10 (4), no answer 50.00 / 50.00 (2)
    assert lines[1].split() == ["overall", "33.33", "72.06", "6"]
    assert lines[2].split() == ["has", "answer", "25.00", "83.10", "4"]
    assert lines[3].split() == ["no", "answer", "50.00", "50.00", "2"]
    assert "Evaluated 6 of 6 questions." in table


def test_run_evaluation_limit(squad_tiny: list[dict[str, Any]]) -> None:
    # the first 3 questions, eiffel-1..3: HasAns (eiffel-1, eiffel-2) EM (0 + 1)/2 = 50,
    # F1 (0.8 + 1)/2 = 90; NoAns (eiffel-3) 100/100; overall EM 2/3 = 66.67, F1 2.8/3 = 93.33
    service = TableService(ANSWER_TABLE)
    result = run_evaluation(squad_tiny, service, limit=3)
    assert len(service.calls) == 3
    assert sorted(result.predictions) == ["eiffel-1", "eiffel-2", "eiffel-3"]
    expected = {
        "exact": 100 * 2 / 3,
        "f1": 100 * 2.8 / 3,
        "total": 3,
        "HasAns_exact": 50.0,
        "HasAns_f1": 90.0,
        "HasAns_total": 2,
        "NoAns_exact": 100.0,
        "NoAns_f1": 100.0,
        "NoAns_total": 1,
    }
    assert_metrics(result.metrics, expected)
    assert (result.evaluated, result.available) == (3, 6)
    assert "Evaluated 3 of 6 questions." in format_table(result)


def test_limit_dataset_cuts_across_paragraphs_and_articles(squad_tiny: list[dict[str, Any]]) -> None:
    cut = limit_dataset(squad_tiny, 4)  # 3 Eiffel questions + the first Curie one
    assert [len(p["qas"]) for a in cut for p in a["paragraphs"]] == [3, 1]
    assert len(limit_dataset(squad_tiny, 100)[1]["paragraphs"][0]["qas"]) == 3
    assert len(squad_tiny[1]["paragraphs"][0]["qas"]) == 3  # the input is not modified
    with pytest.raises(ValueError):
        limit_dataset(squad_tiny, 0)


def test_run_evaluation_refused_question_counts_as_no_answer(squad_tiny: list[dict[str, Any]]) -> None:
    # the service refuses eiffel-2 (was EM 1, F1 1); it becomes "" -> EM 0, F1 0, so
    # HasAns EM (0 + 0 + 0 + 0)/4 = 0, F1 (4/5 + 0 + 2/3 + 6/7)/4 = (244/105)/4 = 244/420;
    # overall EM (0 + 0 + 1 + 0 + 0 + 0)/6 = 1/6, F1 (244/105 + 1)/6 = (349/105)/6 = 349/630
    table = {**ANSWER_TABLE, "When was the Eiffel Tower completed?": {"refuse": "The question is too long."}}
    result = run_evaluation(squad_tiny, TableService(table))
    assert result.refused == {"eiffel-2": "The question is too long."}
    assert result.predictions["eiffel-2"] == ""
    assert result.metrics["exact"] == pytest.approx(100 / 6)
    assert result.metrics["f1"] == pytest.approx(100 * 349 / 630)
    assert result.metrics["HasAns_exact"] == 0.0
    assert result.metrics["HasAns_f1"] == pytest.approx(100 * 244 / 420)
    assert "1 refused by the service" in format_table(result)


def test_load_dataset_rejects_other_json(tmp_path: Path) -> None:
    path = tmp_path / "not-squad.json"
    path.write_text(json.dumps({"questions": []}))
    with pytest.raises(ValueError, match="not a SQuAD-format file"):
        load_dataset(path)


def test_evaluation_command_end_to_end_on_the_tiny_qa_checkpoint(tmp_path):
    """The real command on the committed QA checkpoint: the printed EM/F1 are the metrics of the
    predictions it wrote (random weights, so the numbers themselves mean nothing)."""
    import json
    import os
    import subprocess
    import sys

    from electra_demo.text.squad_metrics import evaluate

    root = Path(__file__).parent.parent
    fixture = root / "tests" / "fixtures"
    out = tmp_path / "predictions.json"
    env = {**os.environ, "ELECTRA_DEMO_QA": str(fixture / "qa-tiny"), "HF_HUB_OFFLINE": "1"}
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "electra_demo.evaluate_qa",
            str(fixture / "squad_tiny.json"),
            "--predictions-out",
            str(out),
        ],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    predictions = json.loads(out.read_text())
    dataset = json.loads((fixture / "squad_tiny.json").read_text())["data"]
    expected = evaluate(dataset, predictions)
    overall = next(line for line in run.stdout.splitlines() if line.startswith("overall"))
    assert overall.split()[1:] == [f"{expected['exact']:.2f}", f"{expected['f1']:.2f}", "6"]
    assert "Evaluated 6 of 6 questions" in run.stdout
    assert "random weights" in run.stdout  # the committed checkpoint is marked random
