"""Fine-tuning on a visitor's own file (the Fine-tune tab): a classifier, an entity tagger or a reader.

- :mod:`.data` (pure): read a table upload, pick its columns, check the limits, split held-out rows.
- :mod:`.tag_data`, :mod:`.qa_data` (pure): read a tagging file (CoNLL, JSONL tokens/tags or
  spans) or a QA file (SQuAD JSON, JSONL), check it, split it.
- :mod:`.metrics`, :mod:`.tag_metrics` (pure): classification figures; entity-level figures as
  seqeval computes them.
- :mod:`.worker`, :mod:`.worker_tag`, :mod:`.worker_qa`: the training child processes
  (transformers' ``Trainer``), one per run; :mod:`.worker_common` holds what they share.
- :mod:`.jobs`: the server side: one training at a time, a bounded queue, cancel, time limit.
- :mod:`.store`: trained models on disk under ``ft-<hex>`` ids (TTL, least recently used first),
  served by :class:`~electra_demo.service.ModelService` like a registry slot.

Kinds of run (the hook for a new one): a run's plan names its ``task``; :data:`KINDS` maps the
task to the child module started as ``python -m <worker>`` (the events protocol is the same for
all, see :mod:`.worker_common`), to the transformers architecture its checkpoint has, and to
what the store calls such a model. A new kind is: one :class:`Kind` here, a plan object with
the methods :class:`~electra_demo.finetune.jobs.TrainingPlan` lists, and a worker module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MODEL_ID = re.compile(r"(?:ft|ad)-[0-9a-f]{12,}")  # "ft-" (or "ad-") and 12+ random hex characters


@dataclass(frozen=True)
class Kind:
    """One kind of training run."""

    task: str  # the plan's and the stored model's task
    worker: str  # the child's module: ``python -m <worker> SPEC.json``
    architecture: str  # config.AUTO_CLASSES key of its checkpoint
    noun: str  # what such a model is called in messages ("a fine-tuned <noun>")
    used_by: str  # where it can be used, for messages
    prefix: str = "ft-"  # its store id's prefix
    needs: tuple[str, ...] = ("accelerate",)  # optional modules its child imports (the Trainer's)


KINDS: dict[str, Kind] = {
    kind.task: kind
    for kind in (
        Kind(
            "classify",
            "electra_demo.finetune.worker",
            "sequence-classification",
            "classifier",
            "/classify, /batch (classify), /explain, /v1/classify and /v1/embeddings",
        ),
        Kind(
            "tag",
            "electra_demo.finetune.worker_tag",
            "token-classification",
            "entity tagger",
            "/tag, /batch (tag), /v1/tag and /v1/embeddings",
        ),
        Kind(
            "qa",
            "electra_demo.finetune.worker_qa",
            "question-answering",
            "reader (question answering)",
            "/answer, /batch (answer), /explain (qa), /v1/answer and /v1/embeddings",
        ),
        Kind(  # the Adapt tab (electra_demo.adapt): a discriminator, its generator in generator/
            "adapt",
            "electra_demo.adapt.worker",
            "pretraining",
            "adapted discriminator (ELECTRA's pre-training continued on your texts)",
            "/detect, /corrupt, /v1/detect, /v1/embeddings and as the base of a Fine-tune run",
            prefix="ad-",
            needs=(),  # its own training loop: no Trainer, no accelerate
        ),
    )
}


def is_model_id(name: object) -> bool:
    """Whether ``name`` has the shape of a fine-tuned model's id (it may still be unknown)."""
    return isinstance(name, str) and MODEL_ID.fullmatch(name) is not None
