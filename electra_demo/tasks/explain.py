"""Explain a model output: which input tokens pushed it up or down (gradient x input, or
integrated gradients through Captum).

The explained quantity f is a logit, before softmax or sigmoid: the target label's logit for a
classification head (``sentiment``, ``emotion``, ``nli``, a classifier fine-tuned in the demo), the
target token's replaced logit for ``detect``, start logit + end logit of the target span for
``qa``. The target is fixed before attributing: the model's own pick by default (for ``qa``, the
QA task's best answer span), or the one the caller names. Attributions are taken at the output of
the word-embedding lookup (:mod:`electra_demo.tasks.salience`) and summed over its dimensions.

Gradients need PyTorch weights: ``models.load_torch(slot)`` gives the slot's PyTorch model even
where ONNX Runtime serves its predictions (a second copy, loaded once).
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from electra_demo import config
from electra_demo.checks import InputError, check_int, check_text
from electra_demo.config import ResolvedSlot
from electra_demo.runtime.models import LoadedModel
from electra_demo.tasks import salience
from electra_demo.tasks.answer import AnswerResult
from electra_demo.tasks.explain_inputs import (
    FieldError,
    Inputs,
    Piece,
    Target,
    encode,
    encode_qa,
    find_span,
    find_token,
    label_target,
    most_replaced,
    pieces,
)
from electra_demo.tasks.rerank import check_query_tokens
from electra_demo.text.processing import sigmoid, softmax
from electra_demo.trained.kinds import KINDS, is_model_id
from electra_demo.trained.require import require
from electra_demo.trained.store import known_slot

Cancelled = salience.Cancelled
TASKS = ("sentiment", "emotion", "nli", "detect", "qa", "rerank")  # rerank: query + passage
METHODS = ("gradient_x_input", "integrated_gradients")
DEFAULT_METHOD = "gradient_x_input"
DEFAULT_STEPS = 32
MAX_STEPS = 256
MAX_TARGET_CHARS = 1_000
KINDS_EXPLAINED = ("classify", "qa")  # the trained models it explains (a reader: as qa)
SLOTS = {"detect": "discriminator", "qa": "qa"}  # the others are their own slot
CONCURRENT = 2  # explanations at once: each holds a backward pass's activations
_running = threading.BoundedSemaphore(CONCURRENT)


class ExplainModels(Protocol):
    """What the explainer needs from the service."""

    def resolve(self, name: str) -> ResolvedSlot: ...

    def load_torch(self, name: str) -> LoadedModel: ...

    def answer(self, question: str, context: str, **options: Any) -> AnswerResult: ...


@dataclass(frozen=True)
class Request:
    task: str
    slot: str
    kind: str  # "classify", "detect" or "qa"
    text: str
    pair: str | None
    target: str
    method: str
    steps: int


@dataclass
class ExplainResult:
    task: str
    method: str
    steps: int | None  # None for gradient x input
    target: Target
    score: float
    baseline_score: float | None
    delta: float | None
    truncated: bool
    tokens: list[Piece]
    words: list[Piece]
    sources: tuple[str, str]  # the texts the offsets point into: (text, text_pair)
    covered: tuple[tuple[int, int], tuple[int, int]]  # characters of each source the window reads
    model: LoadedModel = field(repr=False)

    def to_json(self) -> dict:
        return {
            "task": self.task,
            "model": self.model.resolved.source,
            "method": self.method,
            "steps": self.steps,
            "target": dict(self.target.json),
            "score": self.score,
            "baseline_score": self.baseline_score,
            "delta": self.delta,
            "truncated": self.truncated,
            "tokens": [t.to_json() for t in self.tokens],
            "words": [w.to_json() for w in self.words],
        }


# ---- preprocess (pure) ------------------------------------------------------------------------
def is_task(task: object) -> bool:
    """One of :data:`TASKS`, or shaped like a trained model's id (its kind is checked on loading)."""
    return task in TASKS or is_model_id(task)


def check_task(task: object) -> str:
    if isinstance(task, str) and is_task(task):
        return task
    raise FieldError(
        "task",
        f"Unknown task {_named(task)}; expected one of: {', '.join(TASKS)}, or a fine-tuned head's id "
        f"({KINDS['classify'].prefix}...).",
    )


