"""Batch runs: run one task on every row of an uploaded table.

The jobs of the Batch tab, without gradio: :func:`plan_job` checks the task, its settings and the
columns of a :class:`~electra_demo.text.tables.Table` before any model runs, and :func:`run_job` sends
the rows through the :class:`~electra_demo.service.ModelService` (a few at a time, so its
micro-batcher merges them) and gives one record per row. Reading the uploaded file and writing
the records as CSV and JSONL is :mod:`electra_demo.text.tables`.

A row that fails (empty text, a text over the service's limits, ...) gets an ``error`` field
instead of results; the other rows still come out.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from electra_demo import config
from electra_demo.checks import InputError, check_choice, check_int, check_probability
from electra_demo.service import ModelService, ModelUnavailable
from electra_demo.text.tables import Table, quote_name
from electra_demo.trained import kinds
from electra_demo.trained.kinds import is_model_id
from electra_demo.trained.require import Resolver, require
from electra_demo.trained.store import UnknownModel

log = logging.getLogger(__name__)

WORKERS = 4  # rows sent to the service at once, so its micro-batcher can merge them
CHUNK_ROWS = 16  # rows between two progress reports
TASKS = ("detect", "classify", "tag", "answer", "rerank")

Progress = Callable[[int, int], Any]


@dataclass
class Job:
    """A checked batch run: the task, its settings, and each row's inputs under the API's names."""

    task: str
    inputs: list[dict[str, str]]  # per row: {"text": ...}, {"question": ..., "context": ...}, ...
    columns: dict[str, str]  # input field -> the file's column it comes from
    options: dict[str, Any] = field(default_factory=dict)  # threshold, head, aggregation, top_k, model

    @property
    def total(self) -> int:
        return len(self.inputs)


def task_slot(task: str, head: str) -> str:
    """The model slot a task runs on (for classify, the head's; for tag and answer, a trained
    model's id given as the head, else the registry's)."""
    if task in ("tag", "answer") and is_model_id(head):
        return head
    return {"detect": "discriminator", "tag": "ner", "answer": "qa", "rerank": config.RERANK}.get(task, head)


# ---- planning -----------------------------------------------------------------------------
def plan_job(
    table: Table,
    task: str,
    text_column: str | None = None,
    pair_column: str | None = None,
    question_column: str | None = None,
    context_column: str | None = None,
    head: str | None = None,
    aggregation: str = config.DEFAULT_AGGREGATION,
    threshold: float = config.DEFAULT_THRESHOLD,
    top_k: int = config.QA_TOP_K,
    models: Resolver | None = None,
) -> Job:
    """Check the task, its settings and its columns; raise InputError before any model runs.

    Columns left out (``None`` or ``""``) default to the column named like the API's parameter
    (``text``, ``text_pair``, ``question``, ``context``; for rerank, ``query`` and ``document``,
    chosen with ``question_column`` and ``context_column``); the text column also defaults to the
    file's only column. A rerank row is one (query, document) pair, scored alone. Settings of
    other tasks are ignored. A trained model's id as ``head`` is looked up in ``models`` (the
    service; without it such a head is unknown) and must be of a kind the task's batch serves: a
    classifier for classify, a tagger for tag, a reader for answer (for tag and answer, a registry
    head name is another task's setting, ignored).
    """
    task = check_choice(task, TASKS, what="task")
    if not table.rows:
        raise InputError("The table has no rows to run.")
    columns = _input_columns(table, task, text_column, question_column, context_column)
    options: dict[str, Any] = {}
    if task == "answer":
        options["top_k"] = check_int(top_k, 1, config.QA_MAX_TOP_K, what="number of answers (top_k)")
    if task in ("tag", "answer") and is_model_id(head):
        _trained(models, str(head), task)
        options["model"] = head
    if task == "detect":
        options["threshold"] = check_probability(threshold, what="threshold")
    elif task == "tag":
        options["aggregation"] = check_choice(aggregation, config.AGGREGATIONS, what="aggregation")
    elif task == "classify":
        slot = _classify_slot(models, head)
        options["head"] = head
        if slot.pair:
            columns["text_pair"] = _column(table, pair_column, "text_pair", "the second texts")
        elif pair_column:
            pair_heads = [n for n in config.CLASSIFY_HEADS if config.REGISTRY[n].pair]
            raise InputError(
                f"The {head} head reads one text; a column of second texts is only for: "
                f"{', '.join(pair_heads)}."
            )
    inputs = [{key: row[column] for key, column in columns.items()} for row in table.rows]
    return Job(task=task, inputs=inputs, columns=columns, options=options)


def _input_columns(
    table: Table, task: str, text_column: str | None, question_column: str | None, context_column: str | None
) -> dict[str, str]:
    """Input field -> the file's column: question and context for answer, query and document for
    rerank (picked with the question and context pickers), else the text."""
    if task == "rerank":
        return {
            "query": _column(table, question_column, "query", "the queries"),
            "document": _column(table, context_column, "document", "the documents"),
        }
    if task == "answer":
        return {
            "question": _column(table, question_column, "question", "the questions"),
            "context": _column(table, context_column, "context", "the contexts"),
        }
    only = table.columns[0] if len(table.columns) == 1 else None
    return {"text": _column(table, text_column, "text", "the texts", fallback=only)}


def _trained(models: Resolver | None, model_id: str, task: str) -> config.Slot:
    """A trained model's slot, if ``models`` has it and its kind serves this task's batch."""
    if models is None:
        raise UnknownModel(model_id)
    where = f"/batch ({task})"
    return models.resolve(require(models, model_id, kinds.serving(where), where)).slot


def _classify_slot(models: Resolver | None, head: str | None) -> config.Slot:
    """The classify head's slot: a registry head, or a classifier trained here."""
    if not head:
        raise InputError(f"Choose a classification head: one of {', '.join(config.CLASSIFY_HEADS)}.")
    if is_model_id(head):
        return _trained(models, head, "classify")
    return config.REGISTRY[check_choice(head, config.CLASSIFY_HEADS, what="head")]


def _column(table: Table, chosen: str | None, default: str, what: str, fallback: str | None = None) -> str:
    available = ", ".join(quote_name(c) for c in table.columns)
    if chosen:
        if chosen not in table.columns:
            raise InputError(f"The file has no column {quote_name(chosen)}; its columns are: {available}.")
        return chosen
    if default in table.columns:
        return default
    if fallback is not None:
        return fallback
    raise InputError(
        f"Choose the column that holds {what}: the file has no column named {default!r}; "
        f"its columns are: {available}."
    )


# ---- running ------------------------------------------------------------------------------
def run_job(
    job: Job, service: ModelService, progress: Progress | None = None, *, workers: int | None = None
) -> list[dict]:
    """One record per row, in row order: ``{"row": n, <inputs>, **result.to_json()}``, or
    ``{"row": n, <inputs>, "error": message}`` for a row that failed.

    Rows go to the service ``workers`` at a time (default :data:`WORKERS`; one, in this thread,
    where the service does not batch, as on ZeroGPU) in chunks of :data:`CHUNK_ROWS`;
    ``progress(done, total)`` is called before the first chunk and after each one.
    """
    if workers is None:
        workers = WORKERS if getattr(service, "batching", True) else 1
    total = job.total
    if progress is not None:
        progress(0, total)
    try:
        service.load(_slot(job))  # once: a model that cannot load fails every row the same way
    except ModelUnavailable as error:
        log.warning("batch %s: model unavailable: %s", job.task, error)
        records = [{"row": i + 1, **inputs, "error": str(error)} for i, inputs in enumerate(job.inputs)]
        if progress is not None:
            progress(total, total)
        return records

    def one(i: int) -> dict:
        return run_row(job, service, i)

    records: list[dict] = []
    pool = (
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="electra-batch") if workers > 1 else None
    )
    try:
        for start in range(0, total, CHUNK_ROWS):
            chunk = range(start, min(start + CHUNK_ROWS, total))
            records.extend(pool.map(one, chunk) if pool is not None else map(one, chunk))
            if progress is not None:
                progress(len(records), total)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    return records


