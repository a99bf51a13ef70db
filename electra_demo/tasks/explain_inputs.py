"""The explainer's inputs and targets: the window a model reads, and the output it explains.

Pure steps over the tokenizer's output (no torch): one window of token ids with, for every
token, its segment (0: text, 1: text_pair; None for [CLS]/[SEP]), its offsets into its own
segment's text and its word; the target, fixed before attributing; and the postprocess that
turns per-position attributions into tokens and words.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from electra_demo.checks import InputError
from electra_demo.runtime.models import LoadedModel
from electra_demo.tasks.answer import window_settings


class FieldError(InputError):
    """Bad input in one argument, which ``field`` names (the API reports it as ``param``)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Inputs:
    """One window as the model reads it."""

    ids: list[int]
    types: list[int]
    segments: list[int | None]  # None: a special token ([CLS], [SEP])
    offsets: list[tuple[int, int]]  # into the token's own segment's text
    words: list[int | None]
    truncated: bool  # part of the input is outside this window

    @property
    def special(self) -> list[bool]:
        return [segment is None for segment in self.segments]

    @property
    def readable(self) -> bool:
        return any(segment is not None for segment in self.segments)

    def covered(self, segment: int) -> tuple[int, int]:
        """The characters of ``segment``'s text that this window's tokens cover (0, 0: none)."""
        spans = [o for o, s in zip(self.offsets, self.segments, strict=True) if s == segment]
        return (spans[0][0], spans[-1][1]) if spans else (0, 0)


@dataclass(frozen=True)
class Target:
    """What f is: ``index`` is (label id,), (token position,) or (start position, end position)."""

    json: dict[str, Any]  # {"label"} or {"text", "start", "end"}
    index: tuple[int, ...]
    name: str  # the label, or the target's text
    probability: float | None = field(default=None)  # the model's probability for it, when known


def _inputs(encoding: Any, truncated: bool) -> Inputs:
    """From a ``tokenizers.Encoding``."""
    return Inputs(
        ids=list(encoding.ids),
        types=list(encoding.type_ids),
        segments=list(encoding.sequence_ids),
        offsets=[tuple(o) for o in encoding.offsets],
        words=list(encoding.word_ids),
        truncated=truncated,
    )


def encode(loaded: LoadedModel, text: str, pair: str | None, only_second: bool = False) -> Inputs:
    """The first window of the model's length, as the classify tab reads the input (with
    ``only_second``, as the rerank task does: the pair is cut on its second text only), and
    ``split_special_tokens``: a "[SEP]" typed by the user is text."""
    tokenizer = loaded.tokenizer
    options: dict[str, Any] = {"split_special_tokens": True, "verbose": False}
    full = len(tokenizer(text, pair, **options)["input_ids"])
    cut = "only_second" if only_second else True
    window = tokenizer(
        text, pair, truncation=cut, max_length=loaded.max_tokens, return_token_type_ids=True, **options
    )
    return _inputs(window.encodings[0], truncated=full > loaded.max_tokens)


def _overlapping(encoding: Any, span: tuple[int, int]) -> list[int]:
    """Context tokens of a window that overlap the characters ``span``."""
    start, end = span
    return [
        i
        for i, (segment, (s, e)) in enumerate(zip(encoding.sequence_ids, encoding.offsets, strict=True))
        if segment == 1 and s < end and e > start
    ]


def encode_qa(
    loaded: LoadedModel, question: str, context: str, span: tuple[int, int]
) -> tuple[Inputs, Target]:
    """The QA tab's windows (its default size and stride); the one that holds the whole ``span``
    (characters of the context), with the most context around it when several do; the target is
    start logit of the span's first token + end logit of its last."""
    tokenizer = loaded.tokenizer
    max_seq_len, doc_stride = window_settings(loaded, question, None, None)
    encoded = tokenizer(
        question,
        context,
        truncation="only_second",
        max_length=max_seq_len,
        stride=doc_stride,
        return_overflowing_tokens=True,
        return_token_type_ids=True,
        split_special_tokens=True,
        verbose=False,
    )
    windows = encoded.encodings
    inside = [_overlapping(window, span) for window in windows]
    wanted = {windows[w].offsets[i] for w in range(len(windows)) for i in inside[w]}
    if not wanted:
        raise FieldError(
            "target", "The target has no token of the context (only spaces?); give a word of the context."
        )
    best, best_margin = None, -1
    for w, window in enumerate(windows):
        if {window.offsets[i] for i in inside[w]} != wanted:
            continue
        context_positions = [i for i, s in enumerate(window.sequence_ids) if s == 1]
        margin = min(inside[w][0] - context_positions[0], context_positions[-1] - inside[w][-1])
        if margin > best_margin:
            best, best_margin = w, margin
    if best is None:
        raise FieldError(
            "target",
            f"The target is longer than one window of the model ({max_seq_len} tokens with the question); "
            "give a shorter piece of the context.",
        )
    first, last = inside[best][0], inside[best][-1]
    start, end = windows[best].offsets[first][0], windows[best].offsets[last][1]
    text = context[start:end]
    target = Target({"text": text, "start": start, "end": end}, (first, last), text)
    return _inputs(windows[best], truncated=len(windows) > 1), target


