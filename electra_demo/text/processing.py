"""Pure pre- and post-processing: windows, offsets, words, corruption and metrics.

Nothing here imports torch or gradio, so every function is tested with hand-built inputs.
Token spans always come from the tokenizer's offsets into the text as typed, never from its
lower-cased tokens, so everything maps back onto the user's own characters.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Span:
    """A piece of the input with a probability: a token or a word."""

    text: str
    start: int
    end: int
    probability: float
    replaced: bool

    def to_json(self) -> dict:
        return asdict(self)


def label_names(names: Sequence[str], fallback: Sequence[str]) -> list[str]:
    """A checkpoint's label names, or the registry's when it only has ``LABEL_0``-style ones."""
    generic = all(n == f"LABEL_{i}" for i, n in enumerate(names))
    if generic and fallback and len(fallback) == len(names):
        return list(fallback)
    return list(names)


# ---- windows over long inputs -------------------------------------------------------------
def plan_windows(n_tokens: int, size: int, stride: int) -> list[tuple[int, int]]:
    """Windows ``[start, end)`` of at most ``size`` tokens, neighbours sharing ``stride``.

    Together they cover every token; a text that fits gets one window.
    """
    if size <= 0 or not 0 <= stride < size:
        raise ValueError(f"need size > 0 and 0 <= stride < size; got size={size}, stride={stride}")
    if n_tokens <= size:
        return [(0, n_tokens)]
    step = size - stride
    windows = []
    start = 0
    while True:
        end = min(start + size, n_tokens)
        windows.append((start, end))
        if end == n_tokens:
            return windows
        start += step


def best_windows(n_tokens: int, windows: Sequence[tuple[int, int]]) -> list[int]:
    """For each token, the window where it has the most context on both sides.

    Context is the distance to the nearer edge of the window; ties go to the earlier window.
    """
    best = [-1] * n_tokens
    best_context = [-1] * n_tokens
    for w, (start, end) in enumerate(windows):
        for i in range(start, end):
            context = min(i - start, end - 1 - i)
            if context > best_context[i]:
                best[i], best_context[i] = w, context
    if -1 in best:
        raise ValueError(f"token {best.index(-1)} is in no window")
    return best


# ---- tokens, words and segments -----------------------------------------------------------
def token_spans(
    text: str, offsets: Sequence[tuple[int, int]], probabilities: Sequence[float], threshold: float
) -> list[Span]:
    """One span per token, with the characters the tokenizer mapped it to."""
    return [
        Span(text[s:e], s, e, float(p), float(p) > threshold)
        for (s, e), p in zip(offsets, probabilities, strict=True)
    ]


def word_groups(word_ids: Sequence[int | None]) -> list[list[int]]:
    """Indices of consecutive tokens that belong to the same pre-tokenized word."""
    groups: list[list[int]] = []
    previous: int | None = None
    for i, word in enumerate(word_ids):
        if word is None:
            previous = None
            continue
        if groups and word == previous:
            groups[-1].append(i)
        else:
            groups.append([i])
        previous = word
    return groups


def merge_words(
    text: str, tokens: Sequence[Span], groups: Sequence[Sequence[int]], threshold: float
) -> list[Span]:
    """Words from their WordPieces: the word's probability is the max of its pieces."""
    words = []
    for group in groups:
        start, end = tokens[group[0]].start, tokens[group[-1]].end
        probability = max(tokens[i].probability for i in group)
        words.append(Span(text[start:end], start, end, probability, probability > threshold))
    return words


def segments(text: str, spans: Sequence[tuple[int, int, object]]) -> list[tuple[str, object]]:
    """Cut ``text`` into labelled spans and the unlabelled gaps between them.

    Joining the segments' strings gives back ``text`` exactly, whitespace and all.
    Spans must be sorted and must not overlap.
    """
    out: list[tuple[str, object]] = []
    position = 0
    for start, end, value in spans:
        if start < position or end < start:
            raise ValueError(f"spans must be sorted and disjoint; got {start}-{end} at {position}")
        if start > position:
            out.append((text[position:start], None))
        if end > start:
            out.append((text[start:end], value))
        position = end
    if position < len(text):
        out.append((text[position:], None))
    return out


