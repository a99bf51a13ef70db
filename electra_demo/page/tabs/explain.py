"""The "Explain" tab (``/explain``): which words made the model decide, shaded in the text.

Gradient x input runs at once; integrated gradients reports its progress (forward passes done)
and has a Cancel button. Cancel sets the session's cancel flags (:mod:`electra_demo.page.cancels`): a
running explanation stops at its next forward pass, one still waiting (in the queue, for its
model or for a turn) stops before it starts, and either ends in a calm "Cancelled" state with
``"stopped": "cancelled"`` in its JSON, never an error. Gradio's own ``cancels=`` is not used: it
would race the handler's answer (the visitor then saw an error toast some of the time).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gradio as gr

from electra_demo import config
from electra_demo.page import attribution as attribution_view
from electra_demo.page import links, rendering
from electra_demo.page.cancels import Cancels
from electra_demo.page.tabs.common import (
    RAW,
    TEXT_LIMIT,
    BuiltTab,
    Tab,
    enqueued_at,
    model_card,
    own_models,
    show,
    user_errors,
)
from electra_demo.service import ModelService
from electra_demo.tasks import explain as explaining

_CURIE = (
    "Marie Curie was born in Warsaw in 1867. She moved to Paris in 1891 and worked at the "
    "University of Paris, where she studied radioactivity with Pierre Curie."
)
EXAMPLES = [
    ["emotion", "I can't believe they threw me a surprise party!", "", "", "gradient_x_input", 32],
    [
        "sentiment",
        "A moving, beautifully acted film that stays with you.",
        "",
        "",
        "integrated_gradients",
        32,
    ],
    [
        "nli",
        "A man is playing a guitar on a crowded stage.",
        "A person is performing music.",
        "",
        "gradient_x_input",
        32,
    ],
    [
        "detect",
        "I drank a cup of hot keyboard with my breakfast this morning.",
        "",
        "",
        "gradient_x_input",
        32,
    ],
    ["qa", "Where was Marie Curie born?", _CURIE, "", "gradient_x_input", 32],
]
TASK_CHOICES = [
    ("Sentiment (SST-2)", "sentiment"),
    ("Emotion", "emotion"),
    ("NLI (premise + hypothesis)", "nli"),
    ("Replaced tokens (discriminator)", "detect"),
    ("Question answering (question + context)", "qa"),
    ("Rerank (query + passage)", "rerank"),
]
METHOD_CHOICES = [
    ("Gradient × input (instant)", "gradient_x_input"),
    ("Integrated gradients", "integrated_gradients"),
]


def _task_param(value: str) -> str:
    if explaining.is_task(value):
        return value
    raise ValueError("must be one of " + ", ".join(explaining.TASKS))


LINK = links.TabLink(
    "explain",
    (
        ("task", _task_param),
        ("text", links.text),
        ("text_pair", links.text),
        ("target", links.text),
        ("method", links.choice(explaining.METHODS)),
        ("steps", links.Whole(1, explaining.MAX_STEPS)),
    ),
    ("text",),
)


def _slot(name: str) -> str:
    return explaining.SLOTS.get(name, name)


def _announce(service: ModelService, progress: gr.Progress, task: object) -> None:
    """Say when the slot's PyTorch weights load first (a second copy where ONNX Runtime serves it)."""
    if task not in explaining.TASKS:
        return
    slot = _slot(str(task))
    models = service.loaded_models()
    main = models.get(slot)
    if not ((main is not None and main.has_torch_weights) or f"{slot}:torch" in models):
        progress(0, desc=f"Loading the PyTorch weights of {slot} for gradients (first use)...")


CANCELLED_SUMMARY = "Cancelled: the explanation stopped before it finished."


def cancelled(task: object, method: object, steps: object) -> tuple:
    """The outputs of a cancelled explanation: a calm state, not an error."""
    # only reached once the request was checked: task, method and steps are valid values
    integrated = method == "integrated_gradients"
    shown = {
        "task": task,
        "method": method,
        "steps": int(steps) if integrated else None,
        "stopped": "cancelled",
    }
    return "", "", CANCELLED_SUMMARY, "", None, shown


def own_heads(service: ModelService, request: gr.Request | None) -> list[tuple[str, str]]:
    """The classifiers and readers this browser session fine-tuned (nobody else's)."""
    return own_models(service, request, explaining.KINDS_EXPLAINED)


