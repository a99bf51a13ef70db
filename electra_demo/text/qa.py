"""Extractive question answering: span decoding as transformers 4.x's pipeline did it.

transformers 5 removed the ``question-answering`` pipeline (4.57.x was the last release with
it), so this module re-states its ``preprocess`` masks and ``postprocess`` step by step, as pure
functions over numpy arrays and the tokenizer's ``Encoding`` objects. It reuses what transformers
5 still ships, ``select_starts_ends`` (masking of question and padding positions, separate
softmaxes of start and end, the no-answer score from [CLS]) and, through it, ``decode_spans``
(span score p_start * p_end for start <= end < start + max_answer_len, top-k); what remains
(windows' masks, word alignment, merging duplicate answers, the no-answer candidate, top-k over
windows) follows 4.57's ``QuestionAnsweringPipeline`` line by line. Tests compare the result
with golden answers written by 4.57.6 itself (``scripts/qa_golden.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

NULL_SCORE_START = 1000000  # 4.x: "large and positive", lowered by each window's [CLS] score


@dataclass(frozen=True)
class Window:
    """One window's model outputs and what is needed to map tokens back to the context."""

    start_logits: np.ndarray  # (tokens,), float32
    end_logits: np.ndarray
    p_mask: list[int]  # 1 where a token cannot be part of an answer
    attention_mask: list[int]
    encoding: Any  # tokenizers.Encoding: token_to_word, word_to_chars, offsets


@dataclass
class Candidate:
    text: str
    start: int
    end: int
    score: float
    null: bool = False  # the "no answer" candidate (4.x's empty answer from [CLS])

    @property
    def empty(self) -> bool:
        """An empty answer: the no-answer candidate, or (as 4.x could yield on tiny contexts)
        a zero-score span that touches [CLS]."""
        return self.start == self.end == 0 and not self.text


def p_mask(
    sequence_ids: Sequence[int | None], input_ids: Sequence[int], cls_token_id: int | None
) -> list[int]:
    """1 for every token outside the context (question, specials, padding), 0 for [CLS]."""
    mask = [int(sequence != 1) for sequence in sequence_ids]
    if cls_token_id is not None:
        for i, token in enumerate(input_ids):
            if token == cls_token_id:
                mask[i] = 0
    return mask


def char_span(
    encoding: Any, start_token: int, end_token: int, align_to_words: bool = True
) -> tuple[int, int]:
    """Character offsets of a token span in the context, widened to whole words (4.x
    ``get_indices``); falls back to the tokens' own offsets where a token has no word."""
    if align_to_words:
        try:
            start_word = encoding.token_to_word(start_token)
            end_word = encoding.token_to_word(end_token)
            return (
                encoding.word_to_chars(start_word, sequence_index=1)[0],
                encoding.word_to_chars(end_word, sequence_index=1)[1],
            )
        except Exception:  # noqa: BLE001 - exactly 4.x's fallback (e.g. a span touching [CLS])
            pass
    return encoding.offsets[start_token][0], encoding.offsets[end_token][1]


def add_candidate(candidates: list[Candidate], context: str, start: int, end: int, score: float) -> None:
    """Add a span, or add its score to an equal answer already there (case-insensitive), as 4.x."""
    text = context[start:end]
    for candidate in candidates:
        if candidate.text.lower() == text.lower():
            candidate.score += score
            return
    candidates.append(Candidate(text, start, end, score))


def decode(
    windows: Sequence[Window],
    context: str,
    top_k: int,
    max_answer_len: int,
    handle_impossible_answer: bool,
    align_to_words: bool = True,
) -> list[Candidate]:
    """Every candidate answer over all windows, best first (top-k is the caller's cut).

    With ``handle_impossible_answer`` the empty answer (start = end = 0) competes with the score
    min over windows of p_start[CLS] * p_end[CLS].
    """
    from transformers.pipelines.document_question_answering import select_starts_ends

    null_score: float = NULL_SCORE_START
    candidates: list[Candidate] = []
    pre_top_k = top_k * 2 + 10 if align_to_words else top_k  # some merge when aligned to words
    for window in windows:
        starts, ends, scores, null_score = select_starts_ends(
            window.start_logits[None, :],
            window.end_logits[None, :],
            np.array([window.p_mask]),
            np.array([window.attention_mask]),
            null_score,
            pre_top_k,
            handle_impossible_answer,
            max_answer_len,
        )
        for s, e, score in zip(starts, ends, scores, strict=True):
            start, end = char_span(window.encoding, int(s), int(e), align_to_words)
            add_candidate(candidates, context, start, end, score.item())
    if handle_impossible_answer:
        candidates.append(Candidate("", 0, 0, null_score, null=True))
    return sorted(candidates, key=lambda c: c.score, reverse=True)


def encode_windows(
    tokenizer: Any,
    question: str | list[str],
    context: str | list[str],
    max_seq_len: int,
    doc_stride: int,
) -> Any:
    """The question and the context's windows of ``max_seq_len`` tokens sharing ``doc_stride``
    (the QA tab's encoding; a reader trained in the Fine-tune tab trains and is evaluated on the
    same). Lists of questions and contexts give every pair's windows, ``overflow_to_sample_mapping``
    naming each window's pair."""
    return tokenizer(
        question,
        context,
        truncation="only_second",
        max_length=max_seq_len,
        stride=doc_stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        return_token_type_ids=True,
        verbose=False,
        split_special_tokens=True,
    )


def windows_of(encoded: Any, outputs: Sequence[dict[str, Any]], cls_token_id: int | None) -> list[Window]:
    """:class:`Window` objects from :func:`encode_windows`'s encoding and each window's
    ``start_logits`` and ``end_logits`` (one row per token of that window)."""
    return [
        Window(
            start_logits=np.asarray(output["start_logits"]),
            end_logits=np.asarray(output["end_logits"]),
            p_mask=p_mask(encoded.sequence_ids(w), encoded["input_ids"][w], cls_token_id),
            attention_mask=encoded["attention_mask"][w],
            encoding=encoded[w],
        )
        for w, output in enumerate(outputs)
    ]
