"""One module per task, each in the shape of a transformers pipeline: ``preprocess`` (pure:
checks and tokens), one model call through the slot's backend and micro-batcher, ``postprocess``
(pure: scores to the result), and ``run(models, ...)`` that chains them.

A task reaches models only through :class:`~electra_demo.tasks.common.Models` (``load(slot)``),
which :class:`~electra_demo.service.ModelService` provides; tasks never import the service.
"""
