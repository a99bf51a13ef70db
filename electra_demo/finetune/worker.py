"""The classification child: ``python -m electra_demo.finetune.worker SPEC.json``.

It fine-tunes ``AutoModelForSequenceClassification`` from the base slot's checkpoint (safetensors
only, no remote code) with transformers' ``Trainer``; the events, stopping, saving and the zip are
:mod:`.worker_common`'s (see there for the whole protocol).
"""

from __future__ import annotations

import sys
from typing import Any

from electra_demo.finetune.card import model_card
from electra_demo.finetune.metrics import classification_metrics
from electra_demo.finetune.worker_common import (
    Cancelled,
    Events,
    Stop,
    fit,
    load_base,
    main,
    prepare,
    result_head,
    save,
    trainer,
)


def _encode(tokenizer: Any, part: dict[str, Any], max_length: int) -> list[dict[str, Any]]:
    pairs = part.get("pairs")
    rows = []
    for i, text in enumerate(part["texts"]):
        encoded = tokenizer(
            text,
            pairs[i] if pairs else None,
            truncation=True,
            max_length=max_length,
            split_special_tokens=True,
        )
        rows.append({**encoded, "labels": part["labels"][i]})
    return rows


def train(spec: dict[str, Any], events: Events, stop: Stop) -> dict[str, Any]:
    import transformers

    prepare(spec)
    labels = spec["labels"]
    tokenizer, model = load_base(
        spec,
        "AutoModelForSequenceClassification",
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
        problem_type="single_label_classification",
    )
    if stop.cancelled:
        raise Cancelled
    max_length = spec["settings"]["max_length"]
    train_rows = _encode(tokenizer, spec["train"], max_length)
    eval_rows = _encode(tokenizer, spec["eval"], max_length)
    built, history = trainer(
        spec, model, train_rows, transformers.DataCollatorWithPadding(tokenizer), events, stop
    )
    seconds = fit(built, stop, events)
    events.write(event="evaluating")
    logits = built.predict(eval_rows).predictions
    predicted = logits.argmax(axis=-1).tolist()
    result = result_head(spec, seconds, stop, history)
    result["metrics"] = classification_metrics(spec["eval"]["labels"], predicted, labels)
    events.write(event="saving")
    save(built, tokenizer, spec, result, model_card(result, spec["card"]))
    return result


if __name__ == "__main__":
    sys.exit(main(train))
