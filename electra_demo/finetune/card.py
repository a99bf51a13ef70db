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
    about = [
        f"- Labels ({len(labels)}): " + ", ".join(f"`{label}`" for label in labels),
        f"- Data: `{facts['file']}`: {rows['train']:,} rows for training, {rows['eval']:,} held out "
        f"(stratified by label, seed {result['settings'].get('seed')}), {rows['dropped']:,} dropped "
        "(an empty text or label).",
    ]
    cut_short = " (the time limit stopped it; the model is what it had learnt by then)."
    lines = _head(result, facts, "text-classification", "A text classifier", about, cut_short)
    lines += [
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
    return "\n".join(lines + _use(result, facts, "AutoModelForSequenceClassification"))


def _head(
    result: Mapping[str, Any],
    facts: Mapping[str, Any],
    pipeline_tag: str,
    what: str,
    about: list[str],
    cut_short: str = " (the time limit stopped it).",
) -> list[str]:
    """The card's front matter and first lines: ``about`` lists the labels and the data;
    ``cut_short`` ends the training line when the time limit stopped the run."""
    settings = dict(result["settings"])
    return [
        "---",
        "library_name: transformers",
        f"pipeline_tag: {pipeline_tag}",
        f"license: {facts.get('base_license') or 'other'}",
        f"tags: [electra, {pipeline_tag}, electra-demo]",
        "---",
        "",
        f"# {result['model_id']}",
        "",
        f"{what} fine-tuned in the ELECTRA demo (the Fine-tune tab) on {facts['date']} (UTC), "
        f"from **{facts['base_name']}** (`{facts['base_id']}`), training "
        + ("every weight (full mode)." if result["mode"] == "full" else "the head only (encoder frozen)."),
        "",
        *about,
        f"- Training: {result['seconds']:.1f} s; it ended: {result['stopped']}"
        + (cut_short if result["stopped"] == "time_limit" else "."),
        "- Settings: " + ", ".join(f"{key} {value}" for key, value in settings.items()),
        "",
    ]


def _data(result: Mapping[str, Any], facts: Mapping[str, Any]) -> str:
    """The tagging and QA cards' data line: sentences or questions, and how they were held out."""
    rows = result["rows"]
    unit = "sentences" if result["task"] == "tag" else "questions"
    held = "by sentence" if result["task"] == "tag" else "by context: no context on both sides"
    return (
        f"- Data: `{facts['file']}`: {rows['train']:,} {unit} for training, {rows['eval']:,} held out "
        f"({held}; seed {result['settings'].get('seed')}), {rows['dropped']:,} dropped."
    )


def _use(result: Mapping[str, Any], facts: Mapping[str, Any], auto_class: str) -> list[str]:
    lines = ["", "Note: the base checkpoint had random weights (the demo's test checkpoints)."]
    lines = lines if facts.get("random_base") else []
    return [
        *lines,
        "",
        "## Use",
        "",
        "```python",
        f"from transformers import {auto_class}, AutoTokenizer",
        "",
        f'tokenizer = AutoTokenizer.from_pretrained("{result["model_id"]}")  # this folder',
        f'model = {auto_class}.from_pretrained("{result["model_id"]}")',
        "```",
        "",
    ]


def tagging_card(result: Mapping[str, Any], facts: Mapping[str, Any]) -> str:
    """README.md for a trained entity tagger (``result``'s metrics: entity level, seqeval's)."""
    metrics = result.get("metrics") or {}
    types = sorted({label[2:] for label in result["labels"] if label != "O"})
    kinds = f"- Entity types ({len(types)}): " + ", ".join(f"`{t}`" for t in types) + " (IOB2 tags)"
    lines = _head(result, facts, "token-classification", "An entity tagger", [kinds, _data(result, facts)])
    lines += [
        "## Held-out metrics",
        "",
        f"Entity-level precision {_figure(metrics.get('precision'))}, "
        f"recall {_figure(metrics.get('recall'))}, F1 {_figure(metrics.get('f1'))} "
        "(exact type and boundaries, as seqeval's default mode); token "
        f"accuracy {_figure(metrics.get('token_accuracy'))}.",
        "",
        "| type | precision | recall | F1 | support |",
        "|---|---|---|---|---|",
    ]
    for kind, m in (metrics.get("per_type") or {}).items():
        figures = " | ".join(_figure(m[key]) for key in ("precision", "recall", "f1"))
        lines.append(f"| {kind} | {figures} | {m['support']} |")
    return "\n".join(lines + _use(result, facts, "AutoModelForTokenClassification"))


def qa_card(result: Mapping[str, Any], facts: Mapping[str, Any]) -> str:
    """README.md for a trained reader (``result``'s metrics: SQuAD 2.0 EM and F1, as fractions)."""
    metrics = result.get("metrics") or {}
    has, no = metrics.get("has_answer") or {}, metrics.get("no_answer") or {}
    lines = _head(
        result, facts, "question-answering", "An extractive question-answering reader", [_data(result, facts)]
    )
    lines += [
        "## Held-out metrics",
        "",
        "SQuAD 2.0 exact match and F1 (the demo's copy of the official script), as fractions, decoded "
        "as the demo's Question answering tab decodes.",
        "",
        "| questions | exact | F1 | total |",
        "|---|---|---|---|",
        f"| all | {_figure(metrics.get('exact'))} | {_figure(metrics.get('f1'))} | "
        f"{result['rows']['eval']} |",
        f"| with an answer | {_figure(has.get('exact'))} | {_figure(has.get('f1'))} | "
        f"{has.get('total', 0)} |",
        f"| without | {_figure(no.get('exact'))} | | {no.get('total', 0)} |",
    ]
    return "\n".join(lines + _use(result, facts, "AutoModelForQuestionAnswering"))
