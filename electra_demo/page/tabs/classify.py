"""The "Classify" tab (``/classify``): sentiment, emotion and NLI heads; NLI shows a second box.
Its "Zero-shot" choice (``/zeroshot``) scores labels the visitor types, by the discriminator alone
or by the NLI head's entailment (:mod:`electra_demo.tasks.zeroshot`), on the same bar chart.

A visitor's own fine-tuned heads (classifiers from the Fine-tune tab) join the head list for that
browser session only: the list is refreshed from the server when it is opened.

The Classify button runs the chosen head or zero-shot (one handler, also the links' and the
examples'); the named endpoints ``/classify`` and ``/zeroshot`` are their own events, each with
its own arguments, on a trigger the page never shows (the API's, gradio_client's, MCP's).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import gradio as gr
from gradio.components import Component

from electra_demo import config
from electra_demo.checks import InputError
from electra_demo.config import Slot
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
from electra_demo.tasks import zeroshot as zeroshot_task
from electra_demo.tasks.classify import ClassifyResult
from electra_demo.tasks.zeroshot import DEFAULT_TEMPLATE, ZeroShotResult
from electra_demo.trained.kinds import is_model_id

ZERO_SHOT = "zero-shot"  # the head menu's value for zero-shot classification
NO_LABELS = ["", DEFAULT_TEMPLATE, "rtd", False]  # a head example's zero-shot inputs (the defaults)
EXAMPLES = [
    ["sentiment", "A moving, beautifully acted film that stays with you.", "", *NO_LABELS],
    ["emotion", "I can't believe they threw me a surprise party!", "", *NO_LABELS],
    ["nli", "A man is playing a guitar on a crowded stage.", "A person is performing music.", *NO_LABELS],
    [
        ZERO_SHOT,
        "The striker scored twice in the final minutes and the home crowd went wild.",
        "",
        "sports, politics, science, cooking",
        "This text is about {}.",
        "rtd",
        False,
    ],
]
REGISTRY_HEADS = [(config.REGISTRY[n].display_name, n) for n in config.CLASSIFY_HEADS]
FIRST = config.CLASSIFY_HEADS[0]  # the head the tab opens on
ZERO_SHOT_CHOICE = ("Zero-shot (labels you type)", ZERO_SHOT)
METHOD_CHOICES = [
    ("The discriminator alone (rtd: which label looks original)", "rtd"),
    ("The NLI head (nli: which label the text entails)", "nli"),
]
METHOD_NAMES = {"rtd": "the discriminator alone (rtd)", "nli": "the NLI head's entailment (nli)"}


def head_choices(service: ModelService, request: gr.Request | None) -> list[tuple[str, str]]:
    """The registry's heads, zero-shot, then the heads this browser session fine-tuned (nobody
    else's)."""
    return [*REGISTRY_HEADS, ZERO_SHOT_CHOICE, *own_models(service, request, ("classify",))]


def head_card(service: ModelService, head: str) -> str:
    """The head's model card; a fine-tuned head's without its labels (the visitor's text is
    never Markdown: the probabilities show the labels as text); zero-shot's two models."""
    if head == ZERO_SHOT:
        return "\n\n".join(rendering.model_card(service.card(slot)) for slot in zeroshot_task.SLOTS.values())
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


def zeroshot_summary(result: ZeroShotResult) -> str:
    """The top label's score and how it was found; the labels themselves are the visitor's text,
    shown as text by the chart, never as Markdown here."""
    score = result.labels[0][1]
    how = "each label scored on its own" if result.multi_label else "the scores sum to 1"
    lines = [
        f"Top label (above) at **{score:.1%}** of {len(result.labels)} candidate labels, by "
        f"{METHOD_NAMES[result.method]} on `{result.model.resolved.source}` ({how})."
    ]
    if result.truncated:
        lines.append(
            f"⚠️ The text and a filled template were longer than the model's {result.model.max_tokens} "
            "tokens: the end of the text was cut."
        )
    if result.model.random_weights:
        lines.insert(0, rendering.RANDOM_WEIGHTS_NOTICE)
    return "\n\n".join(lines)