def run_row(job: Job, service: ModelService, index: int) -> dict:
    """Row ``index`` (0-based) of the job as a record; its failure becomes an ``error`` field."""
    inputs = job.inputs[index]
    record: dict[str, Any] = {"row": index + 1, **inputs}
    try:
        result = _call(job, service, inputs)
    except (InputError, ModelUnavailable) as error:
        record["error"] = str(error)
    except Exception:
        log.exception("batch %s: row %d failed", job.task, index + 1)
        record["error"] = "Something went wrong while running the model on this row; the error was logged."
    else:
        record.update(result.to_json())
    return record


def _call(job: Job, service: ModelService, inputs: Mapping[str, str]):
    options = job.options
    if job.task == "detect":
        return service.detect(inputs["text"], options["threshold"])
    if job.task == "classify":
        return service.classify(options["head"], inputs["text"], inputs.get("text_pair", ""))
    if job.task == "tag":
        return service.tag(inputs["text"], options["aggregation"], options.get("model", ""))
    if job.task == "rerank":
        return service.rerank(inputs["query"], [inputs["document"]]).pair()
    return service.answer(
        inputs["question"], inputs["context"], top_k=options["top_k"], model=options.get("model", "")
    )


def _slot(job: Job) -> str:
    return task_slot(job.task, job.options.get("model") or job.options.get("head", ""))
