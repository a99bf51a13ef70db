"""``/v1/classify``'s body with zero-shot classification: the heads' fields
(:class:`electra_demo.api.schemas.ClassifyRequest`) and, for the models ``zero-shot`` (the
discriminator alone) and ``zero-shot-nli`` (the NLI head's entailment), the labels to score, the
template and the multi-label flag, named as in transformers' zero-shot pipeline.

The fields' own limits (2 to 20 labels, at most 100 characters each, one ``{}`` in the template)
are the page's checks (:mod:`electra_demo.tasks.zeroshot`), so both answer the same message.
"""

from __future__ import annotations

from pydantic import Field

from electra_demo.api import schemas
from electra_demo.tasks import zeroshot

MODELS = {"zero-shot": "rtd", "zero-shot-nli": "nli"}  # /v1/classify's zero-shot models -> method
OPTIONS = ("candidate_labels", "hypothesis_template", "multi_label")  # zero-shot's own fields
ONLY = "Zero-shot only (model zero-shot or zero-shot-nli)"


class ClassifyRequest(schemas.ClassifyRequest):
    """The heads' body (its ``model`` may also name a zero-shot model) with zero-shot's fields."""

    model: str = Field(
        description="A classification head: sentiment, emotion or nli (a slot name or its checkpoint id), "
        f"or the id of {schemas.FT.origin} ({schemas.FT.prefix}...; taken, though never listed); or "
        "zero-shot (the discriminator judges which label looks original) or zero-shot-nli (the NLI "
        "head's entailment, as transformers' zero-shot pipeline), with candidate_labels.",
        examples=["sentiment"],
    )
    candidate_labels: list[str] | None = Field(
        None,
        description=f"{ONLY}, and required there: the classes, {zeroshot.MIN_LABELS} to "
        f"{zeroshot.MAX_LABELS} labels, each at most {zeroshot.MAX_LABEL_CHARS} characters, all "
        "different (ignoring case). Each input must then be one text.",
        examples=[["sports", "politics", "science"]],
    )
    hypothesis_template: str | None = Field(
        None,
        description=f"{ONLY}: the sentence each label goes into, holding {{}} once where the label goes "
        f'(default "{zeroshot.DEFAULT_TEMPLATE}").',
    )
    multi_label: bool | None = Field(
        None,
        description=f"{ONLY}: false (default): the scores sum to 1 over the labels; true: each label "
        "is scored on its own.",
    )
