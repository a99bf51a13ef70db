"""The Fine-tune tab's other two tasks: ``/finetune_tag`` (an entity tagger) and ``/finetune_qa`` (a
reader), on the same queue, child processes, store and Cancel as ``/finetune``.

The files are read by :mod:`electra_demo.finetune.tag_data` and :mod:`electra_demo.finetune.qa_data`;
the children are :mod:`electra_demo.finetune.worker_tag` and :mod:`electra_demo.finetune.worker_qa`.
This module is the two endpoints, the task switch's components (the stride, the result tables,
the Train buttons) and what the switch shows for each task.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import gradio as gr
from gradio.components import Component

from electra_demo import config
from electra_demo.checks import InputError
from electra_demo.finetune import data, qa_data, tag_data, views
from electra_demo.finetune.jobs import TrainingPlan, Trainings
from electra_demo.page.cancels import Cancels
from electra_demo.page.tabs.common import RAW, enqueued_at
from electra_demo.page.tabs.finetune_stream import Results, follow, stream_errors, upload_of
from electra_demo.service import ModelService

TASKS = [("Classify", "classify"), ("Tag entities", "tag"), ("Answer questions", "qa")]
DEFAULTS = {  # each task's endpoint defaults, set in the shared settings when the task is picked
    "classify": {"epochs": 3, "learning_rate": 5e-5, "max_length": 128},
    "tag": {"epochs": 3, "learning_rate": 5e-5, "max_length": 128},
    "qa": {"epochs": 2, "learning_rate": 3e-5, "max_length": 384},
}
TAG = Results((views.type_rows(None),), lambda m: (views.type_rows(m),), views.task_summary)
QA = Results((views.qa_rows(None),), lambda m: (views.qa_rows(m),), views.task_summary)
FILE_TYPES = sorted({*data.FORMATS, *tag_data.FORMATS, *qa_data.FORMATS})
TAG_FILE = "a CoNLL-style (.conll, .txt, .tsv) or JSONL file of tagged sentences"
QA_FILE = "a SQuAD JSON (.json) or JSONL file of questions, contexts and answers"


def _submit(
    trainings: Trainings,
    cancels: Cancels | None,
    plan: TrainingPlan,
    request: gr.Request | None,
    since: float,
):
    owner = (request.session_hash if request else "") or ""
    run = trainings.submit(plan, owner=owner)
    if cancels is not None and cancels.requested_since(owner, since):
        run.cancel()  # Cancel came while the file was read: the run ends "cancelled" at once
    return run


def tag_endpoint(
    service: ModelService, trainings: Trainings, limits: data.Limits, cancels: Cancels | None = None
) -> Callable:
    ttl_hours = trainings.store.ttl / 3600

    @stream_errors
    def finetune_tag(
        file: dict | str | None,
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
        """Fine-tune an ELECTRA entity tagger on tagged sentences; stream its progress, then its held-out
        entity-level metrics, its id and the trained model as a zip. Tags in IOB2, IOB1, BIOES or plain
        labels (IO) are normalised to IOB2; spans are [start, end, label] (or objects) over the text.

        Args:
            file: CoNLL text (`token tag` lines), JSONL {"tokens", "tags"} or {"text", "entities"}.
            base: The registry slot whose encoder starts the training (default "discriminator").
            mode: "full" (every weight trains) or "head" (the encoder is frozen: fast, weaker).
            epochs: Passes over the training sentences (1 to 20).
            learning_rate: The learning rate (1e-7 to 0.01).
            batch_size: Sentences (windows) per step (1 to 64).
            max_length: Tokens per window (8 to 512); longer sentences are read in overlapping windows.
            eval_fraction: Share of the sentences held out for the metrics (0.05 to 0.5).
            seed: The seed of the split, the new head's weights and the shuffling.

        Returns:
            A status line, the loss curve, the per-type table, the model as a zip, and JSON {"model_id",
            "base", "mode", "task": "tag", "labels" (the IOB2 tags), "rows": {"train", "eval", "dropped"}
            (sentences), "settings", "metrics": {"precision", "recall", "f1", "per_type": {type:
            {"precision", "recall", "f1", "support"}}, "token_accuracy"} (entity level, as seqeval),
            "history", "seconds", "stopped"}. While it waits or trains, the JSON is {"status", ...}.
        """
        since = enqueued_at()
        path, name = upload_of(file, TAG_FILE)
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
        plan = tag_data.make_plan(path, name, settings, service.resolve(settings.base), limits)
        run = _submit(trainings, cancels, plan, request, since)
        yield from follow(run, progress, ttl_hours, TAG)

    return finetune_tag


def qa_endpoint(
    service: ModelService, trainings: Trainings, limits: data.Limits, cancels: Cancels | None = None
) -> Callable:
    ttl_hours = trainings.store.ttl / 3600

    @stream_errors
    def finetune_qa(
        file: dict | str | None,
        base: str = "discriminator",
        mode: str = "full",
        epochs: int = 2,
        learning_rate: float = 3e-5,
        batch_size: int = 16,
        max_length: int = 384,
        doc_stride: int = 128,
        eval_fraction: float = 0.2,
        seed: int = 42,
        request: gr.Request = None,
        progress=gr.Progress(),
    ):
        """Fine-tune an ELECTRA reader (extractive question answering) on question/answer pairs; stream
        its progress, then its held-out SQuAD 2.0 exact match and F1, its id and the model as a zip.
        is_impossible is honoured and empty answer lists mean no answer; a question whose answer is not
        at its answer_start is dropped (counted in rows.dropped).

        Args:
            file: SQuAD JSON (v1.1 or v2.0) or JSONL {"question", "context", "answers"} (datasets' shape).
            base: The registry slot whose encoder starts the training (default "discriminator").
            mode: "full" (every weight trains) or "head" (the encoder is frozen: fast, weaker).
            epochs: Passes over the training questions (1 to 20).
            learning_rate: The learning rate (1e-7 to 0.01).
            batch_size: Windows per step (1 to 64).
            max_length: Tokens per window, question included (8 to 512).
            doc_stride: Tokens shared by neighbouring windows (0 to 256, at most half of max_length).
            eval_fraction: Share of the contexts held out (0.05 to 0.5): no context is on both sides.
            seed: The seed of the split, the new head's weights and the shuffling.

        Returns:
            A status line, the loss curve, the EM/F1 table, the model as a zip, and JSON {"model_id",
            "base", "mode", "task": "qa", "labels": [], "rows": {"train", "eval", "dropped"} (questions),
            "settings", "metrics": {"exact", "f1", "has_answer": {"exact", "f1", "total"}, "no_answer":
            {"exact", "total"}} (fractions), "history", "seconds", "stopped"}. While it waits or trains,
            the JSON is {"status", ...}.
        """
        since = enqueued_at()
        path, name = upload_of(file, QA_FILE)
        checked = data.check_settings(
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
        settings = qa_data.check_stride(checked, doc_stride)
        plan = qa_data.make_plan(path, name, settings, service.resolve(settings.base), limits)
        run = _submit(trainings, cancels, plan, request, since)
        yield from follow(run, progress, ttl_hours, QA)

    return finetune_qa


@dataclass
class Parts:
    """The task switch's own components (made in the tab's layout by :func:`stride`,
    :func:`buttons` and :func:`tables`)."""

    stride: Component
    tag_button: Component
    qa_button: Component
    tag_table: Component
    qa_table: Component


def stride() -> Component:
    return gr.Slider(
        *qa_data.DOC_STRIDE,
        value=128,
        step=8,
        label="Stride (doc_stride, QA)",
        visible=False,
        elem_id="finetune-stride",
    )


def buttons() -> tuple[Component, Component]:
    tag = gr.Button("Train the tagger", variant="primary", visible=False, elem_id="finetune-tag-run")
    qa = gr.Button("Train the reader", variant="primary", visible=False, elem_id="finetune-qa-run")
    return tag, qa


def tables() -> tuple[Component, Component]:
    tag = gr.Dataframe(
        headers=views.TYPE_COLUMNS,
        label="Held-out metrics per entity type (entity level: exact type and boundaries)",
        interactive=False,
        visible=False,
        elem_id="finetune-types",
    )
    qa = gr.Dataframe(
        headers=views.QA_COLUMNS,
        label="Held-out exact match and F1 (SQuAD 2.0)",
        interactive=False,
        visible=False,
        elem_id="finetune-qa-metrics",
    )
    return tag, qa


def file_summary(limits: data.Limits) -> Callable:
    """After an upload, for the tagging and QA tasks: what the file holds, in counts (UI only)."""

    def summary(file: str | None, task: str) -> str:
        if not file or task == "classify":
            return gr.skip()
        name = os.path.basename(file)
        try:
            if task == "tag":
                ex = tag_data.read_tagging(file, name, limits)
                kinds = len(ex.types)
                return (
                    f"{len(ex.sentences):,} sentences ({ex.shape}, {ex.scheme} tags), {kinds} entity types."
                )
            questions = qa_data.read_qa(file, name, limits)
            answered = sum(1 for q in questions.questions if q.answers)
            return (
                f"{len(questions.questions):,} questions ({answered:,} with an answer), "
                f"{questions.dropped:,} dropped."
            )
        except InputError as error:
            return f"⚠️ {error}"

    return summary


def wire(
    service: ModelService,
    trainings: Trainings,
    limits: data.Limits,
    cancels: Cancels,
    task: Component,
    file: Component,
    info: Component,
    columns: list[Component],
    settings: list[Component],
    classify: list[Component],
    parts: Parts,
    outputs: list[Component],
) -> None:
    """The task switch (what each task shows) and the two Train buttons. ``columns``: the
    classify-only column pickers; ``settings``: base, mode, epochs, rate, batch, length, fraction,
    seed; ``classify``: its Train button and its metric row; ``outputs``: status, loss, download, JSON."""
    epochs, rate, length = settings[2], settings[3], settings[5]
    switched = [*columns, parts.stride, *classify, parts.tag_button, parts.qa_button, parts.tag_table]
    switched += [parts.qa_table, epochs, rate, length]

    def on_task(chosen: str):
        """Show the chosen task's inputs, button and result views, with its default settings (UI only)."""
        shown = {"classify": chosen == "classify", "tag": chosen == "tag", "qa": chosen == "qa"}
        defaults = DEFAULTS.get(chosen, DEFAULTS["classify"])
        return [
            *(gr.update(visible=shown["classify"]) for _ in columns),
            gr.update(visible=shown["qa"]),
            *(gr.update(visible=shown["classify"]) for _ in classify),
            gr.update(visible=shown["tag"]),
            gr.update(visible=shown["qa"]),
            gr.update(visible=shown["tag"]),
            gr.update(visible=shown["qa"]),
            defaults["epochs"],
            defaults["learning_rate"],
            defaults["max_length"],
        ]

    task.change(on_task, task, switched, api_visibility="private", queue=False)
    summary = file_summary(limits)
    file.change(summary, [file, task], info, api_visibility="private", queue=False)
    task.change(summary, [file, task], info, api_visibility="private", queue=False)
    status, loss, download, json = outputs
    for button, handler, inputs, table, name in (
        (parts.tag_button, tag_endpoint, [file, *settings], parts.tag_table, "finetune_tag"),
        (
            parts.qa_button,
            qa_endpoint,
            [file, *settings[:6], parts.stride, *settings[6:]],
            parts.qa_table,
            "finetune_qa",
        ),
    ):
        button.click(
            handler(service, trainings, limits, cancels),
            inputs,
            [status, loss, table, download, json],
            api_name=name,
            concurrency_limit=None,  # every request reaches the training queue, which is bounded itself
            show_progress_on=[status],
            **RAW,
        )