ZERO_SHOT_INPUTS = ("candidate_labels", "hypothesis_template", "method", "multi_label")
LINK = links.TabLink(
    "classify",
    (
        ("head", links.choice((*config.CLASSIFY_HEADS, ZERO_SHOT))),
        ("text", links.text),
        ("text_pair", links.text),
        ("candidate_labels", links.text),
        ("hypothesis_template", links.text),
        ("method", links.choice(zeroshot_task.METHODS)),
        ("multi_label", links.flag),
    ),
    ("text",),
    tuple((name, "head", (ZERO_SHOT,)) for name in ZERO_SHOT_INPUTS),
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
        if head == ZERO_SHOT:
            raise InputError(
                "Zero-shot classification has its own endpoint: /zeroshot(text, candidate_labels, ...)."
            )
        announce(service, progress, [head] if head in config.CLASSIFY_HEADS else [])
        result = service.classify(head, text, text_pair)
        return show(result, rendering.label_scores, summary)

    return classify


def zeroshot_endpoint(service: ModelService) -> Callable:
    @user_errors
    def zeroshot(
        text: str,
        candidate_labels: str,
        hypothesis_template: str = DEFAULT_TEMPLATE,
        method: str = "rtd",
        multi_label: bool = False,
        progress=gr.Progress(track_tqdm=True),
    ):
        """Zero-shot classification: score labels you choose for a text, with no training.

        Args:
            text: The text to classify (up to 20,000 characters; cut at its end past 512 tokens).
            candidate_labels: 2 to 20 labels separated by commas (each at most 100 characters, all different).
            hypothesis_template: The sentence each label goes into, with {} once where it goes ("It was {}.").
            method: "rtd" (the discriminator: which label looks original) or "nli" (NLI head's entailment).
            multi_label: False: the scores sum to 1 over the labels; True: each label is scored on its own.

        Returns:
            The label scores, a summary, and JSON {"labels", "method", "template", "multi_label"}.
        """
        announce(service, progress, [zeroshot_task.SLOTS[method]] if method in zeroshot_task.SLOTS else [])
        result = service.zeroshot(text, candidate_labels, hypothesis_template, method, multi_label)
        return show(result, lambda shown: dict(shown.labels), zeroshot_summary)

    return zeroshot


def chosen(service: ModelService) -> Callable:
    """The Classify button's handler (and the links' and examples'): the chosen head's
    ``/classify``, or ``/zeroshot`` with the typed labels; a second text is only a pair head's."""
    classify, zero = endpoint(service), zeroshot_endpoint(service)

    @user_errors
    def run(
        head: str,
        text: str,
        text_pair: str = "",
        candidate_labels: str = "",
        hypothesis_template: str = DEFAULT_TEMPLATE,
        method: str = "rtd",
        multi_label: bool = False,
        progress=gr.Progress(track_tqdm=True),
    ):
        """Run the chosen head, or zero-shot classification with the typed labels (UI only)."""
        if head == ZERO_SHOT:
            return zero(text, candidate_labels, hypothesis_template, method, multi_label, progress)
        return classify(head, text, text_pair, progress)

    return run


def zeroshot_inputs() -> list[Component]:
    """The labels, the template, the method and the multi-label box (shown for zero-shot)."""
    return [
        gr.Textbox(
            label="Candidate labels (2 to 20, separated by commas)",
            placeholder="sports, politics, science",
            visible=False,
            elem_id="classify-labels",
        ),
        gr.Textbox(
            label="Hypothesis template ({} is where each label goes)",
            value=DEFAULT_TEMPLATE,
            visible=False,
            elem_id="classify-template",
        ),
        gr.Radio(METHOD_CHOICES, value="rtd", label="Method", visible=False, elem_id="classify-method"),
        gr.Checkbox(
            value=False,
            label="Multi-label: score each label on its own (else the scores sum to 1)",
            visible=False,
            elem_id="classify-multi-label",
        ),
    ]


@dataclass
class Shown:
    """What the head shows besides the text: the second box for a pair head, the zero-shot inputs
    (labels, template, method, multi-label) for zero-shot."""

    service: ModelService
    switched: list[Component]  # the second box, then the zero-shot inputs

    def slot(self, head: str) -> Slot | None:
        try:
            return config.REGISTRY.get(head) or (
                self.service.resolve(head).slot if is_model_id(head) else None
            )
        except InputError:  # a fine-tuned head that expired meanwhile
            return None

    def updates(self, head: str, values: Mapping[str, Any] | None = None) -> list:
        """Each switched input shown or hidden, with a link's ``values`` when given (else its
        value stays)."""
        slot, zero = self.slot(head), head == ZERO_SHOT
        shown = (bool(slot and slot.pair), zero, zero, zero, zero)
        names = ("text_pair", *ZERO_SHOT_INPUTS)
        updates = []
        for component, name, visible in zip(self.switched, names, shown, strict=True):
            value = {} if values is None else {"value": values.get(name, component.value)}
            updates.append(gr.update(visible=visible, **value))
        return updates

    def head_changed(self, head: str) -> tuple:
        """The switched inputs, then the head's model card (UI only)."""
        card = head_card(self.service, head) if self.slot(head) or head == ZERO_SHOT else ""
        return *self.updates(head), card

    def on_link(self, values: Mapping[str, Any]) -> dict:
        """A link's switched inputs, shown for its head, with its values."""
        return dict(zip(self.switched, self.updates(values.get("head", FIRST), values), strict=True))


def register_endpoints(service: ModelService, tab: BuiltTab) -> None:
    """``/classify(head, text, text_pair)`` and ``/zeroshot(text, candidate_labels, ...)`` on a
    trigger the page never shows: the API's, gradio_client's and MCP's way in."""
    head, text, pair, *zero_inputs = tab.inputs
    api_only = gr.Button(visible=False, elem_id="classify-api")
    wiring = {"concurrency_id": "classify", **RAW}
    api_only.click(endpoint(service), [head, text, pair], tab.outputs, api_name="classify", **wiring)
    api_only.click(
        zeroshot_endpoint(service), [text, *zero_inputs], tab.outputs, api_name="zeroshot", **wiring
    )


def build(service: ModelService) -> BuiltTab:
    card = model_card(service, FIRST)
    with gr.Row():
        with gr.Column(scale=3):
            head_menu = gr.Dropdown(
                choices=[*REGISTRY_HEADS, ZERO_SHOT_CHOICE],
                value=FIRST,
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
                visible=config.REGISTRY[FIRST].pair,
                elem_id="classify-pair",
            )
            zero_inputs = zeroshot_inputs()
            button = gr.Button("Classify", variant="primary", elem_id="classify-run")
        with gr.Column(scale=2):
            summary = gr.Markdown(elem_classes="electra-summary", elem_id="classify-summary")
            label = gr.Label(label="Class probabilities", elem_id="classify-label")
    with gr.Accordion("JSON", open=False):
        json = gr.JSON(label="JSON")
    shown = Shown(service, [pair, *zero_inputs])

    def heads(request: gr.Request):
        """The head list, with this session's fine-tuned heads (UI only)."""
        return gr.update(choices=head_choices(service, request))

    inputs = [head_menu, text, pair, *zero_inputs]
    tab = BuiltTab(inputs, [label, summary, json], chosen(service), [button], shown.on_link)
    head_menu.change(
        shown.head_changed, head_menu, [*shown.switched, card], api_visibility="private", queue=False
    )
    head_menu.focus(heads, None, head_menu, api_visibility="private", queue=False)
    button.click(tab.handler, inputs, tab.outputs, api_visibility="private", concurrency_id="classify", **RAW)
    register_endpoints(service, tab)
    return tab


TAB = Tab("classify", "Classify", build, EXAMPLES, LINK)
