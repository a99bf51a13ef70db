"""The "Batch" tab (``/batch``): a whole CSV, JSONL or TXT file through one task, results to download.

Reading and writing files is :mod:`electra_demo.text.tables`; planning and running the job is
:mod:`electra_demo.batch`. This module is the upload, the column pickers and the endpoint.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable

import gradio as gr

from electra_demo import batch as jobs
from electra_demo import config
from electra_demo.checks import InputError
from electra_demo.page import rendering
from electra_demo.page.tabs.common import BuiltTab, Tab, own_models, user_errors
from electra_demo.service import ModelService
from electra_demo.text import tables
from electra_demo.trained import kinds

INTRO = (
    "Upload a **CSV** (with a header row), **JSONL** or **TXT** file (one text per line): "
    f"up to {tables.MAX_ROWS:,} rows and {tables.MAX_FILE_BYTES / 1e6:g} MB. "
    "Pick a task and the columns it reads; results download as CSV and JSONL with the "
    "API's fields, one row per input row (a row that fails gets an `error`; the "
    "others still come out)."
)


def head_choices(service: ModelService, request: gr.Request | None) -> list[tuple[str, str]]:
    """The registry's heads, then the models this browser session fine-tuned (nobody else's),
    each labelled with its kind: classifiers for classify, taggers for tag, readers for answer."""
    trained = [kind for task in jobs.TASKS for kind in kinds.serving(f"/batch ({task})")]
    return [(n, n) for n in config.CLASSIFY_HEADS] + own_models(service, request, trained, show_kind=True)


def batch_columns(file: str | None):
    """After an upload: offer the file's columns in the column pickers (UI only)."""
    if not file:
        return [gr.update(choices=[], value=None)] * 4 + [""]
    try:
        table = tables.read_table(file, os.path.basename(file))
    except InputError as error:
        return [gr.update(choices=[], value=None)] * 4 + [f"⚠️ {error}"]
    columns = table.columns

    def pick(*names: str) -> str | None:
        return next((c for c in columns if c.lower() in names), None)

    def longest() -> str | None:  # otherwise the column with the longest texts
        lengths = {c: sum(len(row.get(c, "")) for row in table.rows) for c in columns}
        return max(columns, key=lambda c: lengths[c]) if columns else None

    text = pick("text", "sentence", "premise", "review") or longest()
    return [
        gr.update(choices=columns, value=text),
        gr.update(choices=["", *columns], value=pick("text_pair", "hypothesis") or ""),
        gr.update(choices=columns, value=pick("question", "query")),
        gr.update(choices=columns, value=pick("context", "document", "passage")),
        f"{len(table.rows)} rows, columns: {', '.join(columns)}.",
    ]


def endpoint(service: ModelService) -> Callable:
    @user_errors
    def batch(
        file: str | None,
        task: str = "detect",
        text_column: str | None = None,
        pair_column: str | None = None,
        question_column: str | None = None,
        context_column: str | None = None,
        head: str = config.CLASSIFY_HEADS[0],
        aggregation: str = config.DEFAULT_AGGREGATION,
        threshold: float = config.DEFAULT_THRESHOLD,
        top_k: int = config.QA_TOP_K,
        progress=gr.Progress(),
    ):
        """Run a whole file through one task; download the results as CSV and JSONL.

        Args:
            file: A CSV (with a header), JSONL or TXT (one text per line) file: up to 500 rows, 2 MB.
            task: One of detect, classify, tag, answer, rerank.
            text_column: The column holding the texts (detect, classify, tag); default "text".
            pair_column: For classify with the nli head, the column holding the hypotheses.
            question_column: For answer, the column of questions; for rerank, of queries (default "query").
            context_column: For answer, the column of contexts; for rerank, of documents (default "document").
            head: sentiment, emotion, nli or a fine-tuned model's id (ft-...: classify, tag or answer).
            aggregation: For tag: none, simple, first, average or max.
            threshold: For detect: the probability above which a token counts as replaced.
            top_k: For answer: how many answers per row.

        Returns:
            A summary, a preview of the first rows, and the results as CSV and JSONL files with the
            same fields as the API's JSON, one row per input row (a failed row has an "error").
        """
        if not file:
            raise InputError("Please upload a CSV, JSONL or TXT file first.")
        table = tables.read_table(file, os.path.basename(file))
        job = jobs.plan_job(
            table,
            task,
            text_column=text_column or None,
            pair_column=pair_column or None,
            question_column=question_column or None,
            context_column=context_column or None,
            head=head,
            aggregation=aggregation,
            threshold=threshold,
            top_k=top_k,
            models=service,  # a trained model's id as head: looked up, its kind checked
        )
        records = jobs.run_job(job, service, lambda done, total: progress((done, total), unit="rows"))
        directory = tempfile.mkdtemp(prefix="electra-batch-")
        csv_path, jsonl_path = tables.write_outputs(records, directory, task=task)
        failed = sum(1 for r in records if r.get("error"))
        return (
            rendering.batch_summary(task, len(records), failed, service.card(jobs.task_slot(task, head))),
            rendering.batch_preview(records),
            [str(csv_path), str(jsonl_path)],
        )

    return batch