# ---- corruption (ELECTRA's training signal) ----------------------------------------------
def maskable_words(text: str, words: Sequence[tuple[int, int]]) -> list[int]:
    """Indices of the words worth corrupting: those with a letter or digit in them."""
    return [i for i, (s, e) in enumerate(words) if any(c.isalnum() for c in text[s:e])]


def choose_words(candidates: Sequence[int], fraction: float, seed: int) -> list[int]:
    """``fraction`` of the candidates (at least one when fraction > 0), chosen by ``seed``."""
    if not candidates or fraction <= 0:
        return []
    count = min(len(candidates), max(1, round(fraction * len(candidates))))
    return sorted(random.Random(seed).sample(list(candidates), count))


def join_wordpieces(pieces: Sequence[str]) -> str:
    """WordPieces as one word: continuation pieces lose their ``##``."""
    return "".join(p[2:] if p.startswith("##") else p for p in pieces)


def match_case(replacement: str, original: str) -> str:
    """Give a replacement the original word's capitalisation (the vocabulary is lower case)."""
    if original.isupper() and len(original) > 1:
        return replacement.upper()
    if original[:1].isupper():
        return replacement[:1].upper() + replacement[1:]
    return replacement


def apply_replacements(
    text: str, replacements: Sequence[tuple[int, int, str]]
) -> tuple[str, list[tuple[int, int]]]:
    """Replace sorted, disjoint ``(start, end, new)`` spans; return the new text and new spans."""
    parts: list[str] = []
    spans: list[tuple[int, int]] = []
    position = 0
    length = 0
    for start, end, new in replacements:
        kept = text[position:start]
        parts.append(kept)
        length += len(kept)
        parts.append(new)
        spans.append((length, length + len(new)))
        length += len(new)
        position = end
    parts.append(text[position:])
    return "".join(parts), spans


def overlaps(span: tuple[int, int], others: Sequence[tuple[int, int]]) -> bool:
    return any(span[0] < e and s < span[1] for s, e in others)


# ---- metrics ------------------------------------------------------------------------------
def precision_recall_f1(
    truth: Sequence[bool], predicted: Sequence[bool]
) -> tuple[float | None, float | None, float | None]:
    """Precision, recall and F1 of ``predicted`` flags; None where undefined (0 / 0)."""
    tp = sum(t and p for t, p in zip(truth, predicted, strict=True))
    n_predicted, n_true = sum(predicted), sum(truth)
    precision = tp / n_predicted if n_predicted else None
    recall = tp / n_true if n_true else None
    if precision is None or recall is None:
        f1 = None
    elif precision + recall == 0:
        f1 = 0.0
    else:
        f1 = 2 * precision * recall / (precision + recall)
    return precision, recall, f1


def roc_auc(truth: Sequence[bool], scores: Sequence[float]) -> float | None:
    """Area under the ROC curve: the chance a true positive outscores a negative (ties count
    half). Written out because it is a few lines and scikit-learn is not worth a dependency
    of the app; tests compare it with ``sklearn.metrics.roc_auc_score``. None with one class."""
    n_pos = sum(1 for t in truth if t)
    n_neg = len(truth) - n_pos
    if len(scores) != len(truth):
        raise ValueError(f"{len(truth)} labels but {len(scores)} scores")
    if not n_pos or not n_neg:
        return None
    # Mann-Whitney U from average ranks (ties share their mean rank).
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    ranks = [0.0] * len(scores)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    rank_sum = sum(r for r, t in zip(ranks, truth, strict=True) if t)
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """As transformers' text-classification pipeline computes it (float32 in, float32 out)."""
    with np.errstate(over="ignore"):  # exp overflows to inf for very negative logits: 1/inf = 0
        return 1.0 / (1.0 + np.exp(-logits))


def softmax(logits: np.ndarray) -> np.ndarray:
    """Over the last axis, shifted by the maximum, as transformers' pipelines compute it."""
    shifted = np.exp(logits - np.max(logits, axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)
