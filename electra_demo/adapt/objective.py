"""ELECTRA's pre-training objective on tensors: mask, the generator's MLM loss, its sampled
replacements, the discriminator's replaced-token loss (Clark et al., ICLR 2020, sections 2 and 3).

- :func:`encode` tokenizes texts once (special tokens added, cut at ``max_length``);
  :func:`pad` makes a batch of them.
- :func:`choose_masks`: ``fraction`` of each text's non-special tokens, chosen as Corrupt &
  detect chooses words (:func:`electra_demo.text.processing.choose_words`, at least one), by a seed.
- :func:`losses`: the generator sees the masked text and is scored by MLM cross-entropy on the
  masked positions; its replacements are sampled from its softmax exactly as Corrupt & detect
  samples (:func:`electra_demo.tasks.corrupt.draw`, no gradient through the sample); the
  discriminator is scored by transformers' ``ElectraForPreTraining`` loss (binary cross-entropy on
  every non-padding token, a sample equal to the original counting as original); the total is
  ``mlm + 50 * rtd`` (the paper's lambda).
- :func:`backward`: one micro-batch's share of the joint loss, backward in two passes (the
  generator's, then the discriminator's: the same gradients, half the models' activations kept).
- :func:`split`: a step's batch in micro-batches whose weighted losses add up to the batch's
  (gradient accumulation: the visitor's batch size stays the step's batch).
- :func:`tie_embeddings`: the generator shares the discriminator's embeddings (token, position,
  token type and their LayerNorm), and its output layer stays tied to them (section 3.2).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from electra_demo.optional import lazy_module
from electra_demo.tasks.corrupt import draw
from electra_demo.text.processing import choose_words

if TYPE_CHECKING:
    import torch
else:
    torch = lazy_module("torch")

RTD_WEIGHT = 50.0  # lambda: the discriminator's loss weight in the paper


@dataclass
class Batch:
    """Padded token ids of a few texts, and which positions are special tokens or padding."""

    input_ids: torch.Tensor  # [rows, tokens]
    attention_mask: torch.Tensor  # 1 on real tokens, 0 on padding
    scored: torch.Tensor  # bool: real tokens that are not [CLS], [SEP] or another special token

    def to(self, device: Any) -> Batch:
        return Batch(self.input_ids.to(device), self.attention_mask.to(device), self.scored.to(device))


def encode(tokenizer: Any, texts: Sequence[str], max_length: int) -> list[list[int]]:
    """Each text's ids with [CLS] and [SEP], cut at ``max_length`` tokens; a typed "[SEP]" is text."""
    encoded = tokenizer(list(texts), truncation=True, max_length=max_length, split_special_tokens=True)
    return [list(ids) for ids in encoded["input_ids"]]


def pad(rows: Sequence[Sequence[int]], pad_id: int, special_ids: Sequence[int]) -> Batch:
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        attention[i, : len(row)] = 1
    special = torch.isin(ids, torch.tensor(sorted(set(special_ids)), dtype=torch.long))
    return Batch(ids, attention, attention.bool() & ~special)


def choose_masks(batch: Batch, fraction: float, seeds: Sequence[int]) -> torch.Tensor:
    """``fraction`` of each row's scored tokens (at least one), chosen by that row's seed."""
    masked = torch.zeros_like(batch.scored)
    for row, seed in enumerate(seeds):
        candidates = batch.scored[row].nonzero().flatten().tolist()
        masked[row, choose_words(candidates, fraction, seed)] = True
    return masked


def mask_seed(seed: int, step: int, row: int) -> int:
    """A row's masking seed: the run's seed, the step and the row (held-out texts use step 0)."""
    return (seed * 1_000_003 + step) * 1_000_003 + row


def masked_input(batch: Batch, masked: torch.Tensor, mask_id: int) -> torch.Tensor:
    return batch.input_ids.masked_fill(masked, mask_id)


def masked_logits(generator: Any, batch: Batch, masked: torch.Tensor, mask_id: int) -> torch.Tensor:
    """The generator's logits at the masked positions only (``[masked tokens, vocabulary]``), as
    ``ElectraForMaskedLM`` computes them: vocabulary-wide logits at every position would be six
    times larger (30,522 floats a token)."""
    hidden = generator.electra(
        input_ids=masked_input(batch, masked, mask_id), attention_mask=batch.attention_mask
    ).last_hidden_state
    return generator.generator_lm_head(generator.generator_predictions(hidden[masked]))


