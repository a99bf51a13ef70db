"""What each model route runs, in a worker thread: the page's task steps, unchanged, on the
service the page uses (so its micro-batcher merges page and API rows), and the reply's JSON.

Embeddings and classify send every input of a request to the batcher in one call; detect, tag
and answer run one task call per input (the route runs those side by side, so they batch too).
A bad input raises :class:`~electra_demo.text.processing.InputError` naming ``input[i]``.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Sequence
from typing import Any

from electra_demo.api import schemas
from electra_demo.checks import InputError
from electra_demo.service import ModelService
from electra_demo.tasks import classify as classify_task
from electra_demo.tasks import embed as embed_task
from electra_demo.trained.kinds import is_model_id


def usage(tokens: int) -> dict[str, int]:
    return {"prompt_tokens": tokens, "total_tokens": tokens}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def embeddings(service: ModelService, slot: str, request: schemas.EmbeddingRequest) -> dict[str, Any]:
    result = embed_task.run(service, slot, request.input, request.pooling, request.truncate_prompt_tokens)
    hidden = result.dimensions
    if request.dimensions is not None and request.dimensions != hidden:
        raise InputError(
            f"dimensions must equal the model's hidden size, {hidden} (embeddings are not shortened); "
            f"got {request.dimensions}."
        )
    if request.encoding_format == "base64":
        little = result.vectors.astype("<f4", copy=False)
        values: Sequence[Any] = [base64.b64encode(row.tobytes()).decode("ascii") for row in little]
    else:
        values = list(result.vectors)  # NumPy rows: orjson writes them as float32 numbers
    return {
        "object": "list",
        "data": [{"object": "embedding", "embedding": v, "index": i} for i, v in enumerate(values)],
        "model": result.model.resolved.source,
        "usage": usage(sum(result.tokens)),
    }


def _pairs(slot: str, items: list[Any], listed: bool) -> list[tuple[str, str | None]]:
    out = []
    for index, item in enumerate(items):
        text, pair = (item, "") if isinstance(item, str) else (item[0], item[1])
        try:
            _, text, checked_pair = classify_task.preprocess(slot, text, pair)
        except InputError as error:
            raise InputError(f"input[{index}]: {error}" if listed else str(error)) from None
        out.append((text, checked_pair))
    return out


def classify(service: ModelService, slot: str, request: schemas.ClassifyRequest) -> dict[str, Any]:
    """vLLM's classify reply; the scores are the page's (its task's own pre- and postprocess)."""
    items = _pairs(slot, as_list(request.input), isinstance(request.input, list))
    loaded = service.load(slot)
    truncate = request.truncate_prompt_tokens
    limit = embed_task.token_limit(loaded, truncate)
    rows = []
    for index, (text, pair) in enumerate(items):
        ids, types = _classify_tokens(loaded.tokenizer, text, pair, None)
        if len(ids) > limit:
            if truncate is None:
                raise InputError(
                    f"input[{index}] is {len(ids)} tokens long (special tokens included); the limit is "
                    f"{limit}. Shorten it, or set truncate_prompt_tokens (-1: the model's maximum) to cut it."
                )
            specials = loaded.tokenizer.num_special_tokens_to_add(pair=pair is not None)
            if limit <= specials:
                raise InputError(
                    f"truncate_prompt_tokens must leave room for a token besides the {specials} special "
                    f"tokens of input[{index}]; got {limit}."
                )
            ids, types = _classify_tokens(loaded.tokenizer, text, pair, limit)
        rows.append((ids, types))
    outputs = loaded.batcher.run(rows)
    answers = []
    for output in outputs:
        if request.raw_scores:  # TEI's raw_scores: the logits themselves, highest first
            logits = [float(x) for x in output["logits"]]
            answers.append(sorted(zip(loaded.labels, logits, strict=True), key=lambda pair: -pair[1]))
        else:
            answers.append(classify_task.postprocess(loaded.labels, output["logits"], loaded.multi_label))
    return classify_reply(loaded.resolved.source, loaded.labels, answers, sum(len(ids) for ids, _ in rows))


def classify_reply(
    model: str, classes: Sequence[str], answers: Sequence[Sequence[tuple[str, float]]], tokens: int
) -> dict[str, Any]:
    """vLLM's classify reply: per input, its ``(class, score)`` pairs highest first; ``probs`` in
    ``classes``' order (a head's label ids, or the zero-shot labels as given)."""
    data = []
    for index, ranked in enumerate(answers):
        scores = dict(ranked)
        data.append(
            {
                "index": index,
                "label": ranked[0][0],
                "probs": [scores[label] for label in classes],
                "num_classes": len(classes),
                "labels": [{"label": label, "score": score} for label, score in ranked],
            }
        )
    return {
        "id": f"classify-{uuid.uuid4().hex}",
        "object": "list",
        "created": int(time.time()),
        "model": model,
        "data": data,
        "usage": usage(tokens),
    }


def _classify_tokens(
    tokenizer: Any, text: str, pair: str | None, limit: int | None
) -> tuple[list[int], list[int]]:
    """As the page's classify tokenizes (``split_special_tokens``: typed "[SEP]" is text)."""
    cut = {"truncation": True, "max_length": limit} if limit is not None else {}
    encoded = tokenizer(text, pair, verbose=False, split_special_tokens=True, **cut)
    ids = encoded["input_ids"]
    return ids, encoded.get("token_type_ids") or [0] * len(ids)


def count_tokens(service: ModelService, slot: str, *texts: str) -> int:
    tokenizer = service.load(slot).tokenizer
    return sum(
        len(tokenizer(text, add_special_tokens=False, verbose=False, split_special_tokens=True)["input_ids"])
        for text in texts
    )


def detect_one(service: ModelService, text: str, option: tuple[float, str]) -> tuple[dict[str, Any], int]:
    threshold, slot = option  # an adapted model's id, or the registry's discriminator
    result = service.detect(text, threshold, _own(slot))
    return result.to_json(), len(result.tokens)


def model_name(catalog: Any, slot: str) -> str:
    """What an answer names as its model: a fine-tuned model's id, else the slot's checkpoint id."""
    return slot if is_model_id(slot) else catalog.resolve(slot).source


def _own(slot: str) -> str:
    """The task's ``model`` argument: "" for the registry slot, else the fine-tuned model's id."""
    return slot if is_model_id(slot) else ""


def tag_one(service: ModelService, text: str, options: tuple[str, str]) -> tuple[dict[str, Any], int]:
    aggregation, slot = options
    result = service.tag(text, aggregation, _own(slot))
    return result.to_json(), count_tokens(service, slot, text)


def answer_one(
    service: ModelService, item: schemas.QAInput, options: tuple[schemas.AnswerRequest, str]
) -> tuple[dict[str, Any], int]:
    request, slot = options
    result = service.answer(
        item.question,
        item.context,
        request.top_k,
        request.max_answer_len,
        request.handle_impossible_answer,
        request.max_seq_len,
        request.doc_stride,
        _own(slot),
    )
    return result.to_json(), count_tokens(service, slot, item.question, item.context)


def task_reply(model: str, results: list[tuple[dict[str, Any], int]]) -> dict[str, Any]:
    """``{"object": "list", "model", "data": [{"index", ...the page's JSON}], "usage"}``."""
    return {
        "object": "list",
        "model": model,
        "data": [{"index": i, **result} for i, (result, _) in enumerate(results)],
        "usage": usage(sum(tokens for _, tokens in results)),
    }


def explain(service: ModelService, request: schemas.ExplainRequest) -> dict[str, Any]:
    """The page's /explain JSON (gradient x input or integrated gradients), unchanged."""
    result = service.explain(
        request.task, request.text, request.text_pair, request.target, request.method, request.steps
    )
    return result.to_json()
