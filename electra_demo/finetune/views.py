"""A training run as the Fine-tune tab shows it: status lines, the loss curve, the metric tables.

Component values only (Markdown, pandas frames, rows), no gradio. The Markdown holds numbers,
ids and registry names, never the visitor's text or labels: those reach the page only through
components that render text as text (the table, the plots, the JSON).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

LOSS_COLUMNS = ["step", "loss"]
CONFUSION_COLUMNS = ["true label", "predicted", "rows"]
CLASS_COLUMNS = ["label", "precision", "recall", "F1", "support"]


def duration(value: float) -> str:
    """Seconds as the progress lines show them: "42 s", or "2.5 min" from two minutes on."""
    value = max(0.0, float(value))
    return f"{value:.0f} s" if value < 120 else f"{value / 60:.1f} min"


def status_line(shown: Mapping[str, Any]) -> str:
    """The run's state now: its place in the queue, or its progress."""
    status = shown.get("status")
    if status == "queued":
        running = shown.get("running", 0)
        return (
            f"⏳ **Waiting in the training queue: position {shown.get('position', '?')}** "
            f"({running} training now; one run trains at a time, the next starts when it ends)."
        )
    if status == "starting":
        return "⚙️ Starting the training process and loading the base model..."
    if status == "training" and "step" in shown:
        return (
            f"🏋️ **Training: step {shown['step']} of {shown.get('max_steps', '?')}** "
            f"(epoch {shown['epoch']:.2f}), loss {shown['loss']:.4f} · {duration(shown['elapsed'])} "
            f"elapsed, about {duration(shown['remaining'])} left."
        )
    if status == "training":
        return f"🏋️ Training: {shown.get('max_steps', '?')} steps to go..."
    if status == "evaluating":
        return "📏 Evaluating on the held-out rows..."
    if status == "saving":
        return "💾 Saving the model and its zip..."
    return "..."


def progress_fraction(shown: Mapping[str, Any]) -> tuple[int, int] | None:
    """``(step, max_steps)`` for the progress bar, while it trains."""
    if "step" in shown and shown.get("max_steps"):
        return int(shown["step"]), int(shown["max_steps"])
    return None


