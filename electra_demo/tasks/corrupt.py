"""ELECTRA's training signal: mask words, let the generator sample replacements, then ask the
discriminator which tokens of the corrupted text were replaced."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from electra_demo import config
from electra_demo.checks import check_probability, check_seed, check_text
from electra_demo.optional import lazy_module
from electra_demo.runtime.models import LoadedModel
from electra_demo.tasks import detect
from electra_demo.tasks.common import Resolving, encode, token_logits
from electra_demo.text.processing import (
    apply_replacements,
    choose_words,
    join_wordpieces,
    maskable_words,
    match_case,
    overlaps,
    precision_recall_f1,
    roc_auc,
    word_groups,
)

if TYPE_CHECKING:
    import torch
else:
    torch = lazy_module("torch")

SAMPLE_CHUNK_TOKENS = 256  # masked tokens whose vocabulary-wide logits are held at once


@dataclass(frozen=True)
class Replacement:
    start: int  # in the corrupted text
    end: int
    original: str
    replacement: str
    original_start: int  # in the original text
    original_end: int


@dataclass
class CorruptResult:
    original: str
    corrupted: str
    fraction: float
    seed: int
    replacements: list[Replacement]
    unchanged: list[tuple[int, int]]  # words whose sample equalled the original (original text)
    detection: detect.DetectResult
    truth: list[bool]  # per token of the corrupted text: inside a replacement
    metrics: dict[str, float | None]
    generator: LoadedModel = field(repr=False)

    def to_json(self) -> dict:
        return {
            "original": self.original,
            "corrupted": self.corrupted,
            "replacements": [
                {"start": r.start, "end": r.end, "original": r.original, "replacement": r.replacement}
                for r in self.replacements
            ],
            "tokens": [t.to_json() for t in self.detection.tokens],
            "metrics": self.metrics,
        }


@dataclass
class Plan:
    """Which words are masked: token ids, each word's tokens and span, the chosen words."""

    ids: list[int]
    groups: list[list[int]]
    word_spans: list[tuple[int, int]]
    chosen: list[int]


class PairModels(Resolving, Protocol):
    """The service, which also loads an adapted model's own generator."""

    def load_generator(self, name: str) -> LoadedModel: ...


def preprocess(text: object, fraction: object, seed: object) -> tuple[str, float, int]:
    return (
        check_text(text, max_chars=config.MAX_TEXT_CHARS),
        check_probability(fraction, what="fraction of words to corrupt"),
        check_seed(seed),
    )


def plan(generator: LoadedModel, text: str, fraction: float, seed: int) -> Plan:
    ids, offsets, word_ids = encode(generator, text)
    groups = word_groups(word_ids)
    word_spans = [(offsets[g[0]][0], offsets[g[-1]][1]) for g in groups]
    return Plan(ids, groups, word_spans, choose_words(maskable_words(text, word_spans), fraction, seed))


def sample(generator: LoadedModel, words: Plan, seed: int) -> dict[int, list[int]]:
    """The generator's sample for every piece of every chosen word (special tokens excluded)."""
    masked = list(words.ids)
    for w in words.chosen:
        for i in words.groups[w]:
            masked[i] = generator.tokenizer.mask_token_id
    sampler = torch.Generator().manual_seed(seed)
    samples: dict[int, list[int]] = {}
    # vocabulary-wide logits are big (30,522 floats a token): sample a bounded group of
    # words at a time, in order, so memory stays flat and the seed gives the same draws
    for group in word_chunks(words.chosen, words.groups, SAMPLE_CHUNK_TOKENS):
        logits = token_logits(generator, masked, [i for w in group for i in words.groups[w]])
        for w in group:
            rows = [torch.from_numpy(logits[i].copy())[None] for i in words.groups[w]]
            samples[w] = [int(draw(row, generator.special_ids, sampler)[0]) for row in rows]
        del logits
    return samples


