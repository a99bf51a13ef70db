"""SQuAD 2.0 exact match and F1, as defined by the official evaluation script (evaluate-v2.0.py).

The definitions follow the official script line for line: answers are normalised (lower case,
punctuation removed, the articles "a", "an" and "the" removed as whole words, whitespace
collapsed, in that order), exact match compares the normalised strings, and F1 is the
bag-of-tokens overlap of the normalised answers. A question's score is the best over its gold
answers; a question with no gold answers (an impossible one) has the single gold answer "", so
only the empty prediction ("no answer") scores on it.

Nothing here imports torch or gradio: every function is pure and tested with hand-built inputs.
"""

from __future__ import annotations

import collections
import re
import string
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = frozenset(string.punctuation)


def normalize_answer(s: str) -> str:
    """Lower case, remove punctuation, remove articles, fix whitespace (the official order)."""
    text = s.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def get_tokens(s: str) -> list[str]:
    """The normalised answer split on whitespace; [] for an empty string."""
    if not s:
        return []
    return normalize_answer(s).split()


def compute_exact(gold: str, pred: str) -> int:
    """1 when the normalised answers are equal, else 0."""
    return int(normalize_answer(gold) == normalize_answer(pred))


def compute_f1(gold: str, pred: str) -> float:
    """Token-overlap F1 of the normalised answers.

    When either side has no tokens (no answer, or an answer that normalises to nothing), F1 is
    1.0 if both are empty and 0.0 otherwise.
    """
    gold_toks = get_tokens(gold)
    pred_toks = get_tokens(pred)
    if not gold_toks or not pred_toks:
        return float(gold_toks == pred_toks)
    common = collections.Counter(gold_toks) & collections.Counter(pred_toks)
    num_same = sum(common.values())
    if num_same == 0:
        return 0.0
    precision = num_same / len(pred_toks)
    recall = num_same / len(gold_toks)
    return (2 * precision * recall) / (precision + recall)


def max_over_golds(metric: Callable[[str, str], float], golds: Sequence[str], pred: str) -> float:
    """The best score of ``pred`` against any gold answer; no golds means the only gold is ""."""
    if not golds:
        golds = [""]
    return max(metric(gold, pred) for gold in golds)


def iter_questions(dataset: Sequence[Mapping[str, Any]]) -> Iterator[tuple[Mapping[str, Any], str]]:
    """Every question of a SQuAD ``data`` list, in file order, with its paragraph's context."""
    for article in dataset:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                yield qa, paragraph["context"]


def gold_answers(qa: Mapping[str, Any]) -> list[str]:
    """The question's gold texts, dropping those that normalise to nothing (as the official script)."""
    return [a["text"] for a in qa["answers"] if normalize_answer(a["text"])]


def has_answer(qa: Mapping[str, Any]) -> bool:
    """Whether the question is answerable: it has gold answers (the official script's test).

    The official script decides by ``bool(qa["answers"])``, not by ``is_impossible``; in SQuAD
    2.0 the two agree, since impossible questions keep their spans in ``plausible_answers``.
    """
    return bool(qa["answers"])


def _group(exact: Mapping[str, float], f1: Mapping[str, float], qids: Sequence[str]) -> tuple:
    if not qids:
        return None, None, 0
    total = len(qids)
    return (
        100.0 * sum(exact[q] for q in qids) / total,
        100.0 * sum(f1[q] for q in qids) / total,
        total,
    )


def evaluate(dataset: Sequence[Mapping[str, Any]], predictions: Mapping[str, str]) -> dict[str, Any]:
    """Exact match and F1 over every question of a SQuAD 2.0 ``data`` list, as percentages (0-100).

    ``dataset`` is the "data" list of a SQuAD JSON file (articles -> paragraphs -> qas) and
    ``predictions`` maps a question id to the predicted text, "" meaning "no answer".

    Returns the official script's keys: ``exact``, ``f1``, ``total`` over all questions, and the
    same for the answerable (``HasAns_*``) and unanswerable (``NoAns_*``) questions. When a group
    has no questions its ``*_exact`` and ``*_f1`` are None and its ``*_total`` is 0 (the official
    script leaves the keys out).

    A question missing from ``predictions`` is scored as the empty prediction "": wrong on an
    answerable question, right on an unanswerable one, and always counted in the totals. (The
    official script prints a warning and skips it, which shrinks ``total`` and then fails on the
    HasAns/NoAns breakdown; :func:`missing_predictions` lists such questions so a caller can warn.)

    Raises ValueError when the dataset holds no questions.
    """
    exact: dict[str, float] = {}
    f1: dict[str, float] = {}
    has_ans: list[str] = []
    no_ans: list[str] = []
    for qa, _context in iter_questions(dataset):
        qid = qa["id"]
        if qid in exact:
            raise ValueError(f"Question id {qid!r} appears more than once in the dataset.")
        golds = gold_answers(qa)
        pred = predictions.get(qid, "")
        exact[qid] = max_over_golds(compute_exact, golds, pred)
        f1[qid] = max_over_golds(compute_f1, golds, pred)
        (has_ans if has_answer(qa) else no_ans).append(qid)
    if not exact:
        raise ValueError("The dataset holds no questions.")
    result: dict[str, Any] = {}
    result["exact"], result["f1"], result["total"] = _group(exact, f1, list(exact))
    result["HasAns_exact"], result["HasAns_f1"], result["HasAns_total"] = _group(exact, f1, has_ans)
    result["NoAns_exact"], result["NoAns_f1"], result["NoAns_total"] = _group(exact, f1, no_ans)
    return result


def missing_predictions(dataset: Sequence[Mapping[str, Any]], predictions: Mapping[str, str]) -> list[str]:
    """The ids of the dataset's questions that have no entry in ``predictions``."""
    return [qa["id"] for qa, _context in iter_questions(dataset) if qa["id"] not in predictions]
