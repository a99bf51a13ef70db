"""The model card (README.md) of an adapted pair (pure: text from the run's facts)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

FIGURES = (
    ("rtd_auc", "replaced-token ROC AUC"),
    ("rtd_f1", "replaced-token F1 at 0.5"),
    ("mlm_accuracy", "generator MLM accuracy"),
)


def _figure(value: Any) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def model_card(result: Mapping[str, Any], facts: Mapping[str, Any]) -> str:
    """README.md for an adapted generator and discriminator: the bases, the data, the settings,
    the held-out figures before and after, the date, and that it was trained in this demo.

    ``result`` is the run's JSON; ``facts`` adds ``base_name``, ``base_id``, ``base_license``,
    ``date`` (UTC), ``file`` (the upload's name), ``random_base`` and ``tied`` (embeddings shared).
    """
    rows, settings = result["rows"], dict(result["settings"])
    steps = result["history"][-1]["step"] if result["history"] else 0
    lines = [
        "---",
        "library_name: transformers",
        "pipeline_tag: fill-mask",
        f"license: {facts.get('base_license') or 'other'}",
        "tags: [electra, domain-adaptive-pretraining, electra-demo]",
        "---",
        "",
        f"# {result['model_id']}",
        "",
        f"ELECTRA's generator and discriminator after continuing their own pre-training (replaced-token "
        f"detection) on `{facts['file']}` in the ELECTRA demo (the Adapt tab) on {facts['date']} (UTC), from "
        f"**{facts['base_name']}** (`{facts['base_id']}`) and its generator.",
        "",
        "- `discriminator/`: `ElectraForPreTraining`; `generator/`: `ElectraForMaskedLM`.",
        f"- Data: {rows['train']:,} texts for training, {rows['eval']:,} held out "
        f"(seed {settings.get('seed')}), {rows['dropped']:,} empty ones dropped.",
        f"- Training: {steps} steps in {result['seconds']:.1f} s; it ended: {result['stopped']}.",
        "- Objective: generator MLM loss + 50 x discriminator binary loss on every token; embeddings "
        + ("shared by both (tied)." if facts.get("tied") else "not shared (their shapes differ)."),
        "- Settings: " + ", ".join(f"{key} {value}" for key, value in settings.items()),
        "",
        "## Held-out figures",
        "",
        "The held-out texts were corrupted once by the original generator; both discriminators scored "
        "the same corrupted texts (`heldout.jsonl`).",
        "",
        "| figure | before | after |",
        "|---|---|---|",
    ]
    for key, name in FIGURES:
        before, after = result["before"].get(key), result["after"].get(key)
        lines.append(f"| {name} | {_figure(before)} | {_figure(after)} |")
    if facts.get("random_base"):
        lines += ["", "Note: the base checkpoints had random weights (the demo's test checkpoints)."]
    lines += [
        "",
        "## Use",
        "",
        "```python",
        "from transformers import ElectraForMaskedLM, ElectraForPreTraining",
        "",
        f'discriminator = ElectraForPreTraining.from_pretrained("{result["model_id"]}/discriminator")',
        f'generator = ElectraForMaskedLM.from_pretrained("{result["model_id"]}/generator")',
        "```",
        "",
    ]
    return "\n".join(lines)
