"""Fine-tuning on a visitor's own file (the Fine-tune tab): a classifier, an entity tagger or a reader.

- :mod:`.data` (pure): read a table upload, pick its columns, check the limits, split held-out rows.
- :mod:`.tag_data`, :mod:`.qa_data` (pure): read a tagging file (CoNLL, JSONL tokens/tags or
  spans) or a QA file (SQuAD JSON, JSONL), check it, split it.
- :mod:`.metrics`, :mod:`.tag_metrics` (pure): classification figures; entity-level figures as
  seqeval computes them.
- :mod:`.worker`, :mod:`.worker_tag`, :mod:`.worker_qa`: the training child processes
  (transformers' ``Trainer``), one per run; :mod:`.worker_common` holds what they share.
- :mod:`.jobs`: the server side: one training at a time, a bounded queue, cancel, time limit.
- :mod:`electra_demo.trained.store`: trained models on disk under their ids (TTL, least recently
  used first), served by :class:`~electra_demo.service.ModelService` like a registry slot.

Kinds of run (the hook for a new one): a run's plan names its ``task``;
:data:`electra_demo.trained.kinds.KINDS` maps the task to the child module started as
``python -m <worker>`` (the events protocol is the same for all, see :mod:`.worker_common`), to
the transformers architecture its checkpoint has, to its ids' prefix and to where it serves. A
new kind is: one row there, a plan object with the methods
:class:`~electra_demo.finetune.data.TrainingPlan` lists, and a worker module.
"""