def preprocess(
    task: object, text: object, text_pair: object, target: object, method: object, steps: object
) -> Request:
    """Every argument checked, with messages naming what was expected and what came."""
    task = check_task(task)
    kind = "qa" if task == "qa" else "detect" if task == "detect" else "classify"
    known = known_slot(task) if is_model_id(task) else None
    if known is not None and known.kind == "qa":
        kind = "qa"  # a reader fine-tuned in the demo: the qa task's meaning
    if method not in METHODS:
        raise FieldError("method", f"Unknown method {_named(method)}; expected one of: {', '.join(METHODS)}.")
    if isinstance(steps, bool) or not isinstance(steps, (int, float)):
        raise FieldError("steps", f"steps must be a whole number from 1 to {MAX_STEPS}; got {_kind(steps)}.")
    try:
        steps = check_int(steps, 1, MAX_STEPS, what="number of steps (steps)")
    except InputError as error:
        raise FieldError("steps", str(error)) from None
    target = "" if target is None else target
    if not isinstance(target, str):
        raise FieldError(
            "target", f"The target must be a string (empty: the model's own pick); got {_kind(target)}."
        )
    if len(target) > MAX_TARGET_CHARS:
        raise FieldError(
            "target", f"The target is {len(target):,} characters long; the limit is {MAX_TARGET_CHARS:,}."
        )
    if kind == "qa":
        text = _checked("text", text, config.MAX_QUESTION_CHARS, "question")
        pair = _checked("text_pair", text_pair, config.MAX_CONTEXT_CHARS, "context")
    else:
        text = _checked("text", text, config.MAX_TEXT_CHARS, "text")
        given = isinstance(text_pair, str) and bool(text_pair.strip())
        pair = _checked("text_pair", text_pair, config.MAX_TEXT_CHARS, "second text") if given else None
        if task in ("nli", "rerank") and pair is None:
            second = "the passage" if task == "rerank" else "the hypothesis"
            raise FieldError(
                "text_pair", f"The {task} task compares two texts: please give {second} (text_pair)."
            )
        if task in ("sentiment", "emotion", "detect") and pair is not None:
            raise FieldError(
                "text_pair",
                f"The {task} task reads one text; a second text (text_pair) is only for nli, rerank and qa.",
            )
    return Request(task, SLOTS.get(task, task), kind, text, pair, target.strip(), method, steps)


def _checked(name: str, value: object, limit: int, what: str) -> str:
    try:
        return check_text(value, max_chars=limit, what=what)
    except InputError as error:
        raise FieldError(name, str(error)) from None


def _named(value: object) -> str:
    """A bad choice named without echoing arbitrary text (only short identifiers are quoted)."""
    if isinstance(value, str) and value.replace("-", "_").isidentifier() and len(value) <= 40:
        return repr(value)
    return _kind(value)


def _kind(value: object) -> str:
    if isinstance(value, str):
        return f"a text of {len(value)} characters"
    if isinstance(value, float):
        return f"{value:g}"
    return f"a value of type {type(value).__name__}"


# ---- the model and the target -----------------------------------------------------------------
def load(models: ExplainModels, request: Request) -> LoadedModel:
    """The slot's PyTorch model; a fine-tuned head is looked up first (unknown: a clear error)."""
    if is_model_id(request.task):
        try:  # unknown or expired, or another kind (a tagger...): the store's and kinds' messages
            slot = models.resolve(require(models, request.task, KINDS_EXPLAINED, "/explain")).slot
        except InputError as error:
            raise FieldError("task", str(error)) from None
        except KeyError:  # no fine-tune store in this build
            raise FieldError("task", "There is no fine-tuned head with that id here.") from None
        if request.kind == "qa":
            return models.load_torch(request.slot)
        if slot.pair and request.pair is None:
            raise FieldError(
                "text_pair", "This head compares two texts: please give the second one (text_pair)."
            )
        if not slot.pair and request.pair is not None:
            raise FieldError(
                "text_pair", "This head reads one text; leave the second text (text_pair) empty."
            )
    return models.load_torch(request.slot)


def build(models: ExplainModels, loaded: LoadedModel, request: Request) -> tuple[Inputs, Target | None]:
    """The window to explain and, where it is fixed before the model runs, the target."""
    if request.kind == "qa":
        if request.target:
            span = find_span(request.pair, request.target, "context")
        else:
            reader = {"model": request.slot} if request.slot != "qa" else {}  # a fine-tuned reader
            best = models.answer(request.text, request.pair, **reader).best_span
            if best is None:
                raise FieldError(
                    "target",
                    "The QA model found no answer span in this context; give the span to explain as "
                    "the target (a piece of the context).",
                )
            inputs, target = encode_qa(loaded, request.text, request.pair, (best.start, best.end))
            return inputs, dataclasses.replace(target, probability=best.score)
        return encode_qa(loaded, request.text, request.pair, span)
    if request.task == config.RERANK:  # as the rerank task reads a pair: the query kept whole
        check_query_tokens(loaded, [request.text], "text")
    inputs = encode(loaded, request.text, request.pair, only_second=request.task == config.RERANK)
    if not inputs.readable:
        raise InputError("The text has no characters the model can read (only control characters?).")
    if request.kind == "detect":
        return inputs, find_token(inputs, request.text, request.target) if request.target else None
    labels = loaded.labels or [str(i) for i in range(loaded.model.config.num_labels)]
    return inputs, label_target(labels, request.target, None, request.task) if request.target else None


