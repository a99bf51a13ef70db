"""The kinds of trained model: one table (:data:`KINDS`), and the id rules built from it.

A visitor's model is trained in the Fine-tune tab (a classifier, an entity tagger or a reader:
ids ``ft-<hex>``) or the Adapt tab (an adapted discriminator with its generator: ``ad-<hex>``).
Every path that takes a trained model asks this table: which prefix, which task, which child
trains it, which architecture its checkpoint has, where it serves, what the page calls it.
Adding a kind is one row here, its worker module and its tests.

Pure: no torch, no gradio, no store.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

HEX_CHARS = 12  # an id is its kind's prefix and at least this many lower-case hex characters
NEW_ID_BYTES = 8  # new ids get 16 random hex characters (secrets.token_hex)


@dataclass(frozen=True)
class Kind:
    """One kind of trained model."""

    task: str  # the plan's and the stored model's task (meta.json's "task")
    prefix: str  # its id's prefix
    worker: str  # the training child's module: ``python -m <worker> SPEC.json``
    architecture: str  # config.AUTO_CLASSES key of its checkpoint
    noun: str  # what such a model is called in messages ("a fine-tuned <noun>")
    tab: str  # the tab that trains it
    endpoints: tuple[str, ...]  # the page's and Gradio API's endpoints that take it
    routes: tuple[str, ...]  # the /v1 routes that take it
    label: str  # what the page's model menus call it ("Yours: <label> ...")
    needs: tuple[str, ...] = ("accelerate",)  # optional modules its child imports (the Trainer's)

    @property
    def used_by(self) -> str:
        """Where it can be used, for messages."""
        return ", ".join((*self.endpoints, *self.routes))


KINDS: dict[str, Kind] = {
    kind.task: kind
    for kind in (
        Kind(
            task="classify",
            prefix="ft-",
            worker="electra_demo.finetune.worker",
            architecture="sequence-classification",
            noun="classifier",
            tab="Fine-tune",
            endpoints=("/classify", "/batch (classify)", "/explain"),
            routes=("/v1/classify", "/v1/embeddings"),
            label="classifier",
        ),
        Kind(
            task="tag",
            prefix="ft-",
            worker="electra_demo.finetune.worker_tag",
            architecture="token-classification",
            noun="entity tagger",
            tab="Fine-tune",
            endpoints=("/tag", "/batch (tag)"),
            routes=("/v1/tag", "/v1/embeddings"),
            label="tagger",
        ),
        Kind(
            task="qa",
            prefix="ft-",
            worker="electra_demo.finetune.worker_qa",
            architecture="question-answering",
            noun="reader (question answering)",
            tab="Fine-tune",
            endpoints=("/answer", "/batch (answer)", "/explain (qa)"),
            routes=("/v1/answer", "/v1/embeddings"),
            label="reader",
        ),
        Kind(  # the Adapt tab: a discriminator, its generator in the checkpoint's generator/
            task="adapt",
            prefix="ad-",
            worker="electra_demo.adapt.worker",
            architecture="pretraining",
            noun="adapted discriminator (ELECTRA's pre-training continued on your texts)",
            tab="Adapt",
            endpoints=("/detect", "/corrupt", "as the base of a Fine-tune run"),
            routes=("/v1/detect", "/v1/embeddings"),
            label="adapted",
            needs=(),  # its own training loop: no Trainer, no accelerate
        ),
    )
}

PREFIXES: tuple[str, ...] = tuple(dict.fromkeys(kind.prefix for kind in KINDS.values()))
MODEL_ID = re.compile("(?:" + "|".join(re.escape(p) for p in PREFIXES) + f")[0-9a-f]{{{HEX_CHARS},}}")


def is_model_id(name: object) -> bool:
    """Whether ``name`` has the shape of a trained model's id (it may still be unknown)."""
    return isinstance(name, str) and MODEL_ID.fullmatch(name) is not None


def id_pattern(*tasks: str) -> str:
    """A regular expression (no anchors) for the ids of the kinds ``tasks`` (all kinds: none)."""
    prefixes = dict.fromkeys(KINDS[t].prefix for t in (tasks or KINDS))
    return "(?:" + "|".join(re.escape(p) for p in prefixes) + f")[0-9a-f]{{{HEX_CHARS},}}"


def kinds_for_id(name: object) -> tuple[Kind, ...]:
    """The kinds whose ids look like ``name`` (by prefix; the store knows which one it is)."""
    if not is_model_id(name):
        return ()
    return tuple(kind for kind in KINDS.values() if str(name).startswith(kind.prefix))


def new_id(task: str) -> str:
    """A fresh random id for a model of kind ``task``."""
    return KINDS[task].prefix + secrets.token_hex(NEW_ID_BYTES)
