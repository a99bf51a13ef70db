"""The question-answering child: ``python -m electra_demo.finetune.worker_qa SPEC.json``.

It fine-tunes ``AutoModelForQuestionAnswering`` with transformers' ``Trainer``; the events,
stopping, saving and the zip are :mod:`.worker_common`'s. Training rows are built as the standard
recipe (transformers' ``run_qa.py``) builds them: the question and windows of the context of
``max_length`` tokens sharing ``doc_stride``, each with the first answer's start and end token, or
[CLS] when the window does not hold the answer (or the question has none). The held-out questions
are decoded with the Question answering tab's own decoding (:func:`electra_demo.text.qa.decode`, top
answer, answers up to 15 tokens, "no answer" allowed) and scored with the demo's SQuAD 2.0
script (:mod:`electra_demo.text.squad_metrics`); the figures are fractions (its percentages / 100).
"""

from __future__ import annotations

import sys
from typing import Any

from electra_demo import config
from electra_demo.finetune.card import qa_card
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
from electra_demo.text import qa, squad_metrics


def _positions(encoded: Any, w: int, answers: dict[str, list], cls_index: int) -> tuple[int, int]:
    """The answer's first and last token in window ``w``, or [CLS] twice."""
    if not answers["text"]:
        return cls_index, cls_index
    start_char = answers["answer_start"][0]
    end_char = start_char + len(answers["text"][0])
    sequence = encoded.sequence_ids(w)
    offsets = encoded["offset_mapping"][w]
    first = sequence.index(1)
    last = len(sequence) - 1 - sequence[::-1].index(1)
    if not (offsets[first][0] <= start_char and offsets[last][1] >= end_char):
        return cls_index, cls_index
    while first < len(offsets) and sequence[first] == 1 and offsets[first][0] <= start_char:
        first += 1
    while sequence[last] == 1 and offsets[last][1] >= end_char:
        last -= 1
    return first - 1, last + 1


def _question_room(
    tokenizer: Any, questions: list[dict[str, Any]], max_length: int, stride: int
) -> int | None:
    """The length in tokens of the first question that leaves the context no more than ``stride``
    tokens of a window (the tokenizer cannot make such windows), or None."""
    for q in questions:
        tokens = len(
            tokenizer(q["question"], add_special_tokens=False, split_special_tokens=True)["input_ids"]
        )
        if max_length - tokens - 3 <= stride:
            return tokens
    return None


def encode(tokenizer: Any, questions: list[dict[str, Any]], max_length: int, doc_stride: int) -> list[dict]:
    """Training rows: every window of every question, with its start and end positions."""
    if not questions:
        return []
    encoded = qa.encode_windows(
        tokenizer,
        [q["question"].lstrip() for q in questions],
        [q["context"] for q in questions],
        max_length,
        doc_stride,
    )
    rows = []
    for w, ids in enumerate(encoded["input_ids"]):
        question = questions[encoded["overflow_to_sample_mapping"][w]]
        start, end = _positions(encoded, w, question["answers"], ids.index(tokenizer.cls_token_id))
        rows.append(
            {
                "input_ids": ids,
                "attention_mask": encoded["attention_mask"][w],
                "token_type_ids": encoded["token_type_ids"][w],
                "start_positions": start,
                "end_positions": end,
            }
        )
    return rows


def predict(model: Any, tokenizer: Any, question: dict[str, Any], max_length: int, doc_stride: int) -> str:
    """The Question answering tab's best answer ("" for no answer) with this model."""
    import torch

    encoded = qa.encode_windows(tokenizer, question["question"], question["context"], max_length, doc_stride)
    outputs = []
    with torch.no_grad():
        for w, ids in enumerate(encoded["input_ids"]):
            out = model(
                input_ids=torch.tensor([ids], device=model.device),
                token_type_ids=torch.tensor([encoded["token_type_ids"][w]], device=model.device),
            )
            outputs.append(
                {
                    "start_logits": out.start_logits[0].float().cpu().numpy(),
                    "end_logits": out.end_logits[0].float().cpu().numpy(),
                }
            )
    windows = qa.windows_of(encoded, outputs, tokenizer.cls_token_id)
    best = qa.decode(windows, question["context"], 1, config.QA_MAX_ANSWER_LEN, True)
    return best[0].text if best else ""


def qa_metrics(questions: list[dict[str, Any]], predictions: dict[str, str]) -> dict[str, Any]:
    """``{"exact", "f1", "has_answer": {"exact", "f1", "total"}, "no_answer": {"exact", "total"}}``
    from the demo's SQuAD 2.0 script, as fractions (None for an empty group)."""
    dataset = [
        {
            "paragraphs": [
                {
                    "context": q["context"],
                    "qas": [{"id": q["id"], "answers": [{"text": t} for t in q["answers"]["text"]]}],
                }
                for q in questions
            ]
        }
    ]
    figures = squad_metrics.evaluate(dataset, predictions)

    def share(value: float | None) -> float | None:
        return None if value is None else value / 100

    return {
        "exact": share(figures["exact"]),
        "f1": share(figures["f1"]),
        "has_answer": {
            "exact": share(figures["HasAns_exact"]),
            "f1": share(figures["HasAns_f1"]),
            "total": figures["HasAns_total"],
        },
        "no_answer": {"exact": share(figures["NoAns_exact"]), "total": figures["NoAns_total"]},
    }


def train(spec: dict[str, Any], events: Events, stop: Stop) -> dict[str, Any]:
    import transformers

    prepare(spec)
    tokenizer, model = load_base(spec, "AutoModelForQuestionAnswering")
    if stop.cancelled:
        raise Cancelled
    settings = spec["settings"]
    max_length, stride = settings["max_length"], settings["doc_stride"]
    too_long = _question_room(tokenizer, [*spec["train"], *spec["eval"]], max_length, stride)
    if too_long is not None:
        raise RuntimeError(
            f"A question is {too_long} tokens long: too long for windows of {max_length} tokens sharing "
            f"{stride} (the question, 3 special tokens and more context than the stride must fit); raise "
            f"max_length or lower doc_stride."
        )
    rows = encode(tokenizer, spec["train"], max_length, stride)
    built, history = trainer(spec, model, rows, transformers.DataCollatorWithPadding(tokenizer), events, stop)
    seconds = fit(built, stop, events)
    events.write(event="evaluating")
    model = built.model.eval()
    predictions = {q["id"]: predict(model, tokenizer, q, max_length, stride) for q in spec["eval"]}
    result = result_head(spec, seconds, stop, history)
    result["metrics"] = qa_metrics(spec["eval"], predictions)
    events.write(event="saving")
    save(built, tokenizer, spec, result, qa_card(result, spec["card"]))
    return result


if __name__ == "__main__":
    sys.exit(main(train))