def loss_frame(history: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Step and loss, numeric even when empty (the plot takes its axes' types from the frame)."""
    return pd.DataFrame(
        {
            "step": pd.Series([int(h["step"]) for h in history], dtype="int64"),
            "loss": pd.Series([float(h["loss"]) for h in history], dtype="float64"),
        }
    )


def class_rows(metrics: Mapping[str, Any] | None) -> list[list[Any]]:
    if not metrics:
        return []
    return [
        [label, round(m["precision"], 4), round(m["recall"], 4), round(m["f1"], 4), m["support"]]
        for label, m in metrics["per_class"].items()
    ]


def confusion_frame(metrics: Mapping[str, Any] | None) -> pd.DataFrame:
    """One row per (true, predicted) pair, for stacked bars: each true label's held-out rows,
    split by what the model predicted."""
    labels = metrics["confusion"]["labels"] if metrics else []
    matrix = metrics["confusion"]["matrix"] if metrics else []
    pairs = [(t, p) for t in range(len(labels)) for p in range(len(labels))]
    return pd.DataFrame(
        {
            "true label": pd.Series([labels[t] for t, _ in pairs], dtype="string"),
            "predicted": pd.Series([labels[p] for _, p in pairs], dtype="string"),
            "rows": pd.Series([int(matrix[t][p]) for t, p in pairs], dtype="int64"),
        }
    )


def _outcome(result: Mapping[str, Any], sizes: str) -> tuple[str, str | None]:
    """How the run ended (trained, time limit): its first words; with the whole line instead when
    it was cancelled."""
    steps = result["history"][-1]["step"] if result["history"] else 0
    took = duration(result["seconds"])
    if result["stopped"] == "cancelled":
        return "", f"⏹️ **Cancelled** after {steps} steps ({took}); no model was kept. {sizes}."
    head = (
        "⏱️ **Stopped at the time limit**: the model is what it had learnt by then"
        if result["stopped"] == "time_limit"
        else "✅ **Trained**"
    )
    return f"{head} (`{result['model_id']}`, {steps} steps in {took}).", None


def summary(result: Mapping[str, Any], ttl_hours: float) -> str:
    """What the run ended with, and how to use the model."""
    rows = result["rows"]
    sizes = f"{rows['train']:,} rows trained on, {rows['eval']:,} held out, {rows['dropped']:,} dropped"
    head, cancelled = _outcome(result, sizes)
    if cancelled:
        return cancelled
    metrics = result["metrics"]
    return (
        f"{head} "
        f"Held-out accuracy **{metrics['accuracy']:.3f}**, macro-F1 **{metrics['macro_f1']:.3f}** "
        f"({sizes}).\n\n"
        f"Use it now: it is in the head lists of the Classify and Batch tabs (for you only, in this "
        f"browser tab), and over the API as `head` in `/classify` or `model` in `/v1/classify` and "
        f"`/v1/embeddings`. The id is the key: the demo lists it to no one else. It is kept for "
        f"{ttl_hours:g} hours (fewer if many models are trained); download the zip to keep it."
    )


TYPE_COLUMNS = ["entity type", "precision", "recall", "F1", "support"]
QA_COLUMNS = ["questions", "exact match", "F1", "count"]


def type_rows(metrics: Mapping[str, Any] | None) -> list[list[Any]]:
    """A tagger's held-out figures per entity type, then all types together (micro average)."""
    if not metrics:
        return []
    rows = [
        [kind, round(m["precision"], 4), round(m["recall"], 4), round(m["f1"], 4), m["support"]]
        for kind, m in metrics["per_type"].items()
    ]
    support = sum(m["support"] for m in metrics["per_type"].values())
    figures = [round(metrics[k], 4) for k in ("precision", "recall", "f1")]
    return [*rows, ["all (micro average)", *figures, support]]


def qa_rows(metrics: Mapping[str, Any] | None) -> list[list[Any]]:
    """A reader's held-out exact match and F1: all questions, those with an answer, those without."""
    if not metrics:
        return []

    def shown(value: float | None) -> Any:
        return "" if value is None else round(value, 4)

    has, no = metrics["has_answer"], metrics["no_answer"]
    return [
        ["all", shown(metrics["exact"]), shown(metrics["f1"]), has["total"] + no["total"]],
        ["with an answer", shown(has["exact"]), shown(has["f1"]), has["total"]],
        ["without (no answer)", shown(no["exact"]), shown(no["exact"]), no["total"]],
    ]


USES = {
    "tag": (
        "the model list of the Entities tab and the Batch tab's head list (tag), and over the API as "
        "`model` in `/tag`, `/v1/tag` and `/v1/embeddings`, or `head` in `/batch`"
    ),
    "qa": (
        "the model list of the Question answering tab and the Batch tab's head list (answer), and "
        "over the API as `model` in `/answer`, `/v1/answer` and `/v1/embeddings`, `head` in `/batch`, "
        "or `task` in `/explain`"
    ),
}


def task_summary(result: Mapping[str, Any], ttl_hours: float) -> str:
    """What a tagging or QA run ended with, and how to use the model."""
    unit = "sentences" if result["task"] == "tag" else "questions"
    rows = result["rows"]
    sizes = f"{rows['train']:,} {unit} trained on, {rows['eval']:,} held out, {rows['dropped']:,} dropped"
    head, cancelled = _outcome(result, sizes)
    if cancelled:
        return cancelled
    m = result["metrics"]
    if result["task"] == "tag":
        figures = (
            f"Held-out entity F1 **{m['f1']:.3f}** (precision {m['precision']:.3f}, recall {m['recall']:.3f})"
        )
    else:
        figures = f"Held-out exact match **{m['exact']:.3f}**, F1 **{m['f1']:.3f}**"
    return (
        f"{head} {figures} ({sizes}).\n\n"
        f"Use it now: it is in {USES[result['task']]} (for you only, in this browser tab). The id is "
        f"the key: the demo lists it to no one else. It is kept for {ttl_hours:g} hours (fewer if many "
        f"models are trained); download the zip to keep it."
    )
