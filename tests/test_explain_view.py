"""The Explain tab's views from hand-built results: the shaded text keeps every character and no
markup of the user's, the scale is symmetric with white at zero, the summary line and the chart."""

from __future__ import annotations

import html
import re
from types import SimpleNamespace

import pytest

from electra_demo.page import attribution as view
from electra_demo.tasks.explain import ExplainResult, Piece
from electra_demo.tasks.explain_inputs import Target

HOSTILE = '<img src=x onerror="alert(1)"> {{7*7}} ${x} `id` &amp;'


def result(text: str, pieces: list[Piece], **overrides) -> ExplainResult:
    fields = {
        "task": "emotion",
        "method": "gradient_x_input",
        "steps": None,
        "target": Target({"label": "joy"}, (1,), "joy", 0.912),
        "score": 2.5,
        "baseline_score": None,
        "delta": None,
        "truncated": False,
        "tokens": pieces,
        "words": pieces,
        "sources": (text, ""),
        "covered": ((0, len(text)), (0, 0)),
        "model": SimpleNamespace(random_weights=False, resolved=SimpleNamespace(source="m")),
    }
    return ExplainResult(**{**fields, **overrides})


def words_of(text: str, values: list[float]) -> list[Piece]:
    spans = [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]
    return [Piece(text[s:e], s, e, 0, v) for (s, e), v in zip(spans[: len(values)], values, strict=True)]


def visible_text(markup: str) -> str:
    """What a browser shows of a segment: tags dropped, references decoded."""
    body = markup.split('class="explain-text"', 1)[1].split(">", 1)[1].rsplit("</div></div>", 1)[0]
    return html.unescape(re.sub(r"<[^>]+>", "", body))


def test_shaded_text_is_the_text_and_nothing_but_text():
    text = HOSTILE + "\n\ttail  end"
    pieces = words_of(text, [0.5, -1.0, 0.25, 0.0, 0.1, 0.2, 0.3, 2.0, -0.4])
    markup = view.words_html(result(text, pieces))
    assert visible_text(markup) == text
    assert "<img" not in markup and "{{" not in markup and "${" not in markup and "`" not in markup
    spans = re.findall(r'<span class="explain-piece" title="([^"]+)"[^>]*style="([^"]+)">', markup)
    assert len(spans) == len(pieces)
    assert [float(title) for title, _ in spans] == pytest.approx([p.attribution for p in pieces])
    # the largest |value| gets the full shade on its side; zero gets none
    assert "rgba(220, 38, 38, 0.800)" in spans[7][1]
    assert "rgba(37, 99, 235, 0.400)" in spans[1][1]
    assert "0.000)" in spans[3][1]


def test_scale_is_symmetric_with_white_at_zero():
    assert view.shade(0.0, 2.0).endswith("0.000)")
    up, down = view.shade(1.0, 2.0), view.shade(-1.0, 2.0)
    assert up.startswith("rgba(220, 38, 38,") and down.startswith("rgba(37, 99, 235,")
    assert up.rsplit(",", 1)[1] == down.rsplit(",", 1)[1] == " 0.400)"
    assert view.shade(5.0, 2.0) == view.shade(2.0, 2.0)


def test_truncated_input_shows_the_window_read():
    text = "one two three four five"
    pieces = words_of(text, [1.0, 2.0, 3.0])  # the window reads the first three words
    markup = view.words_html(result(text, pieces, truncated=True, covered=((0, 13), (0, 0))))
    assert "10 more characters not read" in markup
    assert visible_text(markup).startswith("one two three")


def test_summary_line_chart_and_notes():
    text = "I love the surprise party"
    pieces = words_of(text, [0.1, 0.9, -0.3, 1.8, 0.2])
    explained = result(text, pieces)
    assert (
        view.summary_line(explained)
        == "joy 0.91: 'surprise' +1.8, 'love' +0.9, 'the' -0.3, 'party' +0.2, 'I' +0.1"
    )
    chart = view.bar_table(explained)
    assert list(chart["word"]) == ["01. surprise", "02. love", "03. the", "04. party", "05. I"]
    assert list(chart["direction"]) == ["pushes up", "pushes up", "pushes down", "pushes up", "pushes up"]
    notes = view.notes(explained)
    assert "Gradient × input" in notes and "f(input) = 2.5" in notes and "surprise" not in notes
    ig = result(text, pieces, method="integrated_gradients", steps=32, baseline_score=0.5, delta=0.02)
    assert "32 steps" in view.notes(ig) and "1.00% of the difference" in view.notes(ig)
    detect = result(text, pieces, task="detect", target=Target({"text": "love"}, (2,), "love", 0.8))
    assert view.summary_line(detect).startswith("'love' replaced, P 0.80: ")
