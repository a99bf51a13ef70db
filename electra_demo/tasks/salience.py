"""Saliency: attributions of a model output to the output of its word-embedding lookup.

Kept apart from the models and tasks (as LIT keeps salience apart from models): the functions
here take a forward function and an objective, and know nothing of ELECTRA's heads.

- :func:`gradient_x_input`: sum over d of ``e[i, d] * df/de[i, d]``, by autograd.
- :func:`integrated_gradients`: Captum's ``LayerIntegratedGradients`` on the embedding output,
  with its convergence delta.

Thread safety: the service's models are shared with concurrent inference, so nothing here
changes a shared module (no hooks on it, no ``requires_grad`` changes on its parameters).
Gradients are taken with respect to the embedding *output* only: the lookup runs on the shared
``nn.Embedding``, and its output goes through a private ``nn.Identity`` (the "gate") made per
call, which is where Captum places its hooks. The gate's output is exactly
``word_embeddings(ids)``, so the attributions are those of that layer.

torch and Captum are imported inside the steps that need them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

TOKEN_BUDGET = 2048  # tokens per internal batch of integrated gradients (memory grows with it)
MAX_INTERNAL_BATCH = 16

Objective = Callable[[Any], "torch.Tensor"]  # model output -> the explained value per row, [batch]


class Cancelled(Exception):
    """The caller cancelled the explanation; raised from inside the forward function."""


def baseline_ids(ids: Sequence[int], special: Sequence[bool], pad_id: int) -> list[int]:
    """The integrated-gradients baseline: every non-special token id replaced by ``pad_id``,
    the special tokens ([CLS], [SEP]) kept where they are."""
    if len(ids) != len(special):
        raise ValueError(f"ids and special flags differ in length: {len(ids)} vs {len(special)}")
    return [token if is_special else pad_id for token, is_special in zip(ids, special, strict=True)]


def internal_batch(tokens: int) -> int:
    """Rows of one integrated-gradients batch for a sequence of ``tokens``: 16 at 128 tokens,
    4 at 512 (the activations kept for the backward pass grow with rows x tokens)."""
    return max(1, min(MAX_INTERNAL_BATCH, TOKEN_BUDGET // max(1, tokens)))


def gradient_x_input(
    forward: Callable[[torch.Tensor], Any], embeds: torch.Tensor, objective: Objective
) -> tuple[np.ndarray, float]:
    """Per-position ``sum_d e[i, d] * df/de[i, d]`` for one row, and f itself.

    ``embeds`` ([1, tokens, dim]) is the word-embedding output; ``forward(embeds)`` runs the
    model from there; ``objective(output)`` gives f per row. The gradient flows to a detached
    copy of ``embeds`` only: no parameter's gradient is computed or stored.
    """
    import torch

    with torch.enable_grad():
        leaf = embeds.detach().requires_grad_(True)
        value = objective(forward(leaf))
        (grad,) = torch.autograd.grad(value.sum(), leaf)
    attribution = (leaf.detach() * grad).sum(-1)[0]
    return attribution.float().cpu().numpy(), float(value.detach()[0])


class RowCounter:
    """Counts the rows the model has run (for progress) and stops the run when cancelled."""

    def __init__(
        self,
        total: int,
        progress: Callable[[float], None] | None = None,
        cancelled: Callable[[], bool] | None = None,
    ):
        self.total = max(1, total)
        self.done = 0
        self._progress = progress
        self._cancelled = cancelled

    def check(self) -> None:
        if self._cancelled is not None and self._cancelled():
            raise Cancelled("the explanation was cancelled")

    def add(self, rows: int) -> None:
        """Called before each forward pass of ``rows`` rows."""
        self.check()
        self.done += rows
        if self._progress is not None:
            self._progress(min(1.0, self.done / self.total))


def integrated_gradients(
    embedding: torch.nn.Module,
    forward: Callable[..., Any],
    objective: Objective,
    ids: torch.Tensor,
    baseline: torch.Tensor,
    extra: tuple[torch.Tensor, ...],
    steps: int,
    batch: int,
    counter: RowCounter | None = None,
) -> tuple[np.ndarray, float]:
    """Captum's ``LayerIntegratedGradients`` at the output of ``embedding`` (Gauss-Legendre, its
    default), summed over the embedding dimension, and Captum's convergence delta.

    ``forward(embeds, *extra)`` runs the model from the embedding output (``extra``: token types
    and attention mask, one row each, expanded by Captum); ``ids`` and ``baseline`` are [1, tokens].
    ``counter`` is told of every forward pass (progress) and may cancel the run between passes.
    """
    import torch

    from electra_demo.optional import require

    captum = require("captum.attr", "Integrated gradients (the Explain tab)")

    gate = torch.nn.Identity()  # private to this call: Captum's hooks go here, not on shared modules

    def forward_ids(batch_ids: torch.Tensor, *batch_extra: torch.Tensor) -> torch.Tensor:
        if counter is not None:
            counter.add(int(batch_ids.shape[0]))
        return objective(forward(gate(embedding(batch_ids)), *batch_extra))

    explainer = captum.LayerIntegratedGradients(forward_ids, gate)
    with torch.enable_grad():
        attributions, delta = explainer.attribute(
            ids,
            baselines=baseline,
            additional_forward_args=extra,
            n_steps=steps,
            internal_batch_size=batch,
            return_convergence_delta=True,
        )
    return attributions.sum(-1)[0].detach().float().cpu().numpy(), float(delta[0])


def integrated_gradients_rows(steps: int) -> int:
    """Rows Captum runs for one input: the input and the baseline at the layer, the ``steps``
    points of the path, the input and the baseline again for the delta."""
    return steps + 4
