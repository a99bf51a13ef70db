"""The model card (README.md) that goes with a trained model (pure: text from the run's facts)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _figure(value: Any) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def model_card(result: Mapping[str, Any], facts: Mapping[str, Any]) -> str:
    """README.md for a trained model: its base, data sizes, settings, held-out metrics, the date
    and that it was trained in this demo.

    ``result`` is the run's JSON (model_id, base, mode, labels, rows, settings, metrics, seconds,
    stopped); ``facts`` adds ``base_name``, ``base_id``, ``base_license``, ``date`` (UTC, ISO 8601),
    ``file`` (the uploaded file's name) and ``random_base`` (the base had random weights).
    """
    rows = result["rows"]
    metrics = result.get("metrics") or {}
    labels = list(result["labels"])
    settings = dict(result["settings"])
    lines = [
        "---",
        "library_name: transformers",
        "pipeline_tag: text-classification",
        f"license: {facts.get('base_license') or 'other'}",
        "tags: [electra, text-classification, electra-demo]",
        "---",
        "",
        f"# {result['model_id']}",
        "",
        f"A text classifier fine-tuned in the ELECTRA demo (the Fine-tune tab) on {facts['date']} (UTC), "
        f"from **{facts['base_name']}** (`{facts['base_id']}`), training "
        + ("every weight (full mode)." if result["mode"] == "full" else "the head only (encoder frozen)."),
        "",
        f"- Labels ({len(labels)}): " + ", ".join(f"`{label}`" for label in labels),
        f"- Data: `{facts['file']}`: {rows['train']:,} rows for training, {rows['eval']:,} held out "
        f"(stratified by label, seed {settings.get('seed')}), {rows['dropped']:,} dropped "
        "(an empty text or label).",
        f"- Training: {result['seconds']:.1f} s; it ended: {result['stopped']}"
        + (
            " (the time limit stopped it; the model is what it had learnt by then)."
            if result["stopped"] == "time_limit"
            else "."
        ),
        "- Settings: " + ", ".join(f"{key} {value}" for key, value in settings.items()),
        "",
        "## Held-out metrics",
        "",
        f"Accuracy {_figure(metrics.get('accuracy'))}, macro-F1 {_figure(metrics.get('macro_f1'))}, "
        f"on the {rows['eval']:,} held-out rows only.",
        "",
        "| label | precision | recall | F1 | support |",
        "|---|---|---|---|---|",
    ]
    for label, figures in (metrics.get("per_class") or {}).items():
        lines.append(
            f"| {label} | {_figure(figures['precision'])} | {_figure(figures['recall'])} | "
            f"{_figure(figures['f1'])} | {figures['support']} |"
        )
    if facts.get("random_base"):
        lines += ["", "Note: the base checkpoint had random weights (the demo's test checkpoints)."]
    lines += [
        "",
        "## Use",
        "",
        "```python",
        "from transformers import AutoModelForSequenceClassification, AutoTokenizer",
        "",
        f'tokenizer = AutoTokenizer.from_pretrained("{result["model_id"]}")  # this folder',
        f'model = AutoModelForSequenceClassification.from_pretrained("{result["model_id"]}")',
        "```",
        "",
    ]
    return "\n".join(lines)
