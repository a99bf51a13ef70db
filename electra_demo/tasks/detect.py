"""Replaced-token detection: P(replaced) for every token and word of a text."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from electra_demo import config
from electra_demo.checks import check_probability, check_text
from electra_demo.runtime.models import LoadedModel
from electra_demo.tasks.common import Encoding, Models, Resolving, encode, token_logits
from electra_demo.text.processing import Span, merge_words, sigmoid, token_spans, word_groups
from electra_demo.trained.require import require

SLOT = "discriminator"


@dataclass
class DetectResult:
    text: str
    threshold: float
    tokens: list[Span]
    words: list[Span]
    model: LoadedModel = field(repr=False)

    def to_json(self) -> dict:
        return {
            "tokens": [t.to_json() for t in self.tokens],
            "words": [w.to_json() for w in self.words],
            "threshold": self.threshold,
        }


def preprocess(text: object, threshold: object) -> tuple[str, float]:
    return check_text(text, max_chars=config.MAX_TEXT_CHARS), check_probability(threshold, what="threshold")


def check_model(models: Resolving, model: object, where: str = "/detect") -> str:
    """The slot to load: ``""`` (or None) is the registry's discriminator; else the id of a model
    adapted in the Adapt tab (unknown or expired: UnknownModel; another kind: WrongKind)."""
    return require(models, model, ("adapt",), where, default=SLOT)


def postprocess(text: str, encoding: Encoding, logits: np.ndarray, threshold: float) -> tuple[list, list]:
    """Token and word spans from the replaced logits (one per token, in order)."""
    _, offsets, word_ids = encoding
    probabilities = sigmoid(np.asarray(logits, dtype=np.float32)).tolist()
    tokens = token_spans(text, offsets, probabilities, threshold)
    return tokens, merge_words(text, tokens, word_groups(word_ids), threshold)


def score(models: Models, text: str, threshold: float, slot: str = SLOT) -> DetectResult:
    """Score a checked text (or one the generator made, which may outgrow the user limit) with the
    discriminator ``slot`` (the registry's, or a checked adapted model's id)."""
    loaded = models.load(slot)
    encoding = encode(loaded, text)
    logits = token_logits(loaded, encoding[0])
    stacked = np.asarray([logits[i] for i in range(len(encoding[0]))], dtype=np.float32)
    tokens, words = postprocess(text, encoding, stacked, threshold)
    return DetectResult(text=text, threshold=threshold, tokens=tokens, words=words, model=loaded)


def run(
    models: Resolving, text: str, threshold: float = config.DEFAULT_THRESHOLD, model: str = ""
) -> DetectResult:
    """Replaced-token detection: P(replaced) for every token and word of ``text``; ``model``: an
    adapted discriminator's id (from the Adapt tab), else the registry's."""
    slot = check_model(models, model)
    return score(models, *preprocess(text, threshold), slot)
