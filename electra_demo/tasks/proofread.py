"""Proofreading with ELECTRA's pair: the discriminator flags words, the generator proposes a word
for each, and the discriminator verifies every proposal in place.

For each flagged word (``replaced`` as in ``/detect``), separately: the word's tokens become one
[MASK], every other token stays as written, and the generator's ``top_k`` whole words at that
position are the proposals (its softmax over the whole vocabulary is their
``generator_probability``; word pieces ``##x``, special and ``[unused]`` tokens are never proposed).
A word of several pieces is masked the same way, with one [MASK]: a proposal is one vocabulary
word, whatever the length of the word it replaces. Each proposal is put in the text (the original
word's capitalisation kept) and the discriminator scores that text: ``replaced_probability`` is
the mean P(replaced) over the proposal's own tokens, exactly as ``/detect`` scores the new text.
Candidates are ordered by it, lowest first; one equal to the original (ignoring case and accents)
is left out. ``corrected`` applies, for every flagged word, its first candidate below the threshold.

At most :data:`MAX_SUGGESTED` flagged words (the most suspicious) get suggestions; the masked rows
of all of them go to the generator together, and the verifying rows to the discriminator together.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from electra_demo import config
from electra_demo.checks import check_int
from electra_demo.runtime.batching import Row
from electra_demo.runtime.models import LoadedModel
from electra_demo.tasks import detect
from electra_demo.tasks.common import encode, window_rows
from electra_demo.tasks.corrupt import PairModels
from electra_demo.text.processing import Span, apply_replacements, match_case, sigmoid, softmax

DEFAULT_TOP_K = 3
MAX_TOP_K = 10
MAX_SUGGESTED = 32  # flagged words that get suggestions, per request
MASKED_TOKENS = 2_048  # tokens of masked rows sent at once (30,522 logits a token come back)


@dataclass(frozen=True)
class Candidate:
    text: str
    generator_probability: float
    replaced_probability: float


@dataclass(frozen=True)
class Suggestion:
    start: int  # the flagged word, in the input
    end: int
    original: str
    candidates: tuple[Candidate, ...]  # lowest replaced_probability first

    def fix(self, threshold: float) -> Candidate | None:
        """The candidate ``corrected`` applies: the first one below ``threshold``, if any."""
        first = self.candidates[0] if self.candidates else None
        return first if first is not None and first.replaced_probability < threshold else None

    def to_json(self) -> dict:
        return {
            "start": self.start,
            "end": self.end,
            "original": self.original,
            "candidates": [asdict(c) for c in self.candidates],
        }


@dataclass
class ProofreadResult:
    detection: detect.DetectResult
    suggestions: list[Suggestion]
    corrected: str
    fixed: list[tuple[int, int]]  # the applied candidates' spans in ``corrected``
    flagged: int  # flagged words, all of them (only MAX_SUGGESTED get suggestions)
    generator: LoadedModel = field(repr=False)

    @property
    def limited(self) -> bool:
        return self.flagged > len(self.suggestions)

    def to_json(self) -> dict:
        return {
            "tokens": [t.to_json() for t in self.detection.tokens],
            "words": [w.to_json() for w in self.detection.words],
            "suggestions": [s.to_json() for s in self.suggestions],
            "corrected": self.corrected,
            "threshold": self.detection.threshold,
            "flagged": self.flagged,
            "limited": self.limited,
        }


# ---- pure steps ---------------------------------------------------------------------------------
def preprocess(text: object, threshold: object, top_k: object) -> tuple[str, float, int]:
    text, threshold = detect.preprocess(text, threshold)
    return text, threshold, check_int(top_k, 1, MAX_TOP_K, what="number of candidates (top_k)")


def pick(words: Sequence[Span], limit: int = MAX_SUGGESTED) -> tuple[list[int], int]:
    """The flagged words that get suggestions (the ``limit`` most suspicious, in text order) and
    how many were flagged."""
    flagged = [i for i, word in enumerate(words) if word.replaced]
    ranked = sorted(flagged, key=lambda i: -words[i].probability)  # stable: earlier first on ties
    return sorted(ranked[:limit]), len(flagged)


def mask_word(
    ids: Sequence[int], offsets: Sequence[tuple[int, int]], span: tuple[int, int], mask_id: int
) -> tuple[list[int], int] | None:
    """``ids`` with the tokens inside ``span`` (characters) replaced by one mask, and its position;
    None when no token is inside."""
    inside = [i for i, (s, e) in enumerate(offsets) if s < span[1] and e > span[0]]
    if not inside:
        return None
    return [*ids[: inside[0]], mask_id, *ids[inside[-1] + 1 :]], inside[0]


def top_words(logits: np.ndarray, allowed: np.ndarray, top_k: int) -> list[tuple[int, float]]:
    """The ``top_k`` allowed ids by the generator's logits, each with its softmax probability over
    the whole vocabulary."""
    scores = np.asarray(logits, dtype=np.float32)
    probabilities = softmax(scores)
    ranked = np.where(allowed[: len(scores)], scores, -np.inf)
    best = np.argsort(-ranked, kind="stable")[:top_k]
    return [(int(i), float(probabilities[i])) for i in best if np.isfinite(ranked[i])]


def proposals(
    tokens: Sequence[str], chances: Sequence[float], original: str, normalize: Callable[[str], str]
) -> list[tuple[str, float]]:
    """The generator's words as they go into the text (the original's capitalisation), without
    the original itself (ignoring case, and accents where the tokenizer strips them)."""
    out = []
    for token, chance in zip(tokens, chances, strict=True):
        word = match_case(token, original)
        if word.lower() != original.lower() and normalize(word) != normalize(original):
            out.append((word, chance))
    return out


def ranked(words: Sequence[tuple[str, float]], replaced: Sequence[float]) -> tuple[Candidate, ...]:
    """Candidates, lowest replaced_probability first (the generator's order on ties)."""
    found = [Candidate(w, p, r) for (w, p), r in zip(words, replaced, strict=True)]
    return tuple(sorted(found, key=lambda c: c.replaced_probability))


def correct(
    text: str, suggestions: Sequence[Suggestion], threshold: float
) -> tuple[str, list[tuple[int, int]]]:
    """``text`` with every suggestion's fix applied (words without one stay), and the fixes' spans."""
    fixes = [(s.start, s.end, fix.text) for s in suggestions if (fix := s.fix(threshold))]
    return apply_replacements(text, fixes)


def chunks(rows: Sequence[Row], limit: int) -> list[range]:
    """Consecutive rows, at most ``limit`` tokens a chunk (a longer row goes alone)."""
    out: list[range] = []
    start, size = 0, 0
    for i, (ids, _) in enumerate(rows):
        if i > start and size + len(ids) > limit:
            out.append(range(start, i))
            start, size = i, 0
        size += len(ids)
    if len(rows) > start:
        out.append(range(start, len(rows)))
    return out


# ---- the model calls ----------------------------------------------------------------------------
_WORDS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def word_ids(generator: LoadedModel) -> np.ndarray:
    """Which vocabulary ids stand alone as a word (not ``##x``, special or ``[unused]``)."""
    tokenizer = generator.tokenizer
    allowed = _WORDS.get(tokenizer)
    if allowed is None:
        tokens = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
        allowed = np.array(
            [not t.startswith("##") and not (len(t) > 2 and t[0] + t[-1] == "[]") for t in tokens]
        )
        allowed[[i for i in generator.special_ids if i < len(allowed)]] = False
        _WORDS[tokenizer] = allowed
    return allowed


def normalizer(loaded: LoadedModel) -> Callable[[str], str]:
    """The tokenizer's own normalisation (lower case, accents stripped for ELECTRA), else lower."""
    backend = getattr(loaded.tokenizer, "backend_tokenizer", None)
    normal = getattr(backend, "normalizer", None)
    return normal.normalize_str if normal is not None else str.lower


def propose(generator: LoadedModel, text: str, spans: Sequence[tuple[int, int]], top_k: int):
    """Each span's word masked on its own, in one pass of the generator (chunked by
    :data:`MASKED_TOKENS`): its top_k proposals ``[(word, generator_probability)]``."""
    ids, offsets, _ = encode(generator, text)
    rows: list[Row] = []
    places: list[tuple[int, int] | None] = []  # per span: its row, and the mask's place in it
    for span in spans:
        masked = mask_word(ids, offsets, span, generator.tokenizer.mask_token_id)
        if masked is None:
            places.append(None)
            continue
        found, ((_, _, at),) = window_rows(generator, masked[0], [masked[1]])
        places.append((len(rows), at))
        rows += found
    logits: dict[int, np.ndarray] = {}
    for chunk in chunks(rows, MASKED_TOKENS):
        outputs = generator.batcher.run([rows[r] for r in chunk])
        for place in places:
            if place is not None and place[0] in chunk:
                logits[place[0]] = outputs[place[0] - chunk.start]["logits"][place[1]].copy()
        del outputs
    allowed, normalize = word_ids(generator), normalizer(generator)
    out = []
    for span, place in zip(spans, places, strict=True):
        top = top_words(logits[place[0]], allowed, top_k) if place is not None else []
        tokens = generator.tokenizer.convert_ids_to_tokens([i for i, _ in top])
        out.append(proposals(tokens, [p for _, p in top], text[span[0] : span[1]], normalize))
    return out


def verify(
    discriminator: LoadedModel,
    text: str,
    spans: Sequence[tuple[int, int]],
    words: Sequence[Sequence[tuple[str, float]]],
) -> list[tuple[Candidate, ...]]:
    """Each proposal put in the text alone and scored by the discriminator, all in one pass:
    the mean P(replaced) over its tokens, as /detect scores the new text."""
    rows: list[Row] = []
    places: list[list[tuple[int, int]]] = []  # per proposal: (row, place) of each of its tokens
    for (start, end), proposed in zip(spans, words, strict=True):
        for word, _ in proposed:
            new_text, ((s, e),) = apply_replacements(text, [(start, end, word)])
            ids, offsets, _ = encode(discriminator, new_text)
            inside = [i for i, (a, b) in enumerate(offsets) if a < e and b > s]
            found, where = window_rows(discriminator, ids, inside)
            places.append([(len(rows) + row, at) for _, row, at in where])
            rows += found
    outputs = discriminator.batcher.run(rows)
    means = iter(
        float(np.mean(sigmoid(np.array([outputs[r]["logits"][at] for r, at in place], dtype=np.float32))))
        for place in places
    )
    return [ranked(proposed, [next(means) for _ in proposed]) for proposed in words]


def run(
    models: PairModels,
    text: str,
    threshold: float = config.DEFAULT_THRESHOLD,
    top_k: int = DEFAULT_TOP_K,
    model: str = "",
) -> ProofreadResult:
    """Proofread ``text``: the discriminator flags words (P(replaced) > threshold), the generator
    proposes ``top_k`` words for each, the discriminator verifies each in place; ``model``: an
    adapted pair's id (from the Adapt tab), else the registry's discriminator and generator."""
    text, threshold, top_k = preprocess(text, threshold, top_k)
    slot = detect.check_model(models, model, "/proofread")
    generator = models.load("generator") if slot == detect.SLOT else models.load_generator(slot)
    detection = detect.score(models, text, threshold, slot)
    chosen, flagged = pick(detection.words)
    spans = [(detection.words[i].start, detection.words[i].end) for i in chosen]
    proposed = propose(generator, text, spans, top_k) if spans else []
    checked = verify(detection.model, text, spans, proposed) if spans else []
    suggestions = [
        Suggestion(s, e, text[s:e], candidates) for (s, e), candidates in zip(spans, checked, strict=True)
    ]
    corrected, fixed = correct(text, suggestions, threshold)
    return ProofreadResult(detection, suggestions, corrected, fixed, flagged, generator)
