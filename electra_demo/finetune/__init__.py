"""Fine-tuning a classification head on a visitor's own labelled file (the Fine-tune tab).

- :mod:`.data` (pure): read the upload, pick the columns, check the limits, split held-out rows.
- :mod:`.metrics` (pure, NumPy): accuracy, macro-F1, per-class figures and the confusion matrix.
- :mod:`.worker`: the training child process (transformers' ``Trainer``), one per run.
- :mod:`.jobs`: the server side: one training at a time, a bounded queue, cancel, time limit.
- :mod:`.store`: trained models on disk under ``ft-<hex>`` ids (TTL, least recently used first),
  served by :class:`~electra_demo.service.ModelService` like a registry slot.
"""

from __future__ import annotations

import re

MODEL_ID = re.compile(r"ft-[0-9a-f]{12,}")  # "ft-" and at least 12 random hex characters


def is_model_id(name: object) -> bool:
    """Whether ``name`` has the shape of a fine-tuned model's id (it may still be unknown)."""
    return isinstance(name, str) and MODEL_ID.fullmatch(name) is not None
