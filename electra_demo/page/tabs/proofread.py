"""The "Proofread" tab (``/proofread``): the discriminator flags words, the generator proposes
fixes, the discriminator verifies each; a click on a candidate applies it, "Apply all" applies
every verified one (the JSON's ``corrected``), and the new text is proofread again.

User text reaches the page only through components that render it as text (HighlightedText,
Dataframe, JSON, Textbox); the summary's Markdown holds numbers and model ids only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import gradio as gr

from electra_demo import config
from electra_demo.page import links, rendering
from electra_demo.page.tabs.common import (
    RAW,
    TEXT_LIMIT,
    BuiltTab,
    Tab,
    announce,
    model_card,
    show,
    user_errors,
)
from electra_demo.page.tabs.detect import MODEL_LINK, adapted_model_menu, by_adapted
from electra_demo.service import ModelService
from electra_demo.tasks.proofread import DEFAULT_TOP_K, MAX_SUGGESTED, MAX_TOP_K, ProofreadResult
from electra_demo.text.processing import segments

FIX = "flagged: a fix passes"
NO_FIX = "flagged: no candidate passes"
UNCHECKED = f"flagged: past the {MAX_SUGGESTED} checked"
FIXED = "fixed"
FLAG_COLORS = {FIX: "#ef4444", NO_FIX: "#f59e0b", UNCHECKED: "#a3a3a3"}
FIX_COLORS = {FIXED: "#22c55e"}
COLUMNS = ["word", "start", "end", "candidate", "P(generator)", "P(replaced)", "passes"]
STALE = "The text changed since it was proofread: press Proofread again, then pick a candidate."

EXAMPLES = [
    ["I drank a cup of hot keyboard this morning.", 0.5, 3],
    ["She go to school every day, and her brother drive her there.", 0.5, 3],
    ["The chef cooked the meal in the kitchen and served it to the galaxy.", 0.5, 3],
]
LINK = links.TabLink(
    "proofread",
    (
        ("text", links.text),
        ("threshold", links.number(0, 1)),
        ("top_k", links.Whole(1, MAX_TOP_K)),
        MODEL_LINK,
    ),
    ("text",),
)


# ---- views of a result ------------------------------------------------------------------------
def flagged_highlights(result: ProofreadResult) -> list[tuple[str, str | None]]:
    """The text as typed, each flagged word marked by what became of it."""
    checked = {(s.start, s.end): s for s in result.suggestions}
    spans = []
    for word in result.detection.words:
        if word.replaced:
            suggestion = checked.get((word.start, word.end))
            fixed = suggestion is not None and suggestion.fix(result.detection.threshold)
            label = UNCHECKED if suggestion is None else FIX if fixed else NO_FIX
            spans.append((word.start, word.end, label))
    return segments(result.detection.text, spans)


def corrected_highlights(result: ProofreadResult) -> list[tuple[str, str | None]]:
    return segments(result.corrected, [(s, e, FIXED) for s, e in result.fixed])


def candidate_rows(result: ProofreadResult) -> list[list[Any]]:
    """One row per candidate: the word, its offsets, the candidate, both probabilities, whether it
    passes (P(replaced) below the threshold)."""
    threshold = result.detection.threshold
    return [
        [
            s.original,
            s.start,
            s.end,
            c.text,
            round(c.generator_probability, 4),
            round(c.replaced_probability, 4),
            "yes" if c.replaced_probability < threshold else "no",
        ]
        for s in result.suggestions
        for c in s.candidates
    ]


def summary(result: ProofreadResult) -> str:
    threshold = result.detection.threshold
    fixes = sum(1 for s in result.suggestions if s.fix(threshold))
    lines = [
        f"**{result.flagged} of {len(result.detection.words)} words look replaced** (P(replaced) > "
        f"{threshold:g}); for {fixes} of them a candidate of the generator passes the discriminator "
        f"(P(replaced) < {threshold:g}) and is applied in the corrected text.",
        "Click a candidate in the table to apply it, or **Apply all** for the corrected text.",
    ]
    if result.limited:
        lines.insert(1, f"Only the {MAX_SUGGESTED} most suspicious flagged words were checked.")
    if result.generator.random_weights or result.detection.model.random_weights:
        lines.insert(0, rendering.RANDOM_WEIGHTS_NOTICE)
    return by_adapted(result.detection.model, "\n\n".join(lines))


# ---- applying candidates ----------------------------------------------------------------------
def fits(text: str, result: Mapping[str, Any] | None) -> bool:
    """Whether ``result`` (the JSON shown) was computed for ``text`` as it is now: its words are
    where they were, and between them only what the tokenizer skips (spaces, invisible marks)."""
    if not isinstance(result, Mapping) or not isinstance(result.get("words"), list):
        return False
    position, gaps = 0, []
    for word in result["words"]:
        if text[word["start"] : word["end"]] != word["text"]:
            return False
        gaps.append(text[position : word["start"]])
        position = word["end"]
    gaps.append(text[position:])
    return all(c.isspace() or not c.isprintable() for c in "".join(gaps))


def apply_candidate(text: str, result: Mapping[str, Any] | None, row: list[Any] | None) -> str:
    """``text`` with the candidate of a table row (word, start, end, candidate, ...) in its word's place."""
    if not fits(text, result) or not row or len(row) < 4:
        raise gr.Error(STALE, print_exception=False)
    start, end, candidate = int(float(row[1])), int(float(row[2])), str(row[3])
    suggestions = result["suggestions"]  # type: ignore[index]
    if (start, end, candidate) not in {
        (s["start"], s["end"], c["text"]) for s in suggestions for c in s["candidates"]
    }:
        raise gr.Error(STALE, print_exception=False)
    return text[:start] + candidate + text[end:]


