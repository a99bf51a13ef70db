"""The "Adapt" tab (``/adapt``): continue ELECTRA's own pre-training on your texts, watch both
losses fall, and see the discriminator get better at spotting replacements in them.

The file handling is :mod:`electra_demo.adapt.data`; the objective and the training child are
:mod:`electra_demo.adapt`; the queue, the child process, cancel and the store are Fine-tune's
(:mod:`electra_demo.finetune.jobs`); the endpoint maker, the settings block and the Cancel button
are the training tabs' (:mod:`electra_demo.page.tabs.training`). This module is the endpoint's
signature and plan, the layout and what the run shows. No deep link: a run needs an uploaded file.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import gradio as gr
from gradio.components import Component

from electra_demo.adapt import data, views
from electra_demo.adapt.plan import make_plan
from electra_demo.checks import InputError
from electra_demo.finetune import jobs
from electra_demo.finetune.data import TrainingPlan
from electra_demo.finetune.jobs import Run, Trainings
from electra_demo.page.cancels import Cancels
from electra_demo.page.tabs import training
from electra_demo.page.tabs.common import BuiltTab, Tab
from electra_demo.page.tabs.training import Knob, PlanFunction, Results, parameter_defaults, upload_of, zip_of
from electra_demo.service import ModelService
from electra_demo.trained.kinds import KINDS

TITLE = "Adapt"  # the tab's title, as the kinds table names it


def intro(limits: data.Limits, trainings: Trainings) -> str:
    return (
        "ELECTRA's discriminator learnt English by spotting the words a small generator put in place of "
        "masked ones. **Adapt** continues exactly that pre-training on *your* texts (domain-adaptive "
        "pre-training: clinical notes, contracts, code comments...): upload them (**TXT** one text a line, "
        "**CSV**/**TSV** with a header row, or **JSONL**; UTF-8), then **Adapt**. A share of the texts is "
        "held out and corrupted once by the original generator; the original and the adapted "
        "discriminator are scored on the same corrupted texts, so before and after compare fairly. "
        "The adapted pair can be used at once in Replaced tokens, Corrupt & detect and as a Fine-tune "
        "base.\n\n"
        f"**Limits:** {limits.describe()}; a run trains for at most {trainings.time_limit:g} seconds "
        f"(then it stops and keeps what it learnt); it shares Fine-tune's queue "
        f"({trainings.concurrency} run at a time, at most {trainings.queue_size} waiting)."
    )


def file_column(limits: data.Limits) -> Callable:
    def column(file: str | None):
        """After an upload: offer its columns, the largest-text one proposed (UI only)."""
        if not file:
            return gr.update(choices=[""], value=""), ""
        try:
            table = data.read_upload(file, os.path.basename(file), limits)
        except InputError as error:
            return gr.update(choices=[""], value=""), f"⚠️ {error}"
        return (
            gr.update(choices=table.columns, value=data.propose_column(table)),
            f"{len(table.rows):,} rows, {len(table.columns)} columns.",
        )

    return column


def training_views(history: list[dict[str, Any]], first: bool) -> tuple:
    """While it trains: the loss curves; the figures and highlights cleared once; no zip yet."""
    # a colour plot keeps the colours of its first frame: none until both parts are there
    parts = views.parts_frame(history) if history else None
    cleared = ([], [], [], []) if first else (gr.skip(),) * 4
    return views.loss_frame(history), parts, *cleared, None


def finished_views(run: Run, ttl_hours: float) -> tuple:
    """At the end: the summary, the curves, the figures before and after, one held-out text, the zip."""
    result = views.public(run.outcome())
    example = views.heldout_example(run.zip_path, run.model_id) if result["model_id"] else None
    return (
        views.summary(result, ttl_hours),
        views.loss_frame(result["history"]),
        views.parts_frame(result["history"]),
        views.figure_rows(result),
        views.truth_highlights(example),
        views.score_highlights(example, "before"),
        views.score_highlights(example, "after"),
        zip_of(run),
        result,
    )


RESULTS = Results(views.status_line, training_views, finished_views)


def adapt_plan(service: ModelService, limits: data.Limits) -> PlanFunction:
    def adapt(
        file: dict | str | None,
        text_column: str = "",
        steps: int = 300,
        learning_rate: float = 5e-5,
        batch_size: int = 16,
        max_length: int = 128,
        mask_fraction: float = 0.15,
        eval_fraction: float = 0.1,
        seed: int = 42,
    ) -> TrainingPlan:
        """Continue ELECTRA's pre-training (replaced-token detection) of the generator and the
        discriminator on your texts; stream the losses, then the held-out figures before and after.

        Args:
            file: A TXT (one text a line), CSV/TSV (header row) or JSONL file in UTF-8; at least 20 texts.
            text_column: The column of texts in a CSV, TSV or JSONL file ("": the one with the most text).
            steps: Training steps (1 to 5,000), each on batch_size texts.
            learning_rate: The learning rate (1e-7 to 0.01), linear decay after 10% warm-up.
            batch_size: Texts per step (1 to 64).
            max_length: Tokens per text, longer texts cut (8 to 512).
            mask_fraction: Share of each text's tokens masked for the generator (0.01 to 0.5).
            eval_fraction: Share of the texts held out for the figures (0.05 to 0.5; at least one).
            seed: The seed of the split, the masking, the sampling and the shuffling.

        Returns:
            A status line, the loss curves, the figures before and after, one held-out text (its
            replacements, the original and the adapted discriminator's scores), both checkpoints as
            a zip, and JSON {"model_id" ("ad-..."), "rows": {"train", "eval", "dropped"}, "settings",
            "before": {"rtd_auc", "rtd_f1", "mlm_accuracy"}, "after": {same}, "history": [{"step",
            "loss", "mlm_loss", "rtd_loss"}], "seconds", "stopped": "completed" | "cancelled" |
            "time_limit"}. While it waits or trains, the JSON is {"status", ...} with the queue
            position or the step, loss, mlm_loss, rtd_loss, elapsed and remaining seconds.
        """
        path, name = upload_of(file, "a TXT, CSV, TSV or JSONL file of texts")
        settings = data.check_settings(
            steps, learning_rate, batch_size, max_length, mask_fraction, eval_fraction, seed
        )
        base, generator = service.resolve("discriminator"), service.resolve("generator")
        return make_plan(path, name, text_column, settings, base, generator, limits)

    return adapt


LAYOUT: training.Layout = (
    (
        Knob("steps", "Steps", "steps", data.STEPS, 1),
        training.LEARNING_RATE,
        training.batch_size(data.BATCH_SIZE),
    ),
    (
        training.max_length(data.MAX_LENGTH),
        Knob("mask_fraction", "Masked (mask_fraction)", "mask", data.MASK_FRACTION, 0.01),
        training.eval_fraction(data.EVAL_FRACTION),
        training.SEED,
    ),
)


def result_views() -> list[Component]:
    status = gr.Markdown(elem_classes="electra-summary", elem_id="adapt-status")
    with gr.Row():
        loss = gr.LinePlot(
            x="step", y="loss", title="Joint loss (MLM + 50 × RTD)", height=240, elem_id="adapt-loss"
        )
        parts = gr.LinePlot(
            x="step", y="loss", color="part", title="The two losses", height=240, elem_id="adapt-parts"
        )
    figures = gr.Dataframe(
        headers=views.FIGURE_COLUMNS,
        label="Held-out figures: before and after adapting (same corrupted texts)",
        interactive=False,
        elem_id="adapt-figures",
    )
    truth = gr.HighlightedText(
        label="A held-out text, corrupted by the original generator (replaced tokens marked)",
        color_map={views.REPLACED: "red"},
        elem_id="adapt-truth",
    )
    with gr.Row():
        before = gr.HighlightedText(
            label="The original discriminator: red by P(replaced)", show_legend=False, elem_id="adapt-before"
        )
        after = gr.HighlightedText(
            label="The adapted discriminator: red by P(replaced)", show_legend=False, elem_id="adapt-after"
        )
    download = gr.File(label="Both checkpoints and the model card (zip)", elem_id="adapt-download")
    with gr.Accordion("JSON", open=False):
        json = gr.JSON(label="JSON", elem_id="adapt-json")
    return [status, loss, parts, figures, truth, before, after, download, json]


def build(service: ModelService) -> BuiltTab:
    trainings = jobs.trainings_for(service)
    limits = data.Limits.from_environ(service.environ)
    trainer = training.Training(trainings, Cancels())
    plan = adapt_plan(service, limits)
    defaults = parameter_defaults(plan)
    gr.Markdown(intro(limits, trainings))
    with gr.Row():
        with gr.Column(scale=2):
            file = gr.File(
                label="Your texts (TXT, CSV, TSV or JSONL)",
                file_types=list(data.FORMATS),
                type="filepath",
                elem_id="adapt-file",
            )
            info = gr.Markdown(elem_id="adapt-info")
            text = gr.Dropdown(
                [""],
                value=defaults["text_column"],
                label="Text column",
                allow_custom_value=True,
                elem_id="adapt-text",
            )
        with gr.Column(scale=3):
            controls = {
                "file": file,
                "text_column": text,
                **training.settings_block("adapt", LAYOUT, defaults),
            }
            with gr.Row():
                run_button = gr.Button("Adapt", variant="primary", elem_id="adapt-run")
                cancel_button = gr.Button("Cancel", variant="stop", elem_id="adapt-cancel")
    outputs = result_views()
    tab = BuiltTab(training.inputs_for(plan, controls), outputs, trainer.endpoint(plan, RESULTS))
    file.change(file_column(limits), file, [text, info], api_visibility="private", queue=False)
    training.wire_run(run_button, tab.handler, tab.inputs, tab.outputs, "adapt")
    mine = tuple(task for task, kind in KINDS.items() if kind.tab == TITLE)  # its Fine-tune runs go on
    doc = "Cancel the adapting run this browser session started (it stops within 5 seconds)."
    training.wire_cancel(cancel_button, trainer.cancel_handler(mine, doc), "adapt_cancel")
    return tab


TAB = Tab("adapt", TITLE, build)