def _choices() -> tuple[gr.Radio, list[gr.Dropdown], list[gr.components.Component]]:
    """The task, its four column pickers and the per-task settings (head, aggregation, threshold,
    answers)."""
    task = gr.Radio(list(jobs.TASKS), value="detect", label="Task", elem_id="batch-task")
    with gr.Row():
        text = gr.Dropdown([], label="Text column", allow_custom_value=True)
        pair = gr.Dropdown([], label="Second text column (nli)", allow_custom_value=True)
    with gr.Row():
        question = gr.Dropdown(
            [], label="Question column (answer) or query (rerank)", allow_custom_value=True
        )
        context = gr.Dropdown(
            [], label="Context column (answer) or document (rerank)", allow_custom_value=True
        )
    with gr.Row():
        head = gr.Dropdown(
            list(config.CLASSIFY_HEADS),
            value=config.CLASSIFY_HEADS[0],
            label="Head (classify), or your fine-tuned model (tag, answer)",
            allow_custom_value=True,  # a fine-tuned head's id (checked by the job's plan)
            elem_id="batch-head",
        )
        aggregation = gr.Dropdown(
            list(config.AGGREGATIONS), value=config.DEFAULT_AGGREGATION, label="Aggregation (tag)"
        )
        threshold = gr.Slider(0, 1, value=config.DEFAULT_THRESHOLD, step=0.01, label="Threshold (detect)")
        top_k = gr.Slider(1, config.QA_MAX_TOP_K, value=config.QA_TOP_K, step=1, label="Answers (answer)")
    return task, [text, pair, question, context], [head, aggregation, threshold, top_k]


def build(service: ModelService) -> BuiltTab:
    gr.Markdown(INTRO)
    with gr.Row():
        with gr.Column(scale=2):
            file = gr.File(
                label="File",
                file_types=[".csv", ".jsonl", ".txt", ".tsv", ".ndjson"],
                type="filepath",
                elem_id="batch-file",
            )
            info = gr.Markdown(elem_id="batch-info")
        with gr.Column(scale=3):
            task, columns, settings = _choices()
            button = gr.Button("Run the file", variant="primary", elem_id="batch-run")
    summary = gr.Markdown(elem_classes="electra-summary", elem_id="batch-summary")
    files = gr.File(label="Results (CSV and JSONL)", file_count="multiple", elem_id="batch-results")
    preview = gr.Dataframe(label="First rows", interactive=False, elem_id="batch-preview")
    # the model status is not refreshed after a batch run (no run_buttons), as before the split
    tab = BuiltTab([file, task, *columns, *settings], [summary, preview, files], endpoint(service))
    file.change(batch_columns, file, [*columns, info], api_visibility="private", queue=False)

    def heads(request: gr.Request):
        """The head list, with this session's fine-tuned heads (UI only)."""
        return gr.update(choices=head_choices(service, request))

    settings[0].focus(heads, None, settings[0], api_visibility="private", queue=False)
    button.click(
        tab.handler,
        tab.inputs,
        tab.outputs,
        api_name="batch",
        concurrency_limit=1,  # one file at a time, so a big job cannot crowd out the tabs
    )
    return tab


TAB = Tab("batch", "Batch", build)