def replace(batch: Batch, masked: torch.Tensor, sampled: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The corrupted ids and the discriminator's labels (1: differs from the original)."""
    corrupted = batch.input_ids.clone()
    corrupted[masked] = sampled
    return corrupted, (corrupted != batch.input_ids).long()


def generator_loss(
    generator: Any,
    batch: Batch,
    masked: torch.Tensor,
    mask_id: int,
    banned: Sequence[int],
    sampler: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(mlm, sampled)``: the generator's MLM loss on the masked positions, and its replacements
    drawn from its softmax (no gradient through the sample)."""
    logits = masked_logits(generator, batch, masked, mask_id).float()  # fp32 under bf16 autocast too
    mlm = torch.nn.functional.cross_entropy(logits, batch.input_ids[masked])  # ElectraForMaskedLM's loss
    with torch.no_grad():
        sampled = draw(logits, banned, sampler)
    return mlm, sampled


def discriminator_loss(
    discriminator: Any, batch: Batch, masked: torch.Tensor, sampled: torch.Tensor
) -> torch.Tensor:
    """The discriminator's replaced-token loss on the text with ``sampled`` in the masked places."""
    corrupted, replaced = replace(batch, masked, sampled)
    return discriminator(input_ids=corrupted, attention_mask=batch.attention_mask, labels=replaced).loss


def losses(
    generator: Any,
    discriminator: Any,
    batch: Batch,
    masked: torch.Tensor,
    mask_id: int,
    banned: Sequence[int],
    sampler: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(total, mlm, rtd)`` for one batch: the joint loss to minimise and its two parts."""
    mlm, sampled = generator_loss(generator, batch, masked, mask_id, banned, sampler)
    rtd = discriminator_loss(discriminator, batch, masked, sampled)
    return mlm + RTD_WEIGHT * rtd, mlm, rtd


def backward(
    models: tuple[Any, Any, Any], part: Part, sampler: torch.Generator, autocast: Callable[[], Any]
) -> tuple[float, float]:
    """Add one micro-batch's gradients of ``share_mlm * mlm + RTD_WEIGHT * share_rtd * rtd`` (its
    share of the step's joint loss) to the models', in two backward passes: the generator's loss
    first, so that its activations are freed before the discriminator's forward pass, then the
    discriminator's. The sample carries no gradient, so the two losses meet only in the shared
    embeddings, whose gradients add: the same gradients as one backward pass of the sum
    (``tests/test_adapt_objective.py``), with the larger model's activations kept at a time
    instead of both models'. ``autocast``: the precision context of each forward pass. Returns
    the weighted ``(mlm, rtd)``."""
    tokenizer, generator, discriminator = models
    with autocast():
        mlm, sampled = generator_loss(
            generator, part.batch, part.masked, tokenizer.mask_token_id, tokenizer.all_special_ids, sampler
        )
    (part.share_mlm * mlm).backward()
    with autocast():
        rtd = discriminator_loss(discriminator, part.batch, part.masked, sampled)
    (RTD_WEIGHT * part.share_rtd * rtd).backward()
    return part.share_mlm * mlm.item(), part.share_rtd * rtd.item()


@dataclass
class Part:
    """A micro-batch of a step's batch, and its shares of the batch's masked tokens and of its
    real tokens: ``share_mlm * mlm + RTD_WEIGHT * share_rtd * rtd`` summed over the parts is the
    whole batch's loss (the MLM loss averages over masked tokens, the discriminator's over real
    ones), so accumulating their gradients gives the whole batch's."""

    batch: Batch
    masked: torch.Tensor
    share_mlm: float
    share_rtd: float


def split(batch: Batch, masked: torch.Tensor, size: int) -> list[Part]:
    """``batch`` (and its ``masked`` positions) in micro-batches of ``size`` rows, each cut to its
    longest row."""
    masked_total = max(int(masked.sum()), 1)
    real_total = max(int(batch.attention_mask.sum()), 1)
    parts = []
    for start in range(0, batch.input_ids.shape[0], size):
        rows = slice(start, start + size)
        width = int(batch.attention_mask[rows].sum(dim=1).max())
        ids, attention = batch.input_ids[rows, :width], batch.attention_mask[rows, :width]
        cut, mine = Batch(ids, attention, batch.scored[rows, :width]), masked[rows, :width]
        parts.append(Part(cut, mine, int(mine.sum()) / masked_total, int(attention.sum()) / real_total))
    return parts


def tie_embeddings(generator: Any, discriminator: Any) -> bool:
    """Share the discriminator's embedding layer with the generator (the generator's output layer
    follows); False, and nothing shared, when their shapes differ. The generator's own weights are
    copied out of its memory-mapped checkpoint, so that the file's pages, the replaced
    embeddings' among them, leave memory."""
    own, shared = generator.electra.embeddings, discriminator.electra.embeddings
    mine = {k: v.shape for k, v in own.state_dict().items()}
    theirs = {k: v.shape for k, v in shared.state_dict().items()}
    if mine != theirs:
        return False
    generator.electra.embeddings = shared
    generator.generator_lm_head.weight = shared.word_embeddings.weight
    kept = {id(t) for t in discriminator.state_dict(keep_vars=True).values()}
    with torch.no_grad():  # copied out of the checkpoint file, whose mapping then goes with the
        for tensor in generator.state_dict(keep_vars=True).values():  # replaced embeddings (90 MB)
            if id(tensor) not in kept:
                tensor.data = tensor.data.clone()
    return True


def parameter_groups(models: Sequence[Any], weight_decay: float) -> list[dict[str, Any]]:
    """Every trainable parameter once (shared ones too); no weight decay on biases and LayerNorm,
    as in ELECTRA's and transformers' optimisers."""
    seen: set[int] = set()
    decay, plain = [], []
    for model in models:
        for name, parameter in model.named_parameters():
            if id(parameter) in seen or not parameter.requires_grad:
                continue
            seen.add(id(parameter))
            (plain if name.endswith("bias") or "LayerNorm" in name else decay).append(parameter)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": plain, "weight_decay": 0.0}]
