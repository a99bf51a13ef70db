"""The "Fine-tune" tab (``/finetune``, ``/finetune_tag``, ``/finetune_qa``): train a classifier, an
entity tagger or a reader on your own file, watch it learn, then use it in the other tabs and the
API, and download it. The task switch and the tagging and QA endpoints are
:mod:`electra_demo.page.tabs.finetune_tasks`.

The file handling and the split are :mod:`electra_demo.finetune.data`; the queue and the training
process are :mod:`electra_demo.finetune.jobs`; trained models live in
:mod:`electra_demo.trained.store`. This module is the upload, the settings, the streaming
endpoint and the Cancel button. No deep link: a run needs an uploaded file.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

import gradio as gr

from electra_demo import config
from electra_demo.checks import InputError
from electra_demo.finetune import data, jobs, views
from electra_demo.finetune.jobs import Trainings
from electra_demo.page.cancels import Cancels
from electra_demo.page.tabs import finetune_tasks
from electra_demo.page.tabs.common import RAW, BuiltTab, Tab, enqueued_at
from electra_demo.page.tabs.detect import offer_adapted_bases
from electra_demo.page.tabs.finetune_stream import follow, stream_errors, upload_of
from electra_demo.service import ModelService

log = logging.getLogger(__name__)


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


def file_columns(limits: data.Limits) -> Callable:
    def columns(file: str | None, task: str = "classify"):
        """After an upload (or a switch to Classify): offer its columns, the largest-text one
        proposed (UI only; the other tasks' files have no columns)."""
        empty = gr.update(choices=[], value=None)
        if task != "classify":
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        if not file:
            return empty, empty, gr.update(choices=[""], value=""), ""
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

    return columns


def endpoint(
    service: ModelService, trainings: Trainings, limits: data.Limits, cancels: Cancels | None = None
) -> Callable:
    ttl_hours = trainings.store.ttl / 3600

    @stream_errors
    def finetune(
        file: dict | str | None,
        text_column: str,
        label_column: str,
        pair_column: str = "",
        base: str = "discriminator",
        mode: str = "full",
        epochs: int = 3,
        learning_rate: float = 5e-5,
        batch_size: int = 16,
        max_length: int = 128,
        eval_fraction: float = 0.2,
        seed: int = 42,
        request: gr.Request = None,
        progress=gr.Progress(),
    ):
        """Fine-tune an ELECTRA classifier on a labelled file; stream its progress, then its held-out
        metrics, its id and the trained model as a zip.

        Args:
            file: A CSV (header row), TSV or JSONL file in UTF-8 with a column of texts and one of labels.
            text_column: The column holding the texts (whitespace around header names is ignored).
            label_column: The column holding the labels (read as strings; 2 to 50 classes, 2+ rows each).
            pair_column: Optionally, a column of second texts (sentence pairs); "" for none.
            base: The registry slot whose encoder starts the training (default "discriminator").
            mode: "full" (every weight trains) or "head" (the encoder is frozen: fast, weaker).
            epochs: Passes over the training rows (1 to 20).
            learning_rate: The learning rate (1e-7 to 0.01).
            batch_size: Rows per step (1 to 64).
            max_length: Tokens per row, longer rows cut (8 to 512).
            eval_fraction: Share of each class held out for the metrics (0.05 to 0.5; at least one row).
            seed: The seed of the split, the new head's weights and the shuffling.

        Returns:
            A status line, the loss curve, the per-class table, the confusion plot, the model as a zip,
            and JSON {"model_id", "base", "mode", "labels", "rows": {"train", "eval", "dropped"},
            "settings", "metrics": {"accuracy", "macro_f1", "per_class", "confusion"}, "history",
            "seconds", "stopped": "completed" | "cancelled" | "time_limit"}. While it waits or trains,
            the JSON is {"status", ...} with the queue position or the step, epoch, loss, elapsed and
            remaining seconds.
        """
        since = enqueued_at()  # a Cancel pressed from now on stops this run, even before it is queued
        path, name = upload_of(file)
        settings = data.check_settings(
            base,
            mode,
            epochs,
            learning_rate,
            batch_size,
            max_length,
            eval_fraction,
            seed,
            tuple(config.REGISTRY),
        )
        plan = jobs.make_plan(
            path,
            name,
            text_column,
            label_column,
            pair_column,
            settings,
            service.resolve(settings.base),
            limits,
        )
        owner = (request.session_hash if request else "") or ""
        run = trainings.submit(plan, owner=owner)
        if cancels is not None and cancels.requested_since(owner, since):
            run.cancel()  # Cancel came while the file was read: the run ends "cancelled" at once
        yield from follow(run, progress, ttl_hours)

    return finetune


def _settings() -> list[gr.components.Component]:
    base = gr.Dropdown(
        [(slot.display_name, name) for name, slot in config.REGISTRY.items()],
        value="discriminator",
        label="Base model (its encoder starts the training)",
        elem_id="finetune-base",
    )
    mode = gr.Radio(
        list(data.MODES),
        value="full",
        label="Mode",
        info="full: every weight trains; head: the encoder is frozen (fast, weaker)",
        elem_id="finetune-mode",
    )
    with gr.Row():
        epochs = gr.Slider(*data.EPOCHS, value=3, step=1, label="Epochs", elem_id="finetune-epochs")
        rate = gr.Number(5e-5, label="Learning rate", elem_id="finetune-learning-rate")
        batch = gr.Slider(*data.BATCH_SIZE, value=16, step=1, label="Batch size", elem_id="finetune-batch")
    with gr.Row():
        length = gr.Slider(
            *data.MAX_LENGTH, value=128, step=8, label="Max length (tokens)", elem_id="finetune-max-length"
        )
        fraction = gr.Slider(
            *data.EVAL_FRACTION,
            value=0.2,
            step=0.05,
            label="Held out (eval_fraction)",
            elem_id="finetune-fraction",
        )
        seed = gr.Number(42, precision=0, label="Seed", elem_id="finetune-seed")
    return [base, mode, epochs, rate, batch, length, fraction, seed]


def build(service: ModelService) -> BuiltTab:
    trainings = jobs.trainings_for(service)
    cancels = Cancels()
    limits = data.Limits.from_environ(service.environ)
    gr.Markdown(intro(limits, trainings, trainings.store.ttl))
    with gr.Row():
        with gr.Column(scale=2):
            task = gr.Radio(finetune_tasks.TASKS, value="classify", label="Task", elem_id="finetune-task")
            file = gr.File(
                label="Training file (classify: CSV, TSV, JSONL; tag: CoNLL, JSONL; QA: SQuAD JSON, JSONL)",
                file_types=finetune_tasks.FILE_TYPES,
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
        with gr.Column(scale=3):
            settings = _settings()
            offer_adapted_bases(service, settings[0])  # a model adapted in the Adapt tab is a base too
            stride = finetune_tasks.stride()
            with gr.Row():
                run_button = gr.Button("Train", variant="primary", elem_id="finetune-run")
                tag_button, qa_button = finetune_tasks.buttons()
                cancel_button = gr.Button("Cancel", variant="stop", elem_id="finetune-cancel")
    status = gr.Markdown(elem_classes="electra-summary", elem_id="finetune-status")
    loss = gr.LinePlot(x="step", y="loss", title="Training loss", height=260, elem_id="finetune-loss")
    with gr.Row() as classify_row:
        table = gr.Dataframe(
            headers=views.CLASS_COLUMNS,
            label="Held-out metrics per class",
            interactive=False,
            elem_id="finetune-classes",
        )
        confusion = gr.BarPlot(
            x="true label",
            y="rows",
            color="predicted",
            title="Confusion on the held-out rows (bars: true label, colours: predicted)",
            height=260,
            elem_id="finetune-confusion",
        )
    tag_table, qa_table = finetune_tasks.tables()
    download = gr.File(label="The trained model (zip: a standard checkpoint)", elem_id="finetune-download")
    with gr.Accordion("JSON", open=False):
        json = gr.JSON(label="JSON", elem_id="finetune-json")

    tab = BuiltTab(
        [file, text, label, pair, *settings],
        [status, loss, table, confusion, download, json],
        endpoint(service, trainings, limits, cancels),
    )
    for changed in (file.change, task.change):  # the tagging and QA files: finetune_tasks.wire
        changed(
            file_columns(limits),
            [file, task],
            [text, label, pair, info],
            api_visibility="private",
            queue=False,
        )
    run_button.click(
        tab.handler,
        tab.inputs,
        tab.outputs,
        api_name="finetune",
        concurrency_limit=None,  # every request reaches the training queue, which is bounded itself
        show_progress_on=[status],
        **RAW,
    )

    parts = finetune_tasks.Parts(stride, tag_button, qa_button, tag_table, qa_table)
    finetune_tasks.wire(
        service,
        trainings,
        limits,
        cancels,
        task,
        file,
        info,
        [text, label, pair],
        settings,
        [run_button, classify_row],
        parts,
        [status, loss, download, json],
    )

    def cancel(request: gr.Request):
        """Cancel the training this browser session started (it stops within 5 seconds)."""
        owner = (request.session_hash if request else "") or ""
        cancels.cancel(owner)  # also a run whose request is still being read
        trainings.cancel(owner)

    cancel_button.click(
        cancel, None, None, api_name="finetune_cancel", api_visibility="undocumented", queue=False
    )
    return tab


TAB = Tab("finetune", "Fine-tune", build)
