"""Results to component values, on hand-built results."""

from __future__ import annotations

from types import SimpleNamespace

from electra_demo.page import rendering
from electra_demo.tasks.answer import AnswerResult
from electra_demo.text.qa import Candidate

CONTEXT = "Paris is big. Paris is old."


def answer_result(answers, best, null_score):
    return AnswerResult(
        question="Where?",
        context=CONTEXT,
        answers=answers,
        best_span=best,
        null_score=null_score,
        settings={},
        windows=2,
        model=SimpleNamespace(random_weights=False),
    )


def test_no_answer_summary_names_the_margin_and_keeps_the_best_span():
    best = Candidate("Paris", 0, 5, 0.25)
    result = answer_result([Candidate("", 0, 0, 0.6, null=True), best], best, 0.6)
    summary = rendering.answer_summary(result)
    assert "No answer in this context" in summary
    assert "margin 0.3500" in summary and "0.6000" in summary and "0.2500" in summary
    highlights = rendering.answer_highlights(result)
    assert ("Paris", rendering.BEST_SPAN) in highlights
    assert "".join(text for text, _ in highlights) == CONTEXT
    rows = rendering.answer_rows(result)
    assert rows[0][1] == "(no answer)" and rows[1][1] == "Paris"


def test_answer_highlights_mark_the_best_and_non_overlapping_candidates():
    best = Candidate("Paris is big", 0, 12, 0.5)
    overlapping = Candidate("big", 9, 12, 0.2)
    other = Candidate("old", 23, 26, 0.1)
    result = answer_result([best, overlapping, other], best, None)
    highlights = rendering.answer_highlights(result)
    assert highlights == [
        ("Paris is big", rendering.ANSWER),
        (". Paris is ", None),
        ("old", rendering.CANDIDATE),
        (".", None),
    ]
    summary = rendering.answer_summary(result)
    assert "Best answer" in summary and "2 windows searched" in summary


def test_random_weights_are_announced():
    best = Candidate("Paris", 0, 5, 0.25)
    result = answer_result([best], best, None)
    result.model = SimpleNamespace(random_weights=True)
    assert "Random weights" in rendering.answer_summary(result)


def test_entity_colours_are_one_per_type():
    colors = rendering.entity_color_map(["O", "B-PER", "I-PER", "B-LOC", "I-LOC"])
    assert colors["B-PER"] == colors["I-PER"] == colors["PER"]
    assert colors["B-LOC"] == colors["LOC"] != colors["PER"]
    assert "O" not in colors


def test_model_card_shows_registry_data_or_the_override():
    card = {
        "id": "google/electra-base-discriminator",
        "link": "https://huggingface.co/google/electra-base-discriminator",
        "task": "replaced-token detection",
        "labels": ["original", "replaced"],
        "license": "apache-2.0",
        "reported": "GLUE dev 85.1",
        "overridden": False,
        "env_var": "ELECTRA_DEMO_DISCRIMINATOR",
        "default_id": "google/electra-base-discriminator",
        "random_weights": False,
    }
    text = rendering.model_card(card)
    assert "(https://huggingface.co/google/electra-base-discriminator)" in text
    assert "apache-2.0" in text and "GLUE dev 85.1" in text and "Overridden" not in text
    overridden = rendering.model_card({**card, "id": "/models/mine", "link": None, "overridden": True})
    assert "Overridden" in overridden and "`/models/mine`" in overridden and "GLUE" not in overridden