def draw(logits: torch.Tensor, banned: Sequence[int], sampler: torch.Generator) -> torch.Tensor:
    """One token a row of ``logits`` (``[rows, vocabulary]``), sampled from the generator's
    softmax (temperature 1) with the special tokens banned: ELECTRA's replacements. The Adapt
    tab's training samples with this too; ``sampler`` is on the logits' device."""
    scores = logits.detach().float().clone()
    ids = torch.as_tensor(list(banned), dtype=torch.long, device=scores.device)
    scores[:, ids[ids < scores.shape[-1]]] = float("-inf")
    return torch.multinomial(torch.softmax(scores, dim=-1), 1, generator=sampler).squeeze(-1)


def edits(generator: LoadedModel, text: str, words: Plan, samples: dict[int, list[int]]):
    """The replacements to make, the unchanged words, and the replaced words' original spans."""
    tokenizer = generator.tokenizer
    changes: list[tuple[int, int, str]] = []
    unchanged: list[tuple[int, int]] = []
    originals: list[tuple[int, int]] = []
    for w in words.chosen:
        start, end = words.word_spans[w]
        new = match_case(join_wordpieces(tokenizer.convert_ids_to_tokens(samples[w])), text[start:end])
        same_ids = tokenizer(new, add_special_tokens=False, split_special_tokens=True)["input_ids"] == [
            words.ids[i] for i in words.groups[w]
        ]
        if same_ids or not new:
            unchanged.append((start, end))  # ELECTRA counts a sample equal to the original as real
        else:
            changes.append((start, end, new))
            originals.append((start, end))
    return changes, unchanged, originals


def metrics(detection: detect.DetectResult, spans: Sequence[tuple[int, int]]):
    """Per-token truth (inside a replacement) and the discriminator's scores against it."""
    truth = [overlaps((t.start, t.end), spans) for t in detection.tokens]
    precision, recall, f1 = precision_recall_f1(truth, [t.replaced for t in detection.tokens])
    auc = roc_auc(truth, [t.probability for t in detection.tokens])
    return truth, {"precision": precision, "recall": recall, "f1": f1, "auc": auc}


def run(
    models: PairModels,
    text: str,
    fraction: float = config.DEFAULT_FRACTION,
    seed: int = config.DEFAULT_SEED,
    model: str = "",
) -> CorruptResult:
    """ELECTRA's training signal: mask words, let the generator sample replacements, then
    ask the discriminator which tokens of the corrupted text were replaced. ``model``: an
    adapted model's id (from the Adapt tab): its own generator and discriminator, else the registry's."""
    text, fraction, seed = preprocess(text, fraction, seed)
    slot = detect.check_model(models, model, "/corrupt")
    generator = models.load("generator") if slot == detect.SLOT else models.load_generator(slot)
    models.load(slot)  # fail before sampling if the second model is missing
    words = plan(generator, text, fraction, seed)
    changes, unchanged, originals = edits(generator, text, words, sample(generator, words, seed))
    corrupted, new_spans = apply_replacements(text, changes)
    replacements = [
        Replacement(s, e, text[os_:oe], corrupted[s:e], os_, oe)
        for (s, e), (os_, oe) in zip(new_spans, originals, strict=True)
    ]
    detection = detect.score(models, corrupted, config.DEFAULT_THRESHOLD, slot)
    truth, scores = metrics(detection, new_spans)
    return CorruptResult(
        original=text,
        corrupted=corrupted,
        fraction=fraction,
        seed=seed,
        replacements=replacements,
        unchanged=unchanged,
        detection=detection,
        truth=truth,
        metrics=scores,
        generator=generator,
    )


def word_chunks(chosen: Sequence[int], groups: Sequence[Sequence[int]], limit: int) -> Iterator[list[int]]:
    """Consecutive chosen words, at most ``limit`` tokens a chunk (a longer word goes alone)."""
    chunk: list[int] = []
    size = 0
    for w in chosen:
        if chunk and size + len(groups[w]) > limit:
            yield chunk
            chunk, size = [], 0
        chunk.append(w)
        size += len(groups[w])
    if chunk:
        yield chunk
