"""The "Fine-tune" tab (``/finetune``, ``/finetune_tag``, ``/finetune_qa``): train a classifier, an
entity tagger or a reader on your own file, watch it learn, then use it in the other tabs and the
API, and download it.

The kinds it trains and their endpoints are :mod:`electra_demo.page.tabs.finetune_endpoints`; the
endpoint maker, the settings block and the stream of a run are
:mod:`electra_demo.page.tabs.training`. The file handling and the split are
:mod:`electra_demo.finetune.data`; the queue and the training process are
:mod:`electra_demo.finetune.jobs`; trained models live in :mod:`electra_demo.trained.store`. This
module is the layout, the Task switch (what each kind shows) and the wiring. No deep link: a run
needs an uploaded file.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import gradio as gr
from gradio.components import Component

from electra_demo import config
from electra_demo.checks import InputError
from electra_demo.finetune import data, jobs, qa_data
from electra_demo.finetune.jobs import Trainings
from electra_demo.page.cancels import Cancels
from electra_demo.page.tabs import training
from electra_demo.page.tabs.common import BuiltTab, Tab, own_models
from electra_demo.page.tabs.finetune_endpoints import FILE_TYPES, FINETUNE, TITLE, FinetuneKind
from electra_demo.page.tabs.training import Knob, PlanFunction, parameter_defaults, parameter_names
from electra_demo.service import ModelService
from electra_demo.trained.kinds import KINDS, serving

COLUMNS = ("text_column", "label_column", "pair_column")  # a classifier's file's columns
BASE_KINDS = serving("as the base of a Fine-tune run")  # the visitor's own models that can be a base
LAYOUT: training.Layout = (
    (
        Knob("epochs", "Epochs", "epochs", data.EPOCHS, 1),
        training.LEARNING_RATE,
        training.batch_size(data.BATCH_SIZE),
    ),
    (training.max_length(data.MAX_LENGTH), training.eval_fraction(data.EVAL_FRACTION), training.SEED),
    Knob("doc_stride", "Stride (doc_stride, QA)", "stride", qa_data.DOC_STRIDE, 8, visible=False),
)


def intro(limits: data.Limits, trainings: Trainings, ttl: float) -> str:
    return (
        "Upload labelled texts (**CSV** with a header row, **TSV** or **JSONL**, UTF-8) and train an "
        "ELECTRA classifier on them: pick the text and label columns (and a second-text column for "
        "pairs), a base model and the settings, then **Train**. The loss is drawn as it learns; at the "
        "end you get held-out metrics, a model you can use at once in the other tabs and the API, and "
        "a standard checkpoint to download. **Tag entities** trains an entity tagger on CoNLL-style "
        "text or JSONL (tokens and tags, or a text and its entity spans); **Answer questions** trains a "
        "reader on SQuAD JSON or JSONL (question, context, answers).\n\n"
        f"**Limits:** {limits.describe()} (tagging and QA: up to {limits.max_rows:,} sentences or "
        f"questions, {limits.max_bytes / 1e6:g} MB); a run trains for at most "
        f"{trainings.time_limit:g} seconds (then it stops and keeps what it learnt). "
        f"{trainings.concurrency} run trains at a time; at most {trainings.queue_size} wait. "
        f"Trained models are kept {ttl / 3600:g} hours, at most {trainings.store.max_models} at once."
    )


@dataclass(frozen=True)
class Page:
    """The tab's components: its inputs by endpoint parameter, and each kind's button and views."""

    task: gr.Radio
    info: gr.Markdown
    controls: dict[str, Component]  # by the endpoint parameter each one feeds
    buttons: dict[str, gr.Button]  # by kind
    cancel: gr.Button
    shown: dict[str, Component]  # the block shown for each kind's results
    outputs: dict[str, list[Component]]  # each kind's endpoint outputs


def columns_of(file: str, limits: data.Limits) -> tuple:
    """A classifier's file: offer its columns, the largest-text one proposed."""
    empty = gr.update(choices=[], value=None)
    try:
        table = data.read_upload(file, os.path.basename(file), limits)
    except InputError as error:
        return empty, empty, gr.update(choices=[""], value=""), f"⚠️ {error}"
    proposed = data.propose_columns(table)
    return (
        gr.update(choices=table.columns, value=proposed["text"] or None),
        gr.update(choices=table.columns, value=proposed["label"] or None),
        gr.update(choices=["", *table.columns], value=proposed["pair"]),
        f"{len(table.rows):,} rows, {len(table.columns)} columns.",
    )


