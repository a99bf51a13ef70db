"""The entity-tagging child: ``python -m electra_demo.finetune.worker_tag SPEC.json``.

It fine-tunes ``AutoModelForTokenClassification`` with transformers' ``Trainer``; the events,
stopping, saving and the zip are :mod:`.worker_common`'s. Labels are aligned to WordPieces the
standard way: a word's first piece carries its tag, every other piece -100 (no loss). A sentence
longer than ``max_length`` tokens is read in windows of ``max_length`` that share a quarter of
their tokens, so no word is cut off: each window is a training row, and on the held-out
sentences each word is predicted at its first piece in the first window that holds it.
"""

from __future__ import annotations

import sys
from typing import Any

from electra_demo.finetune.card import tagging_card
from electra_demo.finetune.tag_metrics import tagging_metrics
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

IGNORED = -100


def encode(tokenizer: Any, part: dict[str, Any], max_length: int) -> list[dict[str, Any]]:
    """The windows of every sentence as training rows; each also says, per position, the word
    whose first piece it is (or -1) and which sentence it came from."""
    if not part["tokens"]:
        return []
    encoded = tokenizer(
        part["tokens"],
        is_split_into_words=True,
        truncation=True,
        max_length=max_length,
        stride=max_length // 4,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
    )
    rows = []
    for w, ids in enumerate(encoded["input_ids"]):
        sentence = encoded["overflow_to_sample_mapping"][w]
        tags = part["tags"][sentence]
        words = [
            word if word is not None and offset[0] == 0 else -1
            for word, offset in zip(encoded.word_ids(w), encoded["offset_mapping"][w], strict=True)
        ]
        rows.append(
            {
                "input_ids": ids,
                "attention_mask": encoded["attention_mask"][w],
                **({"token_type_ids": encoded["token_type_ids"][w]} if "token_type_ids" in encoded else {}),
                "labels": [tags[word] if word >= 0 else IGNORED for word in words],
                "words": words,
                "sentence": sentence,
            }
        )
    return rows


def word_predictions(rows: list[dict[str, Any]], predicted: Any, lengths: list[int]) -> list[list[int]]:
    """Each held-out word's predicted label id (at its first piece, first window that has it;
    0, "O", for a word no window reads, such as one the tokenizer drops)."""
    out: list[list[int | None]] = [[None] * n for n in lengths]
    for row, ids in zip(rows, predicted, strict=True):
        words = out[row["sentence"]]
        for position, word in enumerate(row["words"]):
            if word >= 0 and words[word] is None:
                words[word] = int(ids[position])
    return [[0 if p is None else p for p in sentence] for sentence in out]


def train(spec: dict[str, Any], events: Events, stop: Stop) -> dict[str, Any]:
    import transformers

    prepare(spec)
    labels = spec["labels"]
    tokenizer, model = load_base(
        spec,
        "AutoModelForTokenClassification",
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
    )
    if stop.cancelled:
        raise Cancelled
    max_length = spec["settings"]["max_length"]
    train_rows = encode(tokenizer, spec["train"], max_length)
    eval_rows = encode(tokenizer, spec["eval"], max_length)
    model_rows = [{k: v for k, v in r.items() if k not in ("words", "sentence")} for r in train_rows]
    collator = transformers.DataCollatorForTokenClassification(tokenizer)
    built, history = trainer(spec, model, model_rows, collator, events, stop)
    seconds = fit(built, stop, events)
    events.write(event="evaluating")
    inputs = [{k: v for k, v in r.items() if k not in ("words", "sentence")} for r in eval_rows]
    predicted = built.predict(inputs).predictions.argmax(axis=-1)
    lengths = [len(words) for words in spec["eval"]["tokens"]]
    ids = word_predictions(eval_rows, predicted, lengths)
    y_true = [[labels[t] for t in tags] for tags in spec["eval"]["tags"]]
    y_pred = [[labels[t] for t in sentence] for sentence in ids]
    result = result_head(spec, seconds, stop, history)
    result["metrics"] = tagging_metrics(y_true, y_pred)
    events.write(event="saving")
    save(built, tokenizer, spec, result, tagging_card(result, spec["card"]))
    return result


if __name__ == "__main__":
    sys.exit(main(train))