def endpoint(service: ModelService, running: Cancels) -> Callable:
    @user_errors
    def explain(
        task: str,
        text: str,
        text_pair: str = "",
        target: str = "",
        method: str = explaining.DEFAULT_METHOD,
        steps: int = explaining.DEFAULT_STEPS,
        request: gr.Request = None,  # type: ignore[assignment]
        progress=gr.Progress(),
    ):
        """Explain a model output: how much each input word pushed it up or down (signed attributions).

        Args:
            task: "sentiment", "emotion", "nli" (premise + hypothesis), "detect", "qa" or "rerank" (a pair).
            text: The text to explain (the question for "qa", the query for "rerank"); past 512 tokens, cut.
            text_pair: The hypothesis for "nli", the context for "qa", the passage for "rerank"; else empty.
            target: What to explain; empty: the model's pick. A label, or a piece of the text (qa: context).
            method: "gradient_x_input" or "integrated_gradients" (Captum; baseline: [PAD] for every token).
            steps: Integrated-gradients steps, 1 to 256 (default 32); not used by gradient x input.

        Returns:
            The text shaded by word and by token, a one-line summary, notes, a bar chart of the top
            words, and JSON {"task", "model", "method", "steps", "target", "score",
            "baseline_score", "delta", "truncated", "tokens": [{"text", "start", "end", "segment",
            "attribution"}], "words": [same keys]}, where text == source[start:end] (segment 0:
            text, 1: text_pair); a cancelled run: {"task", "method", "steps", "stopped": "cancelled"}.
        """
        session = getattr(request, "session_hash", None)

        def report(fraction: float) -> None:
            progress(fraction, desc="Integrated gradients: forward passes")

        with running.flag(session, since=enqueued_at()) as cancel:
            try:
                _announce(service, progress, task)
                result: Any = service.explain(
                    task, text, text_pair, target, method, steps, progress=report, cancel=cancel
                )
            except explaining.Cancelled:
                return cancelled(task, method, steps)
        view = attribution_view
        return show(result, view.words_html, view.tokens_html, view.summary_line, view.notes, view.bar_table)

    return explain


def _outputs() -> tuple[list, gr.Radio]:
    """The shaded views (words shown, tokens behind the switch), summary, notes, chart, JSON."""
    unit = gr.Radio(
        [("Words", "words"), ("Tokens", "tokens")], value="words", label="Shade", elem_id="explain-unit"
    )
    summary = gr.Textbox(label="Summary", interactive=False, elem_id="explain-summary")
    words = gr.HTML(elem_id="explain-words", padding=True)
    tokens = gr.HTML(elem_id="explain-tokens", padding=True, visible=False)
    notes = gr.Markdown(elem_classes="electra-summary", elem_id="explain-notes")
    bars = gr.BarPlot(
        x="word",
        y="attribution",
        color="direction",
        color_map=attribution_view.BAR_COLORS,
        sort="x",  # the labels start with the rank
        label=f"The {attribution_view.TOP_WORDS} words with the largest attributions",
        elem_id="explain-bars",
    )
    with gr.Accordion("JSON", open=False):
        json = gr.JSON(label="JSON")

    def switch(choice: str):
        return gr.update(visible=choice == "words"), gr.update(visible=choice == "tokens")

    unit.change(switch, unit, [words, tokens], api_visibility="private", queue=False)
    return [words, tokens, summary, notes, bars, json], unit


def _settings() -> tuple[gr.Textbox, gr.Radio, gr.Slider, gr.Button, gr.Button]:
    """The target, the method and its steps, and the Explain and Cancel buttons."""
    target = gr.Textbox(
        label="Target (empty: the model's own pick)",
        value="",
        info="A label; for detect a word of the text; for QA a piece of the context",
        elem_id="explain-target",
    )
    method = gr.Radio(
        METHOD_CHOICES, value=explaining.DEFAULT_METHOD, label="Method", elem_id="explain-method"
    )
    steps = gr.Slider(
        1,
        explaining.MAX_STEPS,
        value=explaining.DEFAULT_STEPS,
        step=1,
        label="Integrated-gradients steps",
        elem_id="explain-steps",
    )
    with gr.Row():
        button = gr.Button("Explain", variant="primary", elem_id="explain-run")
        cancel = gr.Button("Cancel", variant="stop", elem_id="explain-cancel")
    return target, method, steps, button, cancel


def build(service: ModelService) -> BuiltTab:
    card = model_card(service, "sentiment")
    running = Cancels()
    with gr.Row():
        with gr.Column(scale=3):
            task = gr.Dropdown(
                choices=TASK_CHOICES,
                value="sentiment",
                label="Task",
                info="The demo's heads, or a classifier or reader you fine-tuned (yours only)",
                allow_custom_value=True,  # a head's id set by the API (checked by the task)
                elem_id="explain-task",
            )
            text = gr.Textbox(
                label="Text (premise for NLI, question for QA)",
                lines=3,
                info=TEXT_LIMIT + "; the model reads the first 512 tokens",
                elem_id="explain-text",
            )
            pair = gr.Textbox(
                label="Second text (hypothesis for NLI, context for QA; empty otherwise)",
                value="",
                lines=2,
                elem_id="explain-pair",
            )
        with gr.Column(scale=2):
            target, method, steps, button, cancel = _settings()
    outputs, _unit = _outputs()
    tab = BuiltTab([task, text, pair, target, method, steps], outputs, endpoint(service, running), [button])
    button.click(tab.handler, tab.inputs, tab.outputs, api_name="explain", **RAW)

    def task_changed(name: str) -> str:
        slot = _slot(name)
        return rendering.model_card(service.card(slot)) if slot in config.REGISTRY else ""

    task.change(task_changed, task, card, api_visibility="private", queue=False)

    def refresh(request: gr.Request):
        """The tasks, with this session's fine-tuned classifiers and readers (UI only)."""
        return gr.update(choices=TASK_CHOICES + own_heads(service, request))

    task.focus(refresh, None, task, api_visibility="private", queue=False)

    def stop(request: gr.Request):
        """Cancel this session's running explanations (UI only, not an API)."""
        running.cancel(getattr(request, "session_hash", None))

    cancel.click(stop, None, None, api_visibility="private", queue=False)
    return tab


TAB = Tab("explain", "Explain", build, EXAMPLES, LINK)
