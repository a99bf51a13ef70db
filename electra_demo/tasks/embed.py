"""Embeddings from a slot's encoder: the last hidden state pooled into one unit vector per input.

``preprocess`` (pure) checks the inputs and turns each into token ids: a text gets [CLS] and
[SEP] (the tokenizer's own wrapping), a list of token ids is taken as given. One model call runs
every input through the encoder's micro-batcher, which hands each row back cut to its own length,
so every position of a row is one whose attention mask is 1. ``postprocess`` (pure, NumPy) pools:
``mean`` over every position (special tokens included) or ``cls`` (the first position), then
L2-normalises.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from electra_demo import config
from electra_demo.checks import InputError, check_text
from electra_demo.runtime.models import LoadedModel

MAX_INPUT_TOKENS = 512  # an input over this is refused (with its count) unless truncation is asked for
POOLINGS = ("mean", "cls")

Input = str | Sequence[int]


class Encoders(Protocol):
    """What this task needs from the service: a slot's encoder alone, loaded once."""

    def load_encoder(self, name: str) -> LoadedModel: ...


@dataclass
class EmbedResult:
    vectors: np.ndarray  # [inputs, hidden] float32, each of unit length
    tokens: list[int]  # tokens read per input, special tokens included
    pooling: str
    model: LoadedModel = field(repr=False)

    @property
    def dimensions(self) -> int:
        return int(self.vectors.shape[1])


def check_inputs(inputs: object) -> list[Input]:
    """One input or a list of them, as a list: texts (checked as the page checks them) or
    non-empty lists of token ids (whole numbers from 0)."""
    if isinstance(inputs, str) or (isinstance(inputs, list) and inputs and all(_is_id(i) for i in inputs)):
        inputs = [inputs]
    if not isinstance(inputs, list) or not inputs:
        raise InputError(
            "The input must be a text, a list of texts, a list of token ids, or a list of such lists."
        )
    out: list[Input] = []
    for index, item in enumerate(inputs):
        if isinstance(item, str):
            out.append(check_text(item, max_chars=config.MAX_TEXT_CHARS, what=f"text input[{index}]"))
        elif isinstance(item, list) and item and all(_is_id(i) for i in item):
            out.append([int(i) for i in item])
        else:
            raise InputError(
                f"input[{index}] must be a text or a non-empty list of token ids (whole numbers from 0)."
            )
    return out


def _is_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def token_limit(loaded: LoadedModel, truncate: int | None) -> int:
    """The most tokens an input may have: 512 (or the model's maximum when smaller), or what
    ``truncate`` asks for (-1: the model's maximum)."""
    if truncate is None:
        return min(MAX_INPUT_TOKENS, loaded.max_tokens)
    if truncate == -1:
        return loaded.max_tokens
    if truncate < 1 or truncate > loaded.max_tokens:
        raise InputError(
            "truncate_prompt_tokens must be -1 or from 1 to the model's maximum, "
            f"{loaded.max_tokens}; got {truncate}."
        )
    return truncate


def tokenize(loaded: LoadedModel, inputs: Sequence[Input], truncate: int | None) -> list[list[int]]:
    """Token ids per input, refused past the limit (naming the input and its count) unless
    ``truncate`` is set, in which case each input keeps its first tokens ([SEP] kept for texts)."""
    limit = token_limit(loaded, truncate)
    tokenizer = loaded.tokenizer
    vocab = int(loaded.model.config.vocab_size)
    specials = tokenizer.num_special_tokens_to_add(pair=False)
    rows: list[list[int]] = []
    for index, item in enumerate(inputs):
        if isinstance(item, str):
            ids = tokenizer(item, verbose=False, split_special_tokens=True)["input_ids"]
            if len(ids) > limit and truncate is not None:
                if limit <= specials:
                    raise InputError(
                        f"truncate_prompt_tokens must leave room for a token besides the {specials} special "
                        f"tokens a text gets; got {limit}."
                    )
                ids = tokenizer(
                    item, truncation=True, max_length=limit, verbose=False, split_special_tokens=True
                )["input_ids"]
        else:
            ids = list(item)
            bad = next((i for i in ids if i >= vocab), None)
            if bad is not None:
                raise InputError(
                    f"input[{index}] has token id {bad}; the model's vocabulary has ids 0 to {vocab - 1}."
                )
            if len(ids) > limit and truncate is not None:
                ids = ids[:limit]
        if len(ids) > limit:
            raise InputError(
                f"input[{index}] is {len(ids)} tokens long (special tokens included); the limit is {limit}. "
                "Shorten it, or set truncate_prompt_tokens (-1: the model's maximum) to cut it."
            )
        rows.append(ids)
    return rows


def postprocess(hidden_states: Sequence[np.ndarray], pooling: str) -> np.ndarray:
    """One L2-normalised vector per input from its last hidden state ``[tokens, hidden]``
    (every position one whose attention mask is 1)."""
    if pooling not in POOLINGS:
        raise InputError(f"Unknown pooling {pooling!r}; expected one of: {', '.join(POOLINGS)}.")
    pooled = np.stack(
        [
            (h[0] if pooling == "cls" else h.mean(axis=0, dtype=np.float64)).astype(np.float32)
            for h in (np.asarray(s, dtype=np.float32) for s in hidden_states)
        ]
    )
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)


def run(
    models: Encoders,
    slot: str,
    inputs: object,
    pooling: str = "mean",
    truncate_prompt_tokens: int | None = None,
) -> EmbedResult:
    """Embed ``inputs`` (a text, texts, token ids, or lists of them) with slot ``slot``'s encoder."""
    if pooling not in POOLINGS:
        raise InputError(f"Unknown pooling {pooling!r}; expected one of: {', '.join(POOLINGS)}.")
    checked = check_inputs(inputs)
    loaded = models.load_encoder(slot)
    rows = tokenize(loaded, checked, truncate_prompt_tokens)
    outputs = loaded.batcher.run([(ids, [0] * len(ids)) for ids in rows])
    vectors = postprocess([output["last_hidden_state"] for output in outputs], pooling)
    return EmbedResult(vectors=vectors, tokens=[len(ids) for ids in rows], pooling=pooling, model=loaded)
