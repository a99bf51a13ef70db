"""Steps shared by the tasks: tokenizing a text as typed, and token logits over long texts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from electra_demo import config
from electra_demo.checks import InputError
from electra_demo.config import ResolvedSlot
from electra_demo.runtime.batching import Row
from electra_demo.runtime.models import LoadedModel
from electra_demo.text.processing import best_windows, plan_windows

Encoding = tuple[list[int], list[tuple[int, int]], list[int | None]]  # ids, offsets, word ids


class Models(Protocol):
    """What a task needs from the service: a slot, loaded once."""

    def load(self, name: str) -> LoadedModel: ...


class Resolving(Models, Protocol):
    """What a task that takes a visitor's trained model needs: where a name comes from, too (for
    :func:`electra_demo.trained.require.require`)."""

    def resolve(self, name: str) -> ResolvedSlot: ...


def encode(loaded: LoadedModel, text: str) -> Encoding:
    """Tokenize without special tokens or truncation; windows add [CLS]/[SEP] later.

    ``split_special_tokens``: a "[SEP]" typed by the user is text, not a separator.
    """
    encoding = loaded.tokenizer(
        text,
        add_special_tokens=False,
        return_offsets_mapping=True,
        verbose=False,
        split_special_tokens=True,
    )
    ids = encoding["input_ids"]
    if not ids:
        raise InputError("The text has no characters the model can read (only control characters?).")
    return ids, encoding["offset_mapping"], encoding.word_ids()


def window_rows(
    loaded: LoadedModel, ids: Sequence[int], positions: Sequence[int] | None = None
) -> tuple[list[Row], list[tuple[int, int, int]]]:
    """The rows that score the wanted tokens (all by default), each from the window where it has
    the most context, and where each one is: ``(token, row, place in the row)``.

    Texts longer than the model are covered by overlapping windows, each wrapped in
    [CLS] ... [SEP] exactly as the tokenizer would wrap a single text. Rows of several texts can
    go to the batcher in one call (the masked and verifying passes of /proofread do).
    """
    size = loaded.max_tokens - 2
    windows = plan_windows(len(ids), size, stride=min(config.WINDOW_STRIDE, size // 2))
    best = best_windows(len(ids), windows)
    wanted = range(len(ids)) if positions is None else positions
    by_window: dict[int, list[int]] = {}
    for i in wanted:
        by_window.setdefault(best[i], []).append(i)
    tok = loaded.tokenizer
    rows: list[Row] = []
    places: list[tuple[int, int, int]] = []
    for row, w in enumerate(sorted(by_window)):
        start, end = windows[w]
        piece = [tok.cls_token_id, *ids[start:end], tok.sep_token_id]
        rows.append((piece, [0] * len(piece)))
        places += [(i, row, i - start + 1) for i in by_window[w]]
    return rows, places


def token_logits(
    loaded: LoadedModel, ids: Sequence[int], positions: Sequence[int] | None = None
) -> dict[int, np.ndarray]:
    """Each wanted token's logits, from the window where it has the most context (see
    :func:`window_rows`)."""
    rows, places = window_rows(loaded, ids, positions)
    outputs = loaded.batcher.run(rows)
    return {i: outputs[row]["logits"][at] for i, row, at in places}
