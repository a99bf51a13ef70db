"""Zero-shot classification on ``/v1/classify``: ``"model": "zero-shot"`` (the discriminator
alone) or ``"zero-shot-nli"`` (the NLI head's entailment) with ``candidate_labels``, answered in
vLLM's classify shape, the labels as the classes (``probs`` in the order given).

The page's checks and steps (:mod:`electra_demo.tasks.zeroshot`), unchanged: every input's every
label goes to the slot's micro-batcher in one call. A bad field is a 400 naming it.
"""

from __future__ import annotations

from typing import Any

from electra_demo import config
from electra_demo.api import runs
from electra_demo.api.errors import ApiError, describe
from electra_demo.api.schemas_zeroshot import MODELS, OPTIONS, ClassifyRequest
from electra_demo.checks import InputError, check_text
from electra_demo.service import ModelService
from electra_demo.tasks import zeroshot
from electra_demo.tasks.explain_inputs import FieldError


def slot(request: ClassifyRequest) -> str:
    """The registry slot a zero-shot model runs on (for the random-weights warning)."""
    return zeroshot.SLOTS[MODELS[request.model]]


def refuse_options(request: ClassifyRequest) -> None:
    """A head's request holds none of zero-shot's fields: each is a 400 naming it."""
    for name in OPTIONS:
        if getattr(request, name) is not None:
            raise ApiError(
                400,
                f"'{name}' is only for the zero-shot models ({', '.join(MODELS)}); the model "
                f"{describe(request.model)} is a head with its own classes.",
                param=name,
            )


def texts(request: ClassifyRequest) -> list[str]:
    """Each input, one text (a pair is a head's input), checked as the page checks it."""
    listed = isinstance(request.input, list)
    out = []
    for index, item in enumerate(runs.as_list(request.input)):
        where = f"input[{index}]" if listed else "input"
        if not isinstance(item, str):
            raise FieldError(where, f"{where}: the zero-shot models read one text an input, not a pair.")
        try:
            out.append(check_text(item, max_chars=config.MAX_TEXT_CHARS))
        except InputError as error:
            raise FieldError(where, f"{where}: {error}" if listed else str(error)) from None
    return out


def classify(service: ModelService, request: ClassifyRequest) -> dict[str, Any]:
    """vLLM's classify reply for a zero-shot model; the scores are the page's ``/zeroshot``."""
    for name in ("truncate_prompt_tokens", "raw_scores"):
        if getattr(request, name, None) not in (None, False):
            raise FieldError(
                name,
                f"{name} is only for the heads: the zero-shot models cut the end of a text that does "
                "not fit with a filled template (as the page does) and answer probabilities.",
            )
    if request.candidate_labels is None:
        raise FieldError(
            "candidate_labels",
            f"The zero-shot models need candidate_labels: a list of {zeroshot.MIN_LABELS} to "
            f"{zeroshot.MAX_LABELS} labels.",
        )
    labels = zeroshot.check_labels(request.candidate_labels)
    template = request.hypothesis_template
    template = zeroshot.check_template(zeroshot.DEFAULT_TEMPLATE if template is None else template)
    inputs, method = texts(request), MODELS[request.model]
    loaded = service.load(slot(request))
    answers = zeroshot.score(loaded, inputs, labels, template, method, bool(request.multi_label))
    tokens = sum(answer.tokens for answer in answers)
    return runs.classify_reply(loaded.resolved.source, labels, [a.labels for a in answers], tokens)
