"""Evaluate the demo's question-answering slot on a SQuAD 2.0-format file.

    python -m electra_demo.evaluate_qa dev-v2.0.json [--limit N] [--predictions-out P.json]

Every question goes through :meth:`electra_demo.service.ModelService.answer`, exactly as the
demo answers it; the prediction is "" when the service says "no answer", else its best span.
Exact match and F1 come from :mod:`electra_demo.text.squad_metrics` (the official SQuAD 2.0
definitions). Point the slot at a local checkpoint with ``ELECTRA_DEMO_QA=/path/to/checkpoint``.
The written predictions file ({id: text}) is what the official evaluate-v2.0.py reads.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from electra_demo import config
from electra_demo.checks import InputError
from electra_demo.text.squad_metrics import evaluate, iter_questions

REFERENCE_NOTE = (
    "Reference: with the default weights (deepset/electra-base-squad2) on the whole official SQuAD 2.0 "
    "dev set, the model card reports EM 77.3 / F1 81.35."
)


class AnswerService(Protocol):
    def answer(self, question: str, context: str, **options: Any) -> Any: ...


@dataclass
class EvaluationResult:
    metrics: dict[str, Any]  # squad_metrics.evaluate's dict, over the evaluated questions only
    predictions: dict[str, str]  # question id -> predicted text, "" for no answer
    evaluated: int  # questions evaluated (all of them, or the first --limit)
    available: int  # questions in the file
    refused: dict[str, str] = field(default_factory=dict)  # id -> the service's InputError message


def limit_dataset(dataset: Sequence[Mapping[str, Any]], limit: int | None) -> list[dict[str, Any]]:
    """The dataset cut to its first ``limit`` questions in file order (all when ``limit`` is None)."""
    if limit is None:
        return [dict(article) for article in dataset]
    if limit < 1:
        raise ValueError("limit must be at least 1")
    left = limit
    articles: list[dict[str, Any]] = []
    for article in dataset:
        if left == 0:
            break
        paragraphs = []
        for paragraph in article["paragraphs"]:
            if left == 0:
                break
            qas = list(paragraph["qas"])[:left]
            left -= len(qas)
            if qas:
                paragraphs.append({**paragraph, "qas": qas})
        if paragraphs:
            articles.append({**article, "paragraphs": paragraphs})
    return articles


def predict(service: AnswerService, question: str, context: str, options: Mapping[str, Any]) -> str:
    """The service's answer as SQuAD predicts: "" for no answer, else the best span's text."""
    result = service.answer(question, context, **options).to_json()
    if result["no_answer"] or not result["answers"]:
        return ""
    return result["answers"][0]["text"]


def run_evaluation(
    dataset: Sequence[Mapping[str, Any]],
    service: AnswerService,
    limit: int | None = None,
    *,
    options: Mapping[str, Any] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> EvaluationResult:
    """Answer every question (or the first ``limit``) with ``service`` and score the answers.

    ``options`` are passed to ``service.answer`` as keywords (top_k, max_seq_len, ...). A question
    the service refuses with an :class:`InputError` (too long, say) is predicted as "" and listed
    in ``refused``; any other error stops the run. ``progress(done, total)`` is called after each.
    """
    available = sum(1 for _ in iter_questions(dataset))
    subset = limit_dataset(dataset, limit)
    questions = list(iter_questions(subset))
    options = dict(options or {})
    predictions: dict[str, str] = {}
    refused: dict[str, str] = {}
    for done, (qa, context) in enumerate(questions, start=1):
        try:
            predictions[qa["id"]] = predict(service, qa["question"], context, options)
        except InputError as error:
            predictions[qa["id"]] = ""
            refused[qa["id"]] = str(error)
        if progress is not None:
            progress(done, len(questions))
    metrics = evaluate(subset, predictions)
    return EvaluationResult(metrics, predictions, len(questions), available, refused)


def format_table(result: EvaluationResult) -> str:
    """EM and F1 overall, on answerable and on unanswerable questions, as a small text table."""
    m = result.metrics
    rows = [("overall", ""), ("has answer", "HasAns_"), ("no answer", "NoAns_")]
    lines = [f"{'':<12}{'EM':>8}{'F1':>8}{'questions':>11}"]
    for label, prefix in rows:
        exact, f1, total = m[f"{prefix}exact"], m[f"{prefix}f1"], m[f"{prefix}total"]
        em_cell = "-" if exact is None else f"{exact:.2f}"
        f1_cell = "-" if f1 is None else f"{f1:.2f}"
        lines.append(f"{label:<12}{em_cell:>8}{f1_cell:>8}{total:>11}")
    lines.append(f"Evaluated {result.evaluated} of {result.available} questions.")
    if result.refused:
        lines.append(f"{len(result.refused)} refused by the service, counted as no answer:")
        lines.extend(f"  {qid}: {message}" for qid, message in result.refused.items())
    return "\n".join(lines)


def load_dataset(path: Path) -> list[dict[str, Any]]:
    """The "data" list of a SQuAD-format JSON file."""
    with path.open(encoding="utf-8") as handle:
        document = json.load(handle)
    if not isinstance(document, dict) or not isinstance(document.get("data"), list):
        raise ValueError(f"{path} is not a SQuAD-format file (no top-level 'data' list).")
    return document["data"]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m electra_demo.evaluate_qa",
        description="SQuAD 2.0 exact match and F1 of the demo's question-answering slot.",
    )
    parser.add_argument("file", type=Path, help="a SQuAD 2.0-format JSON file (e.g. dev-v2.0.json)")
    parser.add_argument("--limit", type=int, help="evaluate only the first N questions")
    parser.add_argument("--predictions-out", type=Path, help="write {id: text} predictions here")
    parser.add_argument("--top-k", type=int, help="answers the service returns (the best one is scored)")
    parser.add_argument("--max-answer-len", type=int, help="longest answer span, in tokens")
    parser.add_argument("--max-seq-len", type=int, help="window size in tokens (default: the demo's)")
    parser.add_argument("--doc-stride", type=int, help="window overlap in tokens (default: the demo's)")
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    dataset = load_dataset(args.file)
    options = {
        key: value
        for key, value in (
            ("top_k", args.top_k),
            ("max_answer_len", args.max_answer_len),
            ("max_seq_len", args.max_seq_len),
            ("doc_stride", args.doc_stride),
        )
        if value is not None
    }
    from electra_demo.service import ModelService  # torch is loaded only when a model is really run

    started = time.monotonic()

    def progress(done: int, total: int) -> None:
        if done % 100 == 0 or done == total:
            print(f"  {done}/{total} questions, {time.monotonic() - started:.0f} s", file=sys.stderr)

    service = ModelService()
    result = run_evaluation(dataset, service, args.limit, options=options, progress=progress)
    if args.predictions_out is not None:
        text = json.dumps(result.predictions, indent=1, ensure_ascii=False) + "\n"
        args.predictions_out.write_text(text, encoding="utf-8")
    print(f"QA model: {config.resolve('qa').source}")
    if service.card("qa")["random_weights"]:
        print("Warning: this checkpoint has random weights (--tiny's): the scores below are meaningless.")
    print(format_table(result))
    print(REFERENCE_NOTE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
