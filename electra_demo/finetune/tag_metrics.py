"""Held-out figures of a trained entity tagger, entity level, as seqeval computes them (pure).

An entity is a (type, first word, last word) chunk, read from the tags exactly as seqeval 1.2.2's
default mode reads them (``get_entities``: its ``start_of_chunk`` / ``end_of_chunk`` rules, the
type after the first ``-``); a predicted entity counts only with the same type and boundaries.
Precision, recall and F1 are micro averages over all types (an undefined one is 0, seqeval's
``zero_division``); per type too, with its support (true entities). Token accuracy is over every
word, O included (seqeval's ``accuracy_score``). seqeval is a development dependency only: the
tests hold these figures equal to it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

Chunk = tuple[str, int, int]  # type, first and last position in the flattened sequence


def _split(tag: str) -> tuple[str, str]:
    """seqeval's prefix and type of a tag (type "_" when there is none)."""
    return tag[0], tag[1:].split("-", maxsplit=1)[-1] or "_"


def _ends(prev_tag: str, tag: str, prev_type: str, type_: str) -> bool:
    return (
        prev_tag in ("E", "S")
        or (prev_tag in ("B", "I") and tag in ("B", "S", "O"))
        or (prev_tag not in ("O", ".") and prev_type != type_)
    )


def _starts(prev_tag: str, tag: str, prev_type: str, type_: str) -> bool:
    return (
        tag in ("B", "S")
        or (prev_tag in ("E", "S", "O") and tag in ("E", "I"))
        or (tag not in ("O", ".") and prev_type != type_)
    )


def entities(sentences: Sequence[Sequence[str]]) -> list[Chunk]:
    """Every entity of the sentences (flattened with an ``O`` after each, as seqeval does)."""
    flat = [tag for sentence in sentences for tag in [*sentence, "O"]]
    chunks: list[Chunk] = []
    prev_tag, prev_type, begin = "O", "", 0
    for i, chunk in enumerate([*flat, "O"]):
        tag, type_ = _split(chunk)
        if _ends(prev_tag, tag, prev_type, type_):
            chunks.append((prev_type, begin, i - 1))
        if _starts(prev_tag, tag, prev_type, type_):
            begin = i
        prev_tag, prev_type = tag, type_
    return chunks


def _prf(hits: int, predicted: int, true: int) -> dict[str, float]:
    precision = hits / predicted if predicted else 0.0
    recall = hits / true if true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def tagging_metrics(y_true: Sequence[Sequence[str]], y_pred: Sequence[Sequence[str]]) -> dict[str, Any]:
    """``{"precision", "recall", "f1", "per_type": {type: {"precision", "recall", "f1",
    "support"}}, "token_accuracy"}`` for the held-out sentences' tags (word level, IOB2 names)."""
    if len(y_true) != len(y_pred) or any(len(t) != len(p) for t, p in zip(y_true, y_pred, strict=True)):
        raise ValueError("the true and predicted tags differ in length")
    words = sum(len(t) for t in y_true)
    if not words:
        raise ValueError("no tags to score")
    true, pred = set(entities(y_true)), set(entities(y_pred))
    hits = true & pred
    count = {
        name: Counter(chunk[0] for chunk in group) for name, group in (("t", true), ("p", pred), ("h", hits))
    }
    per_type = {
        kind: {**_prf(count["h"][kind], count["p"][kind], count["t"][kind]), "support": count["t"][kind]}
        for kind in sorted(count["t"] | count["p"])
    }
    correct = sum(a == b for t, p in zip(y_true, y_pred, strict=True) for a, b in zip(t, p, strict=True))
    return {
        **_prf(len(hits), len(pred), len(true)),
        "per_type": per_type,
        "token_accuracy": correct / words,
    }
