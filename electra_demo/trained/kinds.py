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
    noun: str  # what its model card calls it ("your <noun>, fine-tuned in this demo from ...")
    tab: str  # the tab that trains it
    endpoints: tuple[str, ...]  # the page's and Gradio API's endpoints that take it
    routes: tuple[str, ...]  # the /v1 routes that take it
    label: str  # what a menu offering several kinds calls it ("Yours (<label>): ...")
    called: str  # what messages call such a model ("a fine-tuned classifier")
    made: str = "fine-tuned"  # what its tab does to a model ("<made> models are kept ...")
    origin: str = "a model trained in the Fine-tune tab"  # where such a model comes from
    needs: tuple[str, ...] = ("accelerate",)  # optional modules its child imports (the Trainer's)

    @property
    def used_by(self) -> str:
        """Where it can be used, for messages: the endpoints and routes, then any other use."""
        uses = (*self.endpoints, *self.routes)
        return ", ".join(sorted(uses, key=lambda use: not use.startswith("/")))  # stable: paths first


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
            called="a fine-tuned classifier",
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
            called="a fine-tuned entity tagger",
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
            called="a fine-tuned reader (question answering)",
        ),
        Kind(  # the Adapt tab: a discriminator, its generator in the checkpoint's generator/
            task="adapt",
            prefix="ad-",
            worker="electra_demo.adapt.worker",
            architecture="pretraining",
            noun="adapted discriminator (ELECTRA's pre-training continued on your texts)",
            tab="Adapt",
            endpoints=("/detect", "/corrupt", "/proofread", "as the base of a Fine-tune run"),
            routes=("/v1/detect", "/v1/proofread", "/v1/embeddings"),
            label="adapted",
            called="an adapted discriminator",
            made="adapted",
            origin="a model adapted in the Adapt tab",
            needs=(),  # its own training loop: no Trainer, no accelerate
        ),
    )
}

PREFIXES: tuple[str, ...] = tuple(dict.fromkeys(kind.prefix for kind in KINDS.values()))
if not all(re.fullmatch("[a-z]+-", prefix) for prefix in PREFIXES):  # the same in Python's and ECMA's regexes
    raise ValueError(f"a kind's prefix must be lower-case letters and a dash; got {PREFIXES}")


def id_pattern(*tasks: str) -> str:
    """A regular expression (no anchors) for the ids of the kinds ``tasks`` (all kinds: none)."""
    prefixes = dict.fromkeys(KINDS[t].prefix for t in (tasks or KINDS))
    return "(?:" + "|".join(prefixes) + f")[0-9a-f]{{{HEX_CHARS},}}"


MODEL_ID = re.compile(id_pattern())  # any kind's prefix and at least HEX_CHARS hex characters


def is_model_id(name: object) -> bool:
    """Whether ``name`` has the shape of a trained model's id (it may still be unknown)."""
    return isinstance(name, str) and MODEL_ID.fullmatch(name) is not None


def kinds_for_id(name: object) -> tuple[Kind, ...]:
    """The kinds whose ids look like ``name`` (by prefix; the store knows which one it is)."""
    if not is_model_id(name):
        return ()
    return tuple(kind for kind in KINDS.values() if str(name).startswith(kind.prefix))


def looks_like(name: object, *tasks: str) -> bool:
    """Whether ``name`` has the shape of an id of one of the kinds ``tasks`` (it may be another
    kind with the same prefix, or unknown: the store decides)."""
    return any(kind.task in tasks for kind in kinds_for_id(name))


def serving(where: str) -> tuple[str, ...]:
    """The kinds that serve at ``where`` (an endpoint such as ``"/batch (tag)"`` or a /v1 route)."""
    return tuple(kind.task for kind in KINDS.values() if where in (*kind.endpoints, *kind.routes))


def called(tasks: tuple[str, ...]) -> str:
    """What a message calls a model of one of the kinds ``tasks`` ("a fine-tuned classifier or ...")."""
    return " or ".join(KINDS[task].called for task in tasks)


def new_id(task: str) -> str:
    """A fresh random id for a model of kind ``task``."""
    return KINDS[task].prefix + secrets.token_hex(NEW_ID_BYTES)
