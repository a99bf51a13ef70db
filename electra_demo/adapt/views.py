"""An Adapt run as the tab shows it: status lines, the loss curves, before/after, one held-out text.

Component values only (Markdown, pandas frames, highlight segments), no gradio. The Markdown holds
numbers, ids and registry names, never the visitor's text: that reaches the page only through
components that render text as text (the highlighted texts, the JSON).
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from electra_demo.adapt.card import FIGURES
from electra_demo.finetune import views as finetune_views

PUBLIC = ("model_id", "rows", "settings", "before", "after", "history", "seconds", "stopped")
HISTORY = ("step", "loss", "mlm_loss", "rtd_loss")
PARTS = {"mlm_loss": "generator (MLM)", "rtd_loss": "discriminator (RTD)"}
FIGURE_COLUMNS = ["figure", "before", "after", "change"]
REPLACED = "replaced"


def status_line(shown: Mapping[str, Any]) -> str:
    """The run's state now: its place in the queue, or its progress."""
    if shown.get("status") == "training" and "step" in shown:
        return (
            f"🏋️ **Adapting: step {shown['step']} of {shown.get('max_steps', '?')}**, loss "
            f"{shown['loss']:.4f} (MLM {shown.get('mlm_loss', 0):.4f}, RTD {shown.get('rtd_loss', 0):.4f}) · "
            f"{finetune_views.duration(shown['elapsed'])} elapsed, about "
            f"{finetune_views.duration(shown['remaining'])} left."
        )
    if shown.get("status") == "evaluating":
        return "📏 Scoring the held-out texts (corrupted once by the original generator)..."
    return finetune_views.status_line(shown)


def public(result: Mapping[str, Any]) -> dict[str, Any]:
    """The run's JSON as the endpoint gives it (a cancelled run's too: no figures, no model)."""
    out = {key: result.get(key) for key in PUBLIC}
    out["history"] = [{k: h[k] for k in HISTORY if k in h} for h in result.get("history") or []]
    return out


def loss_frame(history: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Step and joint loss (numeric even when empty: the plot takes its axes' types from it)."""
    return finetune_views.loss_frame(history)


def parts_frame(history: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """The two losses, one row per step and part (the colour of the plot)."""
    rows = [(int(h["step"]), float(h[key]), name) for h in history for key, name in PARTS.items() if key in h]
    return pd.DataFrame(
        {
            "step": pd.Series([r[0] for r in rows], dtype="int64"),
            "loss": pd.Series([r[1] for r in rows], dtype="float64"),
            "part": pd.Series([r[2] for r in rows], dtype="string"),
        }
    )


def figure_rows(result: Mapping[str, Any] | None) -> list[list[Any]]:
    """Each held-out figure before and after, and the change."""
    if not result or not result.get("before") or not result.get("after"):
        return []
    rows = []
    for key, name in FIGURES:
        before, after = result["before"].get(key), result["after"].get(key)
        change = None if before is None or after is None else round(after - before, 4)
        rows.append([name, _round(before), _round(after), change])
    return rows


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def summary(result: Mapping[str, Any], ttl_hours: float) -> str:
    """What the run ended with, and how to use the model."""
    rows = result["rows"]
    sizes = (
        f"{rows['train']:,} texts trained on, {rows['eval']:,} held out, {rows['dropped']:,} empty dropped"
    )
    steps = result["history"][-1]["step"] if result["history"] else 0
    took = finetune_views.duration(result["seconds"])
    if result["stopped"] == "cancelled":
        return f"⏹️ **Cancelled** after {steps} steps ({took}); no model was kept. {sizes}."
    head = (
        "⏱️ **Stopped at the time limit**: the models are what they had learnt by then"
        if result["stopped"] == "time_limit"
        else "✅ **Adapted**"
    )
    before, after = result["before"]["rtd_auc"], result["after"]["rtd_auc"]
    auc = (
        f"Held-out replaced-token AUC **{before:.3f} → {after:.3f}**"
        if before is not None and after is not None
        else "Held-out replaced-token AUC undefined (no replacement among the held-out tokens)"
    )
    return (
        f"{head} (`{result['model_id']}`, {steps} steps in {took}). {auc} ({sizes}).\n\n"
        f"Use it now: give the id as `model` in the Replaced tokens and Corrupt & detect endpoints "
        f"(`/detect`, `/corrupt`, `/v1/detect`, `/v1/embeddings`) or as `base` in Fine-tune. The id is "
        f"the key: the demo lists it to no one else. It is kept for {ttl_hours:g} hours (fewer if many "
        f"models are trained); download the zip to keep both checkpoints."
    )


def heldout_example(zip_path: str | Path | None, model_id: str) -> dict[str, Any] | None:
    """The first held-out text with a replacement, from the run's zip (``heldout.jsonl``)."""
    if not zip_path or not Path(zip_path).is_file():
        return None
    with zipfile.ZipFile(zip_path) as archive, archive.open(f"{model_id}/heldout.jsonl") as handle:
        records = [json.loads(line) for line in handle]
    return next((r for r in records if any(r["replaced"])), records[0] if records else None)


def _pieces(record: Mapping[str, Any]) -> list[tuple[int, str]]:
    """Each scored token's index and its text as shown (a word's continuation joined on)."""
    out = []
    for i, (token, scored) in enumerate(zip(record["tokens"], record["scored"], strict=True)):
        if scored:
            out.append((i, token[2:] if token.startswith("##") else (" " if out else "") + token))
    return out


def truth_highlights(record: Mapping[str, Any] | None) -> list[tuple[str, str | None]]:
    """The corrupted held-out text, its replaced tokens marked."""
    if not record:
        return []
    return [(text, REPLACED if record["replaced"][i] else None) for i, text in _pieces(record)]


def score_highlights(record: Mapping[str, Any] | None, which: str) -> list[tuple[str, float]]:
    """The same text shaded by one discriminator's P(replaced) (``which``: "before" or "after")."""
    if not record:
        return []
    return [(text, round(float(record[which][i]), 4)) for i, text in _pieces(record)]