def on_file(limits: data.Limits) -> Callable:
    kinds = {kind.task: kind for kind in FINETUNE}

    def uploaded(file: str | None, task: str = FINETUNE[0].task):
        """After an upload or a switch of task: what the file holds; a classifier's columns (UI only)."""
        describe = kinds.get(task, FINETUNE[0]).describe
        if describe is not None:  # a kind without columns: only its counts
            if not file:
                return gr.skip(), gr.skip(), gr.skip(), gr.skip()
            try:
                return gr.skip(), gr.skip(), gr.skip(), describe(file, limits)
            except InputError as error:
                return gr.skip(), gr.skip(), gr.skip(), f"⚠️ {error}"
        if not file:
            empty = gr.update(choices=[], value=None)
            return empty, empty, gr.update(choices=[""], value=""), ""
        return columns_of(file, limits)

    return uploaded


def upload_inputs() -> tuple[gr.Radio, gr.Markdown, dict[str, Component]]:
    """The Task switch, the file, what it holds and a classifier's columns."""
    choices = [(kind.choice, kind.task) for kind in FINETUNE]
    task = gr.Radio(choices, value=FINETUNE[0].task, label="Task", elem_id="finetune-task")
    file = gr.File(
        label="Training file (classify: CSV, TSV, JSONL; tag: CoNLL, JSONL; QA: SQuAD JSON, JSONL)",
        file_types=FILE_TYPES,
        type="filepath",
        elem_id="finetune-file",
    )
    info = gr.Markdown(elem_id="finetune-info")
    text = gr.Dropdown([], label="Text column", allow_custom_value=True, elem_id="finetune-text")
    label = gr.Dropdown([], label="Label column", allow_custom_value=True, elem_id="finetune-label")
    pair = gr.Dropdown(
        [""],
        value="",
        label="Second text column (optional)",
        allow_custom_value=True,
        elem_id="finetune-pair",
    )
    return task, info, {"file": file, **dict(zip(COLUMNS, (text, label, pair), strict=True))}


def base_settings(service: ModelService, defaults: Mapping[str, object]) -> dict[str, Component]:
    """The base model (the registry's, then this session's own bases, refreshed when opened) and the mode."""
    registry = [(slot.display_name, name) for name, slot in config.REGISTRY.items()]
    base = gr.Dropdown(
        registry,
        value=defaults["base"],
        label="Base model (its encoder starts the training)",
        elem_id="finetune-base",
    )
    mode = gr.Radio(
        list(data.MODES),
        value=defaults["mode"],
        label="Mode",
        info="full: every weight trains; head: the encoder is frozen (fast, weaker)",
        elem_id="finetune-mode",
    )

    def refresh(request: gr.Request):
        """The base list, with this session's own models that can be a base (UI only)."""
        return gr.update(choices=registry + own_models(service, request, BASE_KINDS))

    base.focus(refresh, None, base, api_visibility="private", queue=False)
    return {"base": base, "mode": mode}


