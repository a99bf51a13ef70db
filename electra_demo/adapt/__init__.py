"""Adapt: continue ELECTRA's own pre-training (replaced-token detection) on a visitor's texts.

- :mod:`.data` (pure): read the upload (TXT, CSV/TSV, JSONL), pick the text column, check the
  limits and settings, hold texts out.
- :mod:`.objective`: ELECTRA's objective on tensors (masking, the generator's MLM loss and sampled
  replacements, the discriminator's loss with weight 50, tied embeddings).
- :mod:`.evaluate`: the held-out texts corrupted once by the original generator, and the figures
  (replaced-token ROC AUC and F1, generator MLM accuracy) before and after.
- :mod:`.worker`: the training child (``python -m electra_demo.adapt.worker SPEC.json``), on the
  Fine-tune machinery (:mod:`electra_demo.finetune.jobs`: queue, cancel, time limit, store).
- :mod:`.plan`: a checked request as a training run; :mod:`.card`, :mod:`.views`: the model card
  and what the tab shows.

Adapted models live in the Fine-tune store (:mod:`electra_demo.trained`, kind ``adapt``): the
discriminator at the checkpoint's top, its generator in ``generator/``.
"""

from __future__ import annotations

GENERATOR = "generator"  # the generator's sub-folder of an adapted checkpoint
