"""The "Replaced tokens" tab (``/detect``): the discriminator's view of any text."""

from __future__ import annotations

from collections.abc import Callable

import gradio as gr

from electra_demo import config
from electra_demo.page import links, rendering
from electra_demo.page.tabs.common import (
    RAW,
    BuiltTab,
    Tab,
    announce,
    answered_by,
    model_card,
    own_model_menu,
    show,
    user_errors,
)
from electra_demo.service import LoadedModel, ModelService
from electra_demo.trained.kinds import KINDS

# an adapted model's id is its owner's key: links carry only the demo's own model ("")
MODEL_LINK = ("model", links.choice(("",)))


def by_adapted(loaded: LoadedModel, summary: str) -> str:
    """A summary, first saying which adapted model answered (when it is the visitor's own)."""
    model_id = answered_by(loaded)
    if model_id is None:
        return summary
    return f"Your adapted model `{model_id}` (from the {KINDS['adapt'].tab} tab) answered.\n\n{summary}"


def adapted_model_menu(service: ModelService, tab: str) -> gr.Dropdown:
    """The ``model`` input: the demo's models or one this session adapted."""
    return own_model_menu(
        service,
        tab,
        ("adapt",),
        "The demo's models",
        "The demo's models, or a pair you adapted in the Adapt tab (yours only).",
    )


EXAMPLES = [
    ["I drank a cup of hot keyboard with my breakfast this morning.", 0.5],
    ["The quick brown fox jumps over the lazy dog.", 0.5],
    ["The chef cooked the meal in the kitchen and served it to the galaxy.", 0.5],
]
PLACEHOLDER = "Type a sentence, perhaps with one word that does not belong."
LINK = links.TabLink(
    "detect", (("text", links.text), ("threshold", links.number(0, 1)), MODEL_LINK), ("text",)
)


def endpoint(service: ModelService) -> Callable:
    @user_errors
    def detect(
        text: str,
        threshold: float = config.DEFAULT_THRESHOLD,
        model: str = "",
        progress=gr.Progress(track_tqdm=True),
    ):
        """Score every token of a text with ELECTRA's discriminator: P(the token was replaced).

        Args:
            text: The text to check (up to 20,000 characters; long texts are scored in windows).
            threshold: A token or word is flagged as replaced above this probability (0-1, default 0.5).
            model: Empty for the demo's discriminator, or the id of a model adapted in the Adapt tab (ad-...).

        Returns:
            Token highlights, word highlights, a summary, a per-token table, and JSON
            {"tokens": [{"text", "start", "end", "probability", "replaced"}], "words": [same
            keys], "threshold"}, where text == input[start:end].
        """
        announce(service, progress, [model or "discriminator"])
        result = service.detect(text, threshold, model)
        return show(
            result,
            rendering.token_highlights,
            rendering.word_highlights,
            lambda detected: by_adapted(detected.model, rendering.detect_summary(detected)),
            rendering.token_rows,
        )

    return detect


def build(service: ModelService) -> BuiltTab:
    model_card(service, "discriminator")
    with gr.Row():
        with gr.Column(scale=3):
            text = gr.Textbox(label="Text", lines=4, placeholder=PLACEHOLDER, elem_id="detect-text")
        with gr.Column(scale=1):
            threshold = gr.Slider(0, 1, value=config.DEFAULT_THRESHOLD, step=0.01, label="Threshold")
            model = adapted_model_menu(service, "detect")
            button = gr.Button("Detect replaced tokens", variant="primary", elem_id="detect-run")
    gr.Markdown(
        f"Up to {config.MAX_TEXT_CHARS:,} characters; texts over 512 tokens are "
        "scored in overlapping windows.",
    )
    summary = gr.Markdown(elem_classes="electra-summary", elem_id="detect-summary")
    tokens = gr.HighlightedText(
        label="Tokens, shaded red by P(replaced): clear = 0, full red = 1",
        elem_id="detect-tokens",
        show_legend=False,  # Gradio's score legend runs -1..1; probabilities run 0..1
    )
    words = gr.HighlightedText(
        label="Words over the threshold",
        color_map=rendering.WORD_COLORS,
        show_legend=True,
        elem_id="detect-words",
    )
    with gr.Accordion("Per-token scores and JSON", open=False):
        table = gr.Dataframe(headers=rendering.TOKEN_COLUMNS, label="Per-token scores", interactive=False)
        json = gr.JSON(label="JSON")
    tab = BuiltTab(
        [text, threshold, model], [tokens, words, summary, table, json], endpoint(service), [button]
    )
    button.click(tab.handler, tab.inputs, tab.outputs, api_name="detect", **RAW)
    text.submit(tab.handler, tab.inputs, tab.outputs, api_visibility="private", **RAW)
    return tab


TAB = Tab("detect", "Replaced tokens", build, EXAMPLES, LINK)
