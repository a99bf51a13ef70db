"""The "Classify" tab (``/classify``): sentiment, emotion and NLI heads; NLI shows a second box.

A visitor's own fine-tuned heads (classifiers from the Fine-tune tab) join the head list for that
browser session only: the list is refreshed from the server when it is opened.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import gradio as gr

from electra_demo import config
from electra_demo.checks import InputError
from electra_demo.page import links, rendering
from electra_demo.page.tabs.common import (
    RAW,
    TEXT_LIMIT,
    BuiltTab,
    Tab,
    announce,
    answered_by,
    model_card,
    own_models,
    show,
    user_errors,
)
from electra_demo.service import ModelService
from electra_demo.tasks.classify import ClassifyResult
from electra_demo.trained.kinds import is_model_id

EXAMPLES = [
    ["sentiment", "A moving, beautifully acted film that stays with you.", ""],
    ["emotion", "I can't believe they threw me a surprise party!", ""],
    ["nli", "A man is playing a guitar on a crowded stage.", "A person is performing music."],
]
REGISTRY_HEADS = [(config.REGISTRY[n].display_name, n) for n in config.CLASSIFY_HEADS]


def head_choices(service: ModelService, request: gr.Request | None) -> list[tuple[str, str]]:
    """The registry's heads, then the ones this browser session fine-tuned (nobody else's)."""
    return REGISTRY_HEADS + own_models(service, request, ("classify",))


def head_card(service: ModelService, head: str) -> str:
    """The head's model card; a fine-tuned head's without its labels (the visitor's text is
    never Markdown: the probabilities show the labels as text)."""
    card = service.card(head)
    return rendering.model_card({**card, "labels": []} if is_model_id(head) else card)


def summary(result: ClassifyResult) -> str:
    model_id = answered_by(result.model)
    if model_id is None:
        return rendering.classify_summary(result)
    score = result.labels[0][1]
    lines = [f"Top class (above) at **{score:.1%}**, from your fine-tuned model `{model_id}`."]
    if result.truncated:
        lines.append(f"⚠️ The input was longer than {result.model.max_tokens} tokens and was truncated.")
    return "\n\n".join(lines)


LINK = links.TabLink(
    "classify",
    (("head", links.choice(config.CLASSIFY_HEADS)), ("text", links.text), ("text_pair", links.text)),
    ("text",),
)


def endpoint(service: ModelService) -> Callable:
    @user_errors
    def classify(head: str, text: str, text_pair: str = "", progress=gr.Progress(track_tqdm=True)):
        """Classify a text with a fine-tuned ELECTRA head: every class with its probability.

        Args:
            head: "sentiment" (SST-2), "emotion", "nli" (MNLI, a pair), or a Fine-tune tab model id (ft-...).
            text: The text to classify (for "nli" the premise); past 512 tokens it is truncated.
            text_pair: For "nli" only, the hypothesis; leave empty for the other heads.

        Returns:
            The class probabilities, a summary, and JSON {"head", "model", "labels": [{"label",
            "score"}] highest first, "truncated": bool}.
        """
        announce(service, progress, [head] if head in config.CLASSIFY_HEADS else [])
        result = service.classify(head, text, text_pair)
        return show(result, rendering.label_scores, summary)

    return classify


def build(service: ModelService) -> BuiltTab:
    first = config.CLASSIFY_HEADS[0]
    card = model_card(service, first)
    with gr.Row():
        with gr.Column(scale=3):
            head_menu = gr.Dropdown(
                choices=REGISTRY_HEADS,
                value=first,
                label="Head",
                elem_id="classify-head",
            )
            text = gr.Textbox(
                label="Text (premise for NLI)",
                lines=3,
                info=TEXT_LIMIT + "; the model reads the first 512 tokens",
                elem_id="classify-text",
            )
            pair = gr.Textbox(
                label="Hypothesis (second text)",
                value="",
                lines=2,
                visible=config.REGISTRY[first].pair,
                elem_id="classify-pair",
            )
            button = gr.Button("Classify", variant="primary", elem_id="classify-run")
        with gr.Column(scale=2):
            summary = gr.Markdown(elem_classes="electra-summary", elem_id="classify-summary")
            label = gr.Label(label="Class probabilities", elem_id="classify-label")
    with gr.Accordion("JSON", open=False):
        json = gr.JSON(label="JSON")

    def head_changed(head: str):
        try:
            slot = config.REGISTRY.get(head) or (service.resolve(head).slot if is_model_id(head) else None)
        except InputError:  # a fine-tuned head that expired meanwhile
            slot = None
        shown = head_card(service, head) if slot else ""
        return gr.update(visible=bool(slot and slot.pair)), shown

    def heads(request: gr.Request):
        """The head list, with this session's fine-tuned heads (UI only)."""
        return gr.update(choices=head_choices(service, request))

    def on_link(values: Mapping[str, Any]) -> dict:
        """The second box, shown for a pair head, with the link's text_pair."""
        chosen = values.get("head", first)
        return {pair: gr.update(value=values.get("text_pair", ""), visible=config.REGISTRY[chosen].pair)}

    tab = BuiltTab([head_menu, text, pair], [label, summary, json], endpoint(service), [button], on_link)
    head_menu.change(head_changed, head_menu, [pair, card], api_visibility="private", queue=False)
    head_menu.focus(heads, None, head_menu, api_visibility="private", queue=False)
    button.click(tab.handler, tab.inputs, tab.outputs, api_name="classify", **RAW)
    return tab


TAB = Tab("classify", "Classify", build, EXAMPLES, LINK)
