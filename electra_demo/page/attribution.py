"""Explanations to component values: the shaded text, the bar chart's table, the summary line.

User text is only ever text here: the shaded view is HTML built from pieces that each go
through :func:`escape` (``html.escape``, plus ``{``, ``}``, ``$`` and backticks as character
references, so no template syntax survives either), and the summary line goes to a plain
textbox. The Markdown notes hold numbers and fixed words only.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from electra_demo.page.rendering import RANDOM_WEIGHTS_NOTICE
from electra_demo.tasks.explain import ExplainResult, Piece

UP = (220, 38, 38)  # red: pushes the explained value up
DOWN = (37, 99, 235)  # blue: pushes it down
MAX_ALPHA = 0.8  # the strongest shade; white (no shade) at zero
TOP_WORDS = 10  # bars in the chart
SUMMARY_WORDS = 5
UNITS = ("words", "tokens")
PUSHES_UP, PUSHES_DOWN = "pushes up", "pushes down"
BAR_COLORS = {PUSHES_UP: "#dc2626", PUSHES_DOWN: "#2563eb"}
SEGMENT_NAMES = {  # task kind -> the two segments' names
    "qa": ("Question", "Context"),
    "nli": ("Premise", "Hypothesis"),
}
METHOD_NAMES = {"gradient_x_input": "Gradient × input", "integrated_gradients": "Integrated gradients"}
_TEMPLATE_CHARS = str.maketrans({"{": "&#123;", "}": "&#125;", "$": "&#36;", "`": "&#96;"})


def escape(text: str) -> str:
    """Text as HTML text: markup escaped, and template characters as references."""
    return html.escape(text, quote=True).translate(_TEMPLATE_CHARS)


def shade(value: float, scale: float) -> str:
    """A diverging colour symmetric around zero: red up, blue down, white at 0."""
    red, green, blue = UP if value > 0 else DOWN
    alpha = 0.0 if scale <= 0 else min(1.0, abs(value) / scale) * MAX_ALPHA
    return f"rgba({red}, {green}, {blue}, {alpha:.3f})"


def _scale(pieces: Sequence[Piece]) -> float:
    return max((abs(p.attribution) for p in pieces), default=0.0)


def _segment_html(source: str, pieces: Sequence[Piece], scale: float, window: tuple[int, int] | None) -> str:
    """One segment's text, its pieces shaded with the value on hover; ``window``: only that
    part of the text was read (the rest is left out, with a mark)."""
    low, high = window if window is not None else (0, len(source))
    out = ["&#8230; " if low > 0 else ""]
    position = low
    for piece in pieces:
        if piece.start < position:  # a piece sharing characters with the previous one
            continue
        out.append(escape(source[position : piece.start]))
        out.append(
            f'<span class="explain-piece" title="{piece.attribution:+.4g}" '
            f'data-attribution="{piece.attribution:.6g}" '
            f'style="background-color: {shade(piece.attribution, scale)}">'
            f"{escape(source[piece.start : piece.end])}</span>"
        )
        position = piece.end
    out.append(escape(source[position:high]))
    if high < len(source):
        out.append(f" &#8230; <em>({len(source) - high:,} more characters not read)</em>")
    return "".join(out)


def legend(scale: float) -> str:
    low, high = shade(-1, 1), shade(1, 1)
    return (
        '<div class="explain-legend" style="display:flex;align-items:center;gap:0.5em;font-size:0.85em">'
        f"<span>{-scale:+.3g}</span>"
        f'<span style="display:inline-block;width:12em;height:0.8em;border:1px solid #ccc;'
        f'background:linear-gradient(to right, {low}, #ffffff, {high})"></span>'
        f"<span>{scale:+.3g}</span>"
        "<span>blue pulls the value down, red pushes it up; hover for the number</span></div>"
    )


def shaded_html(result: ExplainResult, unit: str = "words") -> str:
    """The input with each word (or token) shaded by its attribution."""
    pieces = result.words if unit == "words" else result.tokens
    scale = _scale(pieces)
    names = SEGMENT_NAMES.get(result.task, ("Text", "Second text"))
    blocks = [legend(scale)]
    for segment, source in enumerate(result.sources):
        if segment == 1 and not source:
            continue
        window = None
        if result.truncated and result.task == "qa":
            window = result.covered[1] if segment == 1 else None
        elif result.truncated:
            window = (0, result.covered[segment][1])
        body = _segment_html(source, [p for p in pieces if p.segment == segment], scale, window)
        blocks.append(
            f'<div class="explain-segment" data-segment="{segment}">'
            f'<div style="font-weight:600;margin-top:0.5em">{names[segment]}</div>'
            '<div class="explain-text" style="white-space:pre-wrap;line-height:1.9">'
            f"{body}</div></div>"
        )
    return (
        f'<div class="explain-view" data-unit="{unit}" style="background:#fff;color:#111;padding:0.6em;'
        f'border-radius:6px">{"".join(blocks)}</div>'
    )


def words_html(result: ExplainResult) -> str:
    return shaded_html(result, "words")


def tokens_html(result: ExplainResult) -> str:
    return shaded_html(result, "tokens")


def top_words(result: ExplainResult, count: int) -> list[Piece]:
    """The words with the largest absolute attributions, largest first (input order on ties)."""
    return sorted(result.words, key=lambda w: -abs(w.attribution))[:count]


def bar_table(result: ExplainResult) -> Any:
    """The bar chart's data: a pandas DataFrame of the top words, labelled with their rank (so a
    word that appears twice gets two bars, and sorting the labels keeps the rank order)."""
    import pandas as pd

    rows = [
        {
            "word": f"{rank:02d}. {word.text}",
            "attribution": word.attribution,
            "direction": PUSHES_UP if word.attribution >= 0 else PUSHES_DOWN,
        }
        for rank, word in enumerate(top_words(result, TOP_WORDS), 1)
    ]
    return pd.DataFrame(rows, columns=["word", "attribution", "direction"])


def summary_line(result: ExplainResult) -> str:
    """One plain-text line, e.g. ``joy 0.91: 'surprise' +1.8, 'party' +0.9, ...``."""
    target = result.target
    name = target.name if "label" in target.json else repr(target.name)
    head = f"{name} {target.probability:.2f}" if target.probability is not None else name
    if result.task == "detect":
        head = f"{name} replaced, P {target.probability:.2f}"
    elif result.task == "qa":
        head = f"answer {head}"
    words = ", ".join(f"{w.text!r} {w.attribution:+.2g}" for w in top_words(result, SUMMARY_WORDS))
    return f"{head}: {words}" if words else head


def notes(result: ExplainResult) -> str:
    """What was explained and how, in numbers (Markdown; no user text)."""
    what = {
        "qa": "start logit + end logit of the answer span",
        "detect": "replaced logit of the target token",
    }.get(result.task, "logit of the target label")
    line = f"**{METHOD_NAMES[result.method]}** of the {what}: f(input) = {result.score:.4g}"
    if result.method == "integrated_gradients":
        gap = result.score - (result.baseline_score or 0.0)
        share = f" ({abs(result.delta or 0.0) / abs(gap):.2%} of the difference)" if gap else ""
        line += (
            f", f(baseline: [PAD] for every token) = {result.baseline_score:.4g}, {result.steps} steps; "
            f"delta = {result.delta:.2g}{share}."
        )
    else:
        line += "."
    lines = [
        line,
        f"{len(result.tokens)} tokens, {len(result.words)} words; attributions sum to "
        f"{sum(t.attribution for t in result.tokens):.4g}.",
    ]
    if result.truncated:
        lines.append(
            "⚠️ The input is longer than one window of the model: the window shown was explained"
            + (" (the one holding the answer)." if result.task == "qa" else " (its first 512 tokens).")
        )
    if result.model.random_weights:
        lines.insert(0, RANDOM_WEIGHTS_NOTICE)
    return "\n\n".join(lines)
