"""Sequence classification with a fine-tuned head: every class with its probability.

A head is a registry slot (``sentiment``, ``emotion``, ``nli``) or a classifier a visitor
fine-tuned in the demo, named by its id (see :mod:`electra_demo.trained`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from electra_demo import config
from electra_demo.checks import InputError, check_choice, check_text
from electra_demo.config import Slot
from electra_demo.runtime.models import LoadedModel
from electra_demo.tasks.common import Resolving
from electra_demo.text.processing import sigmoid, softmax
from electra_demo.trained.kinds import is_model_id
from electra_demo.trained.require import require
from electra_demo.trained.store import UnknownModel, known_slot


@dataclass
class ClassifyResult:
    head: str
    labels: list[tuple[str, float]]  # highest first
    truncated: bool
    model: LoadedModel = field(repr=False)

    def to_json(self) -> dict:
        return {
            "head": self.head,
            "model": self.model.resolved.source,
            "labels": [{"label": label, "score": score} for label, score in self.labels],
            "truncated": self.truncated,
        }


def check_head(head: object) -> str:
    """A registry head, or something shaped like a trained model's id (checked on loading)."""
    if is_model_id(head):
        return str(head)
    return check_choice(head, config.CLASSIFY_HEADS, what="head")


def preprocess(
    head: object, text: object, text_pair: object, slot: Slot | None = None
) -> tuple[str, str, str | None]:
    """The head, the text and the second text (None for single-text heads), all checked.

    ``slot`` is the head's (from the service) for a fine-tuned head; without it, the process's
    fine-tuned models are looked up."""
    head = check_head(head)
    slot = slot or config.REGISTRY.get(head) or known_slot(head)
    if slot is None:
        raise UnknownModel(head)
    text = check_text(text, max_chars=config.MAX_TEXT_CHARS)
    pair = text_pair if isinstance(text_pair, str) and text_pair.strip() else None
    if slot.pair and pair is None:
        raise InputError(f"The {head} head compares two texts: please give the second one (text_pair).")
    if not slot.pair and pair is not None:
        pairs = ", ".join(n for n in config.CLASSIFY_HEADS if config.REGISTRY[n].pair)
        raise InputError(f"The {head} head reads one text; a second text (text_pair) is only for: {pairs}.")
    if pair is not None:
        check_text(pair, max_chars=config.MAX_TEXT_CHARS, what="second text")
    return head, text, pair


def tokenize(loaded: LoadedModel, text: str, pair: str | None) -> tuple[list[int], list[int], bool]:
    """Input ids and token types cut to the model's length, and whether anything was cut."""
    # split_special_tokens: a "[SEP]" typed by the user is text, not a separator (everywhere)
    full = loaded.tokenizer(text, pair, verbose=False, split_special_tokens=True)["input_ids"]
    inputs = loaded.tokenizer(
        text, pair, truncation=True, max_length=loaded.max_tokens, split_special_tokens=True
    )
    types = inputs.get("token_type_ids") or [0] * len(inputs["input_ids"])
    return inputs["input_ids"], types, len(full) > loaded.max_tokens


def postprocess(labels: list[str], logits: np.ndarray, multi_label: bool) -> list[tuple[str, float]]:
    """As transformers' text-classification pipeline: sigmoid for multi-label, else softmax;
    every class, highest first."""
    logits = np.asarray(logits, dtype=np.float32)
    scores = sigmoid(logits) if multi_label else softmax(logits)
    return sorted(zip(labels, scores.tolist(), strict=True), key=lambda x: -x[1])


def run(models: Resolving, head: str, text: str, text_pair: str | None = "") -> ClassifyResult:
    """Every class of a fine-tuned head with its probability, highest first."""
    checked = check_head(head)
    slot = None
    if is_model_id(checked):  # unknown: UnknownModel; a tagger or reader: WrongKind
        slot = models.resolve(require(models, checked, ("classify",), "/classify")).slot
    head, text, pair = preprocess(checked, text, text_pair, slot)
    loaded = models.load(head)
    ids, types, truncated = tokenize(loaded, text, pair)
    logits = loaded.batcher.run([(ids, types)])[0]["logits"]
    ranked = postprocess(loaded.labels, logits, loaded.multi_label)
    return ClassifyResult(head=head, labels=ranked, truncated=truncated, model=loaded)