def apply_all(text: str, result: Mapping[str, Any] | None) -> str:
    """The corrected text of the result shown (every word's first passing candidate)."""
    if not fits(text, result):
        raise gr.Error(STALE, print_exception=False)
    return str(result["corrected"])  # type: ignore[index]


def endpoint(service: ModelService) -> Callable:
    @user_errors
    def proofread(
        text: str,
        threshold: float = config.DEFAULT_THRESHOLD,
        top_k: int = DEFAULT_TOP_K,
        model: str = "",
        progress=gr.Progress(track_tqdm=True),
    ):
        """Proofread a text with ELECTRA's pair: flag words, propose fixes with the generator, verify them.

        Args:
            text: The text to check (up to 20,000 characters).
            threshold: Flag words above this P(replaced); a candidate passes below it (0-1, default 0.5).
            top_k: How many words the generator proposes for each flagged word (1 to 10, default 3).
            model: Empty for the demo's models, or the id of a pair adapted in the Adapt tab (ad-...).

        Returns:
            The flagged words highlighted, the corrected text, a summary, a table of candidates,
            and JSON {"tokens", "words" (as /detect), "suggestions": [{"start", "end", "original",
            "candidates": [{"text", "generator_probability", "replaced_probability"}]}],
            "corrected", "threshold", "flagged", "limited"}; at most 32 flagged words get suggestions.
        """
        announce(service, progress, [model] if model else ["discriminator", "generator"])
        result = service.proofread(text, threshold, top_k, model)
        return show(result, flagged_highlights, corrected_highlights, summary, candidate_rows)

    return proofread


def build(service: ModelService) -> BuiltTab:
    model_card(service, "discriminator", "generator")
    gr.Markdown(
        "The discriminator flags words that look replaced; for each, the generator proposes words "
        "for its place, and the discriminator checks each proposal in the text. A word of several "
        "pieces is masked as one [MASK]."
    )
    with gr.Row():
        with gr.Column(scale=3):
            text = gr.Textbox(label="Text", lines=4, info=TEXT_LIMIT, elem_id="proofread-text")
        with gr.Column(scale=1):
            threshold = gr.Slider(0, 1, value=config.DEFAULT_THRESHOLD, step=0.01, label="Threshold")
            top_k = gr.Slider(1, MAX_TOP_K, value=DEFAULT_TOP_K, step=1, label="Candidates per word (top-k)")
            model = adapted_model_menu(service, "proofread")
            button = gr.Button("Proofread", variant="primary", elem_id="proofread-run")
    summary_view = gr.Markdown(elem_classes="electra-summary", elem_id="proofread-summary")
    flagged = gr.HighlightedText(
        label="Flagged words", color_map=FLAG_COLORS, show_legend=True, elem_id="proofread-flagged"
    )
    corrected = gr.HighlightedText(
        label="Corrected (every first passing candidate)",
        color_map=FIX_COLORS,
        show_legend=True,
        elem_id="proofread-corrected",
    )
    apply = gr.Button("Apply all", elem_id="proofread-apply-all")
    table = gr.Dataframe(
        headers=COLUMNS,
        label="Candidates: click one to put it in the text",
        interactive=False,
        elem_id="proofread-candidates",
    )
    with gr.Accordion("JSON", open=False):
        json = gr.JSON(label="JSON")
    outputs = [flagged, corrected, summary_view, table, json]
    tab = BuiltTab([text, threshold, top_k, model], outputs, endpoint(service), [button, apply])
    button.click(tab.handler, tab.inputs, tab.outputs, api_name="proofread", **RAW)
    text.submit(tab.handler, tab.inputs, tab.outputs, api_visibility="private", **RAW)

    def pick(current: str, result: dict | None, evt: gr.SelectData) -> str:
        """Put the clicked candidate in the text (UI only, not an API)."""
        return apply_candidate(current, result, evt.row_value)

    private: dict[str, Any] = {"api_visibility": "private"}
    table.select(pick, [text, json], text, **private).success(
        tab.handler, tab.inputs, tab.outputs, **private, **RAW
    )
    apply.click(apply_all, [text, json], text, **private).success(
        tab.handler, tab.inputs, tab.outputs, **private, **RAW
    )
    return tab


TAB = Tab("proofread", "Proofread", build, EXAMPLES, LINK)