def layout(service: ModelService, plans: Mapping[str, PlanFunction]) -> Page:
    """The components, in page order; the settings start at the first kind's defaults."""
    first = FINETUNE[0].task
    start: dict[str, object] = {}  # each setting at the first kind's default, or the first that takes it
    for plan in reversed(plans.values()):
        start |= parameter_defaults(plan)
    with gr.Row():
        with gr.Column(scale=2):
            task, info, controls = upload_inputs()
        with gr.Column(scale=3):
            controls |= base_settings(service, start)
            controls |= training.settings_block("finetune", LAYOUT, start)
            with gr.Row():
                buttons = {
                    kind.task: gr.Button(
                        kind.button, variant="primary", visible=kind.task == first, elem_id=kind.button_id
                    )
                    for kind in FINETUNE
                }
                cancel = gr.Button("Cancel", variant="stop", elem_id="finetune-cancel")
    status = gr.Markdown(elem_classes="electra-summary", elem_id="finetune-status")
    loss = gr.LinePlot(x="step", y="loss", title="Training loss", height=260, elem_id="finetune-loss")
    shown, metrics = {}, {}
    for kind in FINETUNE:
        shown[kind.task], metrics[kind.task] = kind.views()
    download = gr.File(label="The trained model (zip: a standard checkpoint)", elem_id="finetune-download")
    with gr.Accordion("JSON", open=False):
        json = gr.JSON(label="JSON", elem_id="finetune-json")
    outputs = {task: [status, loss, *views, download, json] for task, views in metrics.items()}
    return Page(task, info, controls, buttons, cancel, shown, outputs)


def task_switch(page: Page, plans: Mapping[str, PlanFunction]) -> tuple[Callable, list[Component]]:
    """The Task switch's handler and outputs: the chosen kind's inputs, button and views shown, and
    the settings whose defaults differ between kinds set to its own."""
    taken = [set(parameter_names(plan)) for plan in plans.values()]
    some = {name: c for name, c in page.controls.items() if not all(name in names for names in taken)}
    shared = set.intersection(*taken)
    defaults = [parameter_defaults(plan) for plan in plans.values()]
    varying = [n for n in page.controls if n in shared and len({repr(d.get(n)) for d in defaults}) > 1]
    kinds = {kind.task: kind for kind in FINETUNE}

    def on_task(chosen: str):
        """Show the chosen task's inputs, button and result views, with its default settings (UI only)."""
        task = kinds.get(chosen, FINETUNE[0]).task
        names, defaults = parameter_names(plans[task]), parameter_defaults(plans[task])
        updates: dict[Component, object] = {c: gr.update(visible=name in names) for name, c in some.items()}
        for kind in FINETUNE:
            updates[page.buttons[kind.task]] = gr.update(visible=kind.task == task)
            updates[page.shown[kind.task]] = gr.update(visible=kind.task == task)
        updates |= {page.controls[name]: defaults[name] for name in varying}
        return updates

    outputs = [*some.values(), *page.buttons.values(), *page.shown.values()]
    return on_task, outputs + [page.controls[name] for name in varying]


def build(service: ModelService) -> BuiltTab:
    trainings = jobs.trainings_for(service)
    trainer = training.Training(trainings, Cancels())
    limits = data.Limits.from_environ(service.environ)
    plans = {kind.task: kind.plan(service, limits) for kind in FINETUNE}
    gr.Markdown(intro(limits, trainings, trainings.store.ttl))
    page = layout(service, plans)
    endpoints = {kind.task: trainer.endpoint(plans[kind.task], kind.results) for kind in FINETUNE}
    first: FinetuneKind = FINETUNE[0]
    tab = BuiltTab(
        training.inputs_for(plans[first.task], page.controls), page.outputs[first.task], endpoints[first.task]
    )
    file = page.controls["file"]
    for changed in (file.change, page.task.change):
        changed(
            on_file(limits),
            [file, page.task],
            [*(page.controls[name] for name in COLUMNS), page.info],
            api_visibility="private",
            queue=False,
        )
    on_task, switched = task_switch(page, plans)
    page.task.change(on_task, page.task, switched, api_visibility="private", queue=False)
    for kind in FINETUNE:
        inputs = training.inputs_for(plans[kind.task], page.controls)
        training.wire_run(
            page.buttons[kind.task], endpoints[kind.task], inputs, page.outputs[kind.task], kind.api_name
        )
    # documented (README): Fine-tune's Cancel stops every run of the session, an Adapt run's too
    doc = "Cancel the training this browser session started (it stops within 5 seconds)."
    cancel = trainer.cancel_handler(tuple(KINDS), doc)
    training.wire_cancel(page.cancel, cancel, "finetune_cancel")
    return tab


TAB = Tab("finetune", TITLE, build)
