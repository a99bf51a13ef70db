"""The "Corrupt & detect" tab (``/corrupt``): ELECTRA's training signal, replayed on your text."""

from __future__ import annotations

from collections.abc import Callable

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

EXAMPLES = [
    ["The chef cooked a delicious meal for the guests in the small kitchen.", 0.15, 0],
    ["Paris is the capital of France and one of the most visited cities in the world.", 0.3, 7],
]
LINK = links.TabLink(
    "corrupt",
    (("text", links.text), ("fraction", links.number(0, 1)), ("seed", links.Whole(0, 2**32 - 1)), MODEL_LINK),
    ("text",),
)


def endpoint(service: ModelService) -> Callable:
    @user_errors
    def corrupt(
        text: str,
        fraction: float = config.DEFAULT_FRACTION,
        seed: int = config.DEFAULT_SEED,
        model: str = "",
        progress=gr.Progress(track_tqdm=True),
    ):
        """Corrupt a text with ELECTRA's generator, then detect the replacements.

        Args:
            text: The text to corrupt, up to 20,000 characters.
            fraction: Fraction of words the generator replaces (0-1, default 0.15; at least one if > 0).
            seed: A whole number; the same seed gives the same corruption.
            model: Empty: the demo's models; or an adapted model's id (ad-...): its generator, discriminator.

        Returns:
            The original and corrupted texts with replacements marked, the discriminator's
            token scores on the corrupted text, a summary, and JSON {"original", "corrupted",
            "replacements": [{"start", "end", "original", "replacement"}] (offsets in the
            corrupted text), "tokens": [as in /detect], "metrics": {"precision", "recall",
            "f1", "auc"}} (a metric is null where undefined).
        """
        announce(service, progress, [model] if model else ["generator", "discriminator"])
        result = service.corrupt(text, fraction, seed, model)
        return show(
            result,
            rendering.corrupt_original,
            rendering.corrupt_corrupted,
            lambda corruption: rendering.token_highlights(corruption.detection),
            lambda corruption: by_adapted(corruption.generator, rendering.corrupt_summary(corruption)),
        )

    return corrupt


def build(service: ModelService) -> BuiltTab:
    model_card(service, "generator", "discriminator")
    gr.Markdown(
        "The generator fills masked words with samples; the discriminator then looks "
        "for them. A sample equal to the original word is **not** a replacement: "
        "ELECTRA counts it as real."
    )
    with gr.Row():
        with gr.Column(scale=3):
            text = gr.Textbox(label="Text", lines=4, info=TEXT_LIMIT, elem_id="corrupt-text")
        with gr.Column(scale=1):
            fraction = gr.Slider(
                0, 1, value=config.DEFAULT_FRACTION, step=0.01, label="Fraction of words to corrupt"
            )
            seed = gr.Number(value=config.DEFAULT_SEED, step=1, label="Seed (a whole number)")
            model = adapted_model_menu(service, "corrupt")
            button = gr.Button("Corrupt and detect", variant="primary", elem_id="corrupt-run")
    summary = gr.Markdown(elem_classes="electra-summary", elem_id="corrupt-summary")
    original = gr.HighlightedText(
        label="Original (masked words)",
        color_map=rendering.CORRUPT_COLORS,
        show_legend=True,
        elem_id="corrupt-original",
    )
    corrupted = gr.HighlightedText(
        label="Corrupted by the generator",
        color_map=rendering.CORRUPT_COLORS,
        show_legend=True,
        elem_id="corrupt-corrupted",
    )
    view = gr.HighlightedText(
        label="The discriminator's view of the corrupted text: red by P(replaced), clear = 0",
        elem_id="corrupt-view",
    )
    with gr.Accordion("JSON", open=False):
        json = gr.JSON(label="JSON")
    outputs = [original, corrupted, view, summary, json]
    tab = BuiltTab([text, fraction, seed, model], outputs, endpoint(service), [button])
    button.click(tab.handler, tab.inputs, tab.outputs, api_name="corrupt", **RAW)
    return tab


TAB = Tab("corrupt", "Corrupt & detect", build, EXAMPLES, LINK)
