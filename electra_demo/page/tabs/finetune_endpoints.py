"""The Fine-tune tab's three endpoints, one a kind: ``/finetune`` (a classifier), ``/finetune_tag``
(an entity tagger) and ``/finetune_qa`` (a reader), on one queue, child process, store and Cancel.

Each kind is a row of :data:`FINETUNE`: its plan function (the endpoint's public signature and
docstring; it checks the settings and reads the file), how its run is shown (its metric views and
:class:`~electra_demo.page.tabs.training.Results`), its Train button and what its file holds. The
files are read by :mod:`electra_demo.finetune.data`, :mod:`~electra_demo.finetune.tag_data` and
:mod:`~electra_demo.finetune.qa_data`; the tab around them is :mod:`electra_demo.page.tabs.finetune`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import gradio as gr
from gradio.components import Component

from electra_demo import config
from electra_demo.finetune import data, qa_data, tag_data, views
from electra_demo.finetune.data import Limits, TrainingPlan
from electra_demo.finetune.jobs import Run
from electra_demo.page.tabs.training import PlanFunction, Results, upload_of, zip_of
from electra_demo.service import ModelService
from electra_demo.trained.kinds import KINDS

TITLE = "Fine-tune"  # the tab's title, as the kinds table names it
TAG_FILE = "a CoNLL-style (.conll, .txt, .tsv) or JSONL file of tagged sentences"
QA_FILE = "a SQuAD JSON (.json) or JSONL file of questions, contexts and answers"
FILE_TYPES = sorted({*data.FORMATS, *tag_data.FORMATS, *qa_data.FORMATS})
BASES = tuple(config.REGISTRY)  # a base is a registry slot (or a model adapted in the Adapt tab)


def classify_plan(service: ModelService, limits: Limits) -> PlanFunction:
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
    ) -> TrainingPlan:
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
        path, name = upload_of(file)
        settings = data.check_settings(
            base, mode, epochs, learning_rate, batch_size, max_length, eval_fraction, seed, BASES
        )
        base_slot = service.resolve(settings.base)
        return data.make_plan(path, name, text_column, label_column, pair_column, settings, base_slot, limits)

    return finetune


def tag_plan(service: ModelService, limits: Limits) -> PlanFunction:
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
    ) -> TrainingPlan:
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
        path, name = upload_of(file, TAG_FILE)
        settings = data.check_settings(
            base, mode, epochs, learning_rate, batch_size, max_length, eval_fraction, seed, BASES
        )
        return tag_data.make_plan(path, name, settings, service.resolve(settings.base), limits)

    return finetune_tag


def qa_plan(service: ModelService, limits: Limits) -> PlanFunction:
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
    ) -> TrainingPlan:
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
        path, name = upload_of(file, QA_FILE)
        checked = data.check_settings(
            base, mode, epochs, learning_rate, batch_size, max_length, eval_fraction, seed, BASES
        )
        settings = qa_data.check_stride(checked, doc_stride)
        return qa_data.make_plan(path, name, settings, service.resolve(settings.base), limits)

    return finetune_qa


def finetune_results(
    blank: tuple, final: Callable[[Any], tuple], summary: Callable[[Mapping[str, Any], float], str]
) -> Results:
    """How a Fine-tune run shows: the loss curve, then its metric outputs (``blank`` while it
    trains, ``final(metrics)`` at the end), the zip and the JSON."""
    skips = (gr.skip(),) * (len(blank) + 1)

    def training(history: list[dict[str, Any]], first: bool) -> tuple:
        return views.loss_frame(history), *((*blank, None) if first else skips)

    def finished(run: Run, ttl_hours: float) -> tuple:
        result = run.outcome()
        history = views.loss_frame(result["history"])
        return summary(result, ttl_hours), history, *final(result["metrics"]), zip_of(run), result

    return Results(views.status_line, training, finished)


def describe_tagging(file: str, limits: Limits) -> str:
    """What an uploaded tagging file holds, in counts."""
    ex = tag_data.read_tagging(file, os.path.basename(file), limits)
    return f"{len(ex.sentences):,} sentences ({ex.shape}, {ex.scheme} tags), {len(ex.types)} entity types."


def describe_questions(file: str, limits: Limits) -> str:
    """What an uploaded QA file holds, in counts."""
    questions = qa_data.read_qa(file, os.path.basename(file), limits)
    answered = sum(1 for q in questions.questions if q.answers)
    return (
        f"{len(questions.questions):,} questions ({answered:,} with an answer), "
        f"{questions.dropped:,} dropped."
    )


def class_views() -> tuple[Component, list[Component]]:
    with gr.Row() as row:
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
    return row, [table, confusion]


def table_view(
    headers: list[str], label: str, elem_id: str
) -> Callable[[], tuple[Component, list[Component]]]:
    def make() -> tuple[Component, list[Component]]:
        table = gr.Dataframe(headers=headers, label=label, interactive=False, visible=False, elem_id=elem_id)
        return table, [table]

    return make


@dataclass(frozen=True)
class FinetuneKind:
    """How the Fine-tune tab offers one kind of :data:`~electra_demo.trained.kinds.KINDS`."""

    task: str  # its key in KINDS
    choice: str  # its name in the Task switch
    api_name: str
    plan: Callable[[ModelService, Limits], PlanFunction]
    results: Results
    button: str  # its Train button's text
    button_id: str
    views: Callable[[], tuple[Component, list[Component]]]  # -> (the block shown for it, its outputs)
    describe: Callable[[str, Limits], str] | None = None  # what its file holds (None: the columns say)


FINETUNE: tuple[FinetuneKind, ...] = (  # the Task switch's order; the page opens on the first
    FinetuneKind(
        "classify",
        "Classify",
        "finetune",
        classify_plan,
        finetune_results(
            (views.class_rows(None), None),
            lambda m: (views.class_rows(m), views.confusion_frame(m)),
            views.summary,
        ),
        "Train",
        "finetune-run",
        class_views,
    ),
    FinetuneKind(
        "tag",
        "Tag entities",
        "finetune_tag",
        tag_plan,
        finetune_results((views.type_rows(None),), lambda m: (views.type_rows(m),), views.task_summary),
        "Train the tagger",
        "finetune-tag-run",
        table_view(
            views.TYPE_COLUMNS,
            "Held-out metrics per entity type (entity level: exact type and boundaries)",
            "finetune-types",
        ),
        describe_tagging,
    ),
    FinetuneKind(
        "qa",
        "Answer questions",
        "finetune_qa",
        qa_plan,
        finetune_results((views.qa_rows(None),), lambda m: (views.qa_rows(m),), views.task_summary),
        "Train the reader",
        "finetune-qa-run",
        table_view(views.QA_COLUMNS, "Held-out exact match and F1 (SQuAD 2.0)", "finetune-qa-metrics"),
        describe_questions,
    ),
)
if {kind.task for kind in FINETUNE} != {task for task, kind in KINDS.items() if kind.tab == TITLE}:
    raise ValueError(
        f"the Fine-tune tab offers {[k.task for k in FINETUNE]}; the kinds table trains others here"
    )
