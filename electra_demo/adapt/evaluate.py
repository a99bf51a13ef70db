"""The held-out texts, corrupted once, and the figures before and after adapting.

:func:`corrupt_heldout` masks each held-out text (``mask_fraction`` of its non-special tokens,
seeded) and lets the ORIGINAL generator sample the replacements with a seeded sampler, once,
before any training: "before" and "after" are then scored on exactly the same corrupted texts.
:func:`figures` gives the discriminator's replaced-token ROC AUC and F1 at 0.5 over the
non-special tokens, and the generator's MLM accuracy (its top guess) on the masked positions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from electra_demo.adapt.objective import Batch, choose_masks, mask_seed, masked_logits, pad, replace
from electra_demo.optional import lazy_module
from electra_demo.tasks.corrupt import draw
from electra_demo.text.processing import roc_auc

if TYPE_CHECKING:
    import torch
else:
    torch = lazy_module("torch")

THRESHOLD = 0.5


@dataclass
class Heldout:
    """One held-out text, corrupted: ids with [CLS]/[SEP], which tokens were masked, replaced."""

    original: list[int]
    corrupted: list[int]
    masked: list[bool]
    replaced: list[bool]
    scored: list[bool]  # not a special token

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("original", "corrupted", "masked", "replaced", "scored")}


def _batches(rows: Sequence[Any], size: int):
    for start in range(0, len(rows), size):
        yield start, rows[start : start + size]


def corrupt_heldout(
    generator: Any, tokenizer: Any, encoded: Sequence[list[int]], fraction: float, seed: int, batch_size: int
) -> list[Heldout]:
    """Mask and corrupt every held-out text once with ``generator`` (deterministic given ``seed``)."""
    special = tokenizer.all_special_ids
    device = next(generator.parameters()).device
    sampler = torch.Generator(device=device).manual_seed(seed)
    out: list[Heldout] = []
    generator.eval()
    for start, rows in _batches(encoded, batch_size):
        batch = pad(rows, tokenizer.pad_token_id, special)
        masked = choose_masks(batch, fraction, [mask_seed(seed, 0, start + i) for i in range(len(rows))])
        batch, masked = batch.to(device), masked.to(device)
        with torch.no_grad():
            logits = masked_logits(generator, batch, masked, tokenizer.mask_token_id)
            corrupted, replaced = replace(batch, masked, draw(logits, special, sampler))
        for i, row in enumerate(rows):
            n = len(row)
            out.append(
                Heldout(
                    original=list(row),
                    corrupted=corrupted[i, :n].tolist(),
                    masked=masked[i, :n].tolist(),
                    replaced=replaced[i, :n].bool().tolist(),
                    scored=batch.scored[i, :n].tolist(),
                )
            )
    return out


def _stack(texts: Sequence[Heldout], ids: str, pad_id: int, special: Sequence[int]) -> Batch:
    return pad([getattr(t, ids) for t in texts], pad_id, special)


def discriminator_probabilities(
    discriminator: Any, tokenizer: Any, texts: Sequence[Heldout], batch_size: int
) -> list[list[float]]:
    """P(replaced) for every token of each corrupted text."""
    device = next(discriminator.parameters()).device
    discriminator.eval()
    out: list[list[float]] = []
    for _, rows in _batches(texts, batch_size):
        batch = _stack(rows, "corrupted", tokenizer.pad_token_id, tokenizer.all_special_ids).to(device)
        with torch.no_grad():
            logits = discriminator(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
        probabilities = torch.sigmoid(logits.float()).cpu()
        out += [probabilities[i, : len(t.corrupted)].tolist() for i, t in enumerate(rows)]
    return out


def generator_guesses(
    generator: Any, tokenizer: Any, texts: Sequence[Heldout], batch_size: int
) -> list[list[int]]:
    """The generator's top guess at each masked position of each text (in position order)."""
    device = next(generator.parameters()).device
    generator.eval()
    out: list[list[int]] = []
    for _, rows in _batches(texts, batch_size):
        batch = _stack(rows, "original", tokenizer.pad_token_id, tokenizer.all_special_ids)
        masked = torch.zeros_like(batch.scored)
        for i, t in enumerate(rows):
            masked[i, : len(t.masked)] = torch.tensor(t.masked)
        batch, masked = batch.to(device), masked.to(device)
        with torch.no_grad():
            top = masked_logits(generator, batch, masked, tokenizer.mask_token_id).argmax(dim=-1).cpu()
        counts = masked.sum(dim=1).tolist()  # the masked positions, row after row
        out += [chunk.tolist() for chunk in torch.split(top, counts)]
    return out


def figures(
    texts: Sequence[Heldout], probabilities: Sequence[Sequence[float]], guesses: Sequence[Sequence[int]]
) -> dict[str, float | None]:
    """``{"rtd_auc", "rtd_f1", "mlm_accuracy"}`` (None where undefined: one class, or no flag)."""
    truth: list[bool] = []
    scores: list[float] = []
    hits = total = 0
    for text, probs, guess in zip(texts, probabilities, guesses, strict=True):
        truth += [r for r, s in zip(text.replaced, text.scored, strict=True) if s]
        scores += [p for p, s in zip(probs, text.scored, strict=True) if s]
        originals = [o for o, m in zip(text.original, text.masked, strict=True) if m]
        hits += sum(g == o for g, o in zip(guess, originals, strict=True))
        total += len(originals)
    return {
        "rtd_auc": roc_auc(truth, scores),
        "rtd_f1": f1_score(truth, [p > THRESHOLD for p in scores]),
        "mlm_accuracy": hits / total if total else None,
    }


def f1_score(truth: Sequence[bool], predicted: Sequence[bool]) -> float | None:
    """2TP / (2TP + FP + FN), as scikit-learn's ``f1_score``: 0 when replacements were missed and
    none flagged; None only when there was nothing to find and nothing flagged."""
    tp = sum(t and p for t, p in zip(truth, predicted, strict=True))
    wrong = sum(t != p for t, p in zip(truth, predicted, strict=True))
    return 2 * tp / (2 * tp + wrong) if tp or wrong else None