def find_span(source: str, target: str, what: str) -> tuple[int, int]:
    """The first occurrence of ``target`` in ``source``, as characters."""
    at = source.find(target)
    if at < 0:
        raise FieldError(
            "target", f"The target does not occur in the {what}; give a piece of it exactly as written."
        )
    return at, at + len(target)


def find_token(inputs: Inputs, text: str, target: str) -> Target:
    """``detect``'s target named by the caller: the first token of its first occurrence."""
    start, end = find_span(text, target, "text")
    for position, (segment, (s, e)) in enumerate(zip(inputs.segments, inputs.offsets, strict=True)):
        if segment == 0 and s < end and e > start:
            return token_target(inputs, text, position)
    raise FieldError(
        "target", "The target lies past the part of the text the model reads (its first 512 tokens)."
    )


def token_target(inputs: Inputs, text: str, position: int) -> Target:
    s, e = inputs.offsets[position]
    return Target({"text": text[s:e], "start": s, "end": e}, (position,), text[s:e])


def most_replaced(inputs: Inputs, text: str, logits: np.ndarray) -> Target:
    """``detect``'s default target: the non-special token with the highest replaced logit."""
    positions = [i for i, segment in enumerate(inputs.segments) if segment is not None]
    best = max(positions, key=lambda i: float(logits[i]))
    return token_target(inputs, text, best)


def label_target(labels: Sequence[str], target: str, logits: np.ndarray | None, head: str) -> Target:
    """A classification head's target: the label named, or the model's pick (highest logit)."""
    if target:
        if target not in labels:
            raise FieldError(
                "target",
                f"Unknown label for the {head} head; expected one of: {', '.join(labels)} "
                "(or empty: the model's own pick).",
            )
        index = list(labels).index(target)
    else:
        if logits is None:
            raise ValueError("the model's pick needs the logits")
        index = int(np.argmax(logits))
    return Target({"label": labels[index]}, (index,), labels[index])


@dataclass(frozen=True)
class Piece:
    """A token or a word of one segment, with its attribution."""

    text: str
    start: int
    end: int
    segment: int  # 0: text, 1: text_pair
    attribution: float

    def to_json(self) -> dict:
        return {
            "text": self.text,
            "start": self.start,
            "end": self.end,
            "segment": self.segment,
            "attribution": self.attribution,
        }


# ---- postprocess (pure) -----------------------------------------------------------------------
def pieces(inputs: Inputs, values: np.ndarray, sources: tuple[str, str]) -> tuple[list[Piece], list[Piece]]:
    """The non-special tokens in input order, and words: consecutive tokens of one word in one
    segment, their attributions summed."""
    tokens: list[Piece] = []
    keys: list[tuple[int, int | None]] = []
    for i, segment in enumerate(inputs.segments):
        if segment is None:
            continue
        start, end = inputs.offsets[i]
        tokens.append(Piece(sources[segment][start:end], start, end, segment, float(values[i])))
        keys.append((segment, inputs.words[i]))
    words: list[Piece] = []
    first = 0
    for j in range(1, len(tokens) + 1):
        if j == len(tokens) or keys[j] != keys[j - 1] or keys[j][1] is None:
            group = tokens[first:j]
            start, end, segment = group[0].start, group[-1].end, group[0].segment
            total = float(sum(p.attribution for p in group))
            words.append(Piece(sources[segment][start:end], start, end, segment, total))
            first = j
    return tokens, words