class Objective:
    """f per row of a model output: the target label's logit, the target token's replaced
    logit, or start + end logit of the target span. The first output it sees is the input's:
    it keeps that row's logits and, when no target was given, picks the model's own from them."""

    def __init__(self, request: Request, inputs: Inputs, labels: list[str], target: Target | None):
        self.request, self.inputs, self.labels = request, inputs, labels
        self.target = target
        self.first: np.ndarray | None = None  # the input row's logits (classify and detect)

    def __call__(self, output: Any) -> Any:
        kind = self.request.kind
        if self.first is None and kind != "qa":
            self.first = output.logits[0].detach().float().cpu().numpy()
            if self.target is None and kind == "detect":
                self.target = most_replaced(self.inputs, self.request.text, self.first)
            elif self.target is None:
                self.target = label_target(self.labels, "", self.first, self.request.task)
        index = self.target.index
        if kind == "qa":
            return output.start_logits[:, index[0]] + output.end_logits[:, index[1]]
        return output.logits[:, index[0]]


@dataclass
class Attribution:
    values: np.ndarray  # per position of the window, specials included
    score: float
    baseline_score: float | None
    delta: float | None


def attribute(
    loaded: LoadedModel, request: Request, inputs: Inputs, objective: Objective, counter: salience.RowCounter
) -> Attribution:
    """The attribution step: PyTorch (and Captum for integrated gradients), on the slot's
    PyTorch weights, which it leaves untouched."""
    import torch

    model, device = loaded.model, loaded.device
    ids = torch.tensor([inputs.ids], device=device)
    types = torch.tensor([inputs.types], device=device)
    mask = torch.ones_like(ids)
    embedding = model.get_input_embeddings()

    def forward(embeds: torch.Tensor, token_types: torch.Tensor, attention: torch.Tensor) -> Any:
        return model(inputs_embeds=embeds, token_type_ids=token_types, attention_mask=attention)

    if request.method == "gradient_x_input":
        counter.add(1)
        with torch.no_grad():
            embeds = embedding(ids)
        values, score = salience.gradient_x_input(lambda e: forward(e, types, mask), embeds, objective)
        return Attribution(values, score, None, None)
    pad = loaded.tokenizer.pad_token_id or 0
    baseline = torch.tensor([salience.baseline_ids(inputs.ids, inputs.special, pad)], device=device)
    counter.add(2)
    with torch.no_grad():  # f(input) and f(baseline); the first also fixes the target
        both = objective(
            forward(embedding(torch.cat([ids, baseline])), types.expand(2, -1), mask.expand(2, -1))
        )
    score, baseline_score = (float(x) for x in both.float().cpu())
    batch = salience.internal_batch(len(inputs.ids))
    values, delta = salience.integrated_gradients(
        embedding, forward, objective, ids, baseline, (types, mask), request.steps, batch, counter
    )
    return Attribution(values, score, baseline_score, delta)


def probability(request: Request, loaded: LoadedModel, objective: Objective) -> float | None:
    """The model's probability for the target: softmax (sigmoid: multi-label) of the head,
    sigmoid of the replaced logit, or the QA answer's score when the target is its best span."""
    target = objective.target
    if request.kind == "qa":
        return target.probability
    logits = objective.first
    if request.kind == "detect":
        return float(sigmoid(np.asarray(logits[target.index[0]], dtype=np.float32)))
    scores = sigmoid(logits) if loaded.multi_label else softmax(logits)
    return float(scores[target.index[0]])


@contextlib.contextmanager
def _turn(counter: salience.RowCounter) -> Iterator[None]:
    """At most CONCURRENT explanations at once; a cancelled one stops waiting."""
    while not _running.acquire(timeout=0.2):
        counter.check()
    try:
        yield
    finally:
        _running.release()


def run(
    models: ExplainModels,
    task: str,
    text: str,
    text_pair: str = "",
    target: str = "",
    method: str = DEFAULT_METHOD,
    steps: int = DEFAULT_STEPS,
    *,
    progress: Callable[[float], None] | None = None,
    cancel: threading.Event | None = None,
) -> ExplainResult:
    """Attribute a model output to the input tokens (gradient x input or integrated gradients).

    ``progress(fraction)`` hears of every forward pass; setting ``cancel`` stops the run at the
    next one (raising :class:`Cancelled`)."""
    request = preprocess(task, text, text_pair, target, method, steps)
    passes = (
        1 if request.method == "gradient_x_input" else salience.integrated_gradients_rows(request.steps) + 2
    )
    counter = salience.RowCounter(passes, progress, cancel.is_set if cancel is not None else None)
    counter.check()
    loaded = load(models, request)
    inputs, fixed = build(models, loaded, request)
    labels = loaded.labels or [str(i) for i in range(getattr(loaded.model.config, "num_labels", 0))]
    objective = Objective(request, inputs, labels, fixed)
    with _turn(counter):
        found = attribute(loaded, request, inputs, objective, counter)
    sources = (request.text, request.pair or "")
    tokens, words = pieces(inputs, found.values, sources)
    chosen = dataclasses.replace(objective.target, probability=probability(request, loaded, objective))
    return ExplainResult(
        task=request.task,
        method=request.method,
        steps=request.steps if request.method == "integrated_gradients" else None,
        target=chosen,
        score=found.score,
        baseline_score=found.baseline_score,
        delta=found.delta,
        truncated=inputs.truncated,
        tokens=tokens,
        words=words,
        sources=sources,
        covered=(inputs.covered(0), inputs.covered(1)),
        model=loaded,
    )
