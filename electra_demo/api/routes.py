"""The ``/v1`` routes and ``/health``: thin async handlers that pick the model, run the task in a
worker thread (bounded, shared by all API requests) and answer its JSON. Errors leave as
:class:`~electra_demo.api.errors.ApiError`, which the app's handlers write in OpenAI's shape."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, TypeVar

import anyio
from fastapi import APIRouter, Security
from fastapi.security import HTTPBearer
from starlette.responses import Response

from electra_demo import config
from electra_demo.api import proofread as proofread_routes
from electra_demo.api import rerank as rerank_routes
from electra_demo.api import runs, schemas, schemas_health, schemas_zeroshot
from electra_demo.api import tokenize as tokenize_routes
from electra_demo.api import zeroshot as zeroshot_runs
from electra_demo.api.catalog import Catalog
from electra_demo.api.errors import ApiError, JSONBody
from electra_demo.checks import InputError
from electra_demo.optional import MissingDependency
from electra_demo.runtime.models import ModelUnavailable
from electra_demo.service import ModelService
from electra_demo.tasks.explain import SLOTS as EXPLAIN_SLOTS

log = logging.getLogger(__name__)
T = TypeVar("T")
PARAM = re.compile(r"^(input\[\d+\]|truncate_prompt_tokens|dimensions|pooling)")  # the field a message names

REQUEST_ID = {
    "x-request-id": {
        "description": "This request's id (yours when you sent a plain one).",
        "schema": {"type": "string"},
    },
    "x-compute-time": {
        "description": "Whole milliseconds the server took to answer (text-embeddings-inference's header).",
        "schema": {"type": "string"},
    },
}
RANDOM_WEIGHTS = "x-electra-random-weights"  # on answers from checkpoints marked random (--tiny)
PRECISION = "x-precision"  # the precision that served: fp32, bf16, int8 (fp16 on CUDA)
WARNING = (
    "Random weights: the {slot} checkpoint is a small one with random weights, made for tests and "
    "offline development; this output is meaningless."
)
RETRY = {"Retry-After": {"description": "Seconds to wait before trying again.", "schema": {"type": "string"}}}


def _error(description: str, retry: bool = False) -> dict[str, Any]:
    return {
        "model": schemas.ErrorResponse,
        "description": description,
        "headers": {**REQUEST_ID, **(RETRY if retry else {})},
    }


ERRORS: dict[int | str, dict[str, Any]] = {
    200: {
        "headers": {
            **REQUEST_ID,
            RANDOM_WEIGHTS: {
                "description": "The slots behind this answer whose weights are random (--tiny); "
                "absent for trained checkpoints. The body's `warning` says the same.",
                "schema": {"type": "string"},
            },
            PRECISION: {
                "description": "The precision that served this answer: fp32, bf16 or int8 (fp16 on "
                "CUDA); Explain's gradients always fp32 (ELECTRA_DEMO_PRECISION).",
                "schema": {"type": "string"},
            },
        }
    },
    400: _error("Invalid request: the message names the field and what was expected."),
    401: _error("Missing or wrong API key (when the server has keys)."),
    404: _error("Unknown model (or route)."),
    413: _error(f"Body over {schemas.MAX_BODY_BYTES:,} bytes."),
    429: _error("Rate limited.", retry=True),
    500: _error("Unexpected server error (logged; never for bad input)."),
    503: _error(
        "Too many requests in flight, the model cannot be loaded, or a package the feature needs "
        "is not installed on the server.",
        retry=True,
    ),
}
bearer = HTTPBearer(
    auto_error=False, description="An API key, when the server has keys (checked at the edge)."
)


class Runner:
    """Runs blocking task calls in worker threads, at most ``concurrency`` at once."""

    def __init__(self, service: ModelService, concurrency: int):
        self.service = service
        self.concurrency = concurrency
        self._limiter: anyio.CapacityLimiter | None = None

    @property
    def limiter(self) -> anyio.CapacityLimiter:
        if self._limiter is None:  # made inside the event loop
            self._limiter = anyio.CapacityLimiter(self.concurrency)
        return self._limiter

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            return await anyio.to_thread.run_sync(partial(fn, self.service, *args), limiter=self.limiter)
        except Exception as error:  # noqa: BLE001 - every failure leaves as an ApiError
            raise translate(error) from None

    async def each(self, fn: Callable[..., T], items: Sequence[Any], listed: bool) -> list[T]:
        """``fn(service, item)`` for every item side by side (their rows batch together); the
        first failing item (in input order) fails the request, named ``input[i]``."""
        results: list[Any] = [None] * len(items)
        failures: list[Exception | None] = [None] * len(items)

        async def one(index: int) -> None:
            try:
                results[index] = await anyio.to_thread.run_sync(
                    partial(fn, self.service, items[index]), limiter=self.limiter
                )
            except Exception as error:  # noqa: BLE001 - reported below, in input order
                failures[index] = error

        async with anyio.create_task_group() as group:
            for index in range(len(items)):
                group.start_soon(one, index)
        for index, failure in enumerate(failures):
            if failure is not None:
                raise translate(failure, index if listed else None) from None
        return results


def translate(error: Exception, index: int | None = None) -> ApiError:
    if isinstance(error, ApiError):
        return error
    field = getattr(error, "field", None)  # an error in one named argument (/v1/explain)
    if isinstance(error, InputError) and isinstance(field, str):
        return ApiError(400, str(error), param=field)
    if isinstance(error, InputError):
        message = str(error)
        if index is not None:
            return ApiError(400, f"input[{index}]: {message}", param=f"input[{index}]")
        named = PARAM.match(message)
        return ApiError(400, message, param=named.group(0) if named else "input")
    if isinstance(error, ModelUnavailable):
        return ApiError(503, str(error), code="model_unavailable", retry_after=10)
    if isinstance(error, MissingDependency):  # a feature's optional package is not installed here
        return ApiError(503, str(error), code="missing_dependency")
    log.error("unexpected error in an API task", exc_info=error)
    return ApiError(
        500, "Something went wrong while running the model; the error was logged. Please try again."
    )


class Replies:
    """What every ``/v1`` handler does around its task: run it (per input, side by side, for the
    page's tasks) and answer its JSON, with the random-weights warning where it applies."""

    def __init__(self, runner: Runner, catalog: Catalog):
        self.runner = runner
        self.catalog = catalog

    def reply(self, payload: dict[str, Any], slot: str, precision: str | None = None) -> Response:
        """The answer as JSON, with ``x-precision`` (``slot``'s, unless given); with a warning (body
        and header) when ``slot``'s weights are random."""
        headers = {PRECISION: precision or self.runner.service.precision_of(slot)}
        if not self.catalog.random_weights(slot):
            return JSONBody(payload, headers=headers)
        warned = {**payload, "warning": WARNING.format(slot=slot)}
        return JSONBody(warned, headers={**headers, RANDOM_WEIGHTS: slot})

    async def per_input(self, body: Any, route: str, fn: Callable[..., Any], option: Any) -> Response:
        """``fn(service, item, (option, slot))`` for every item of ``body.input``, on the slot
        ``body.model`` names for ``route``; answered as the page's task answers each input."""
        slot = self.catalog.slot_for(body.model, route)
        items = runs.as_list(body.input)
        results = await self.runner.each(
            partial(_swap, fn, (option, slot)), items, isinstance(body.input, list)
        )
        return self.reply(runs.task_reply(runs.model_name(self.catalog, slot), results), slot)


def build_router(service: ModelService, catalog: Catalog, concurrency: int) -> APIRouter:
    runner = Runner(service, concurrency)
    replies = Replies(runner, catalog)
    router = APIRouter(responses=ERRORS, dependencies=[Security(bearer)])

    @router.get("/v1/models", response_model=schemas.ModelList, summary="List the models")
    async def list_models() -> Response:
        """Every slot's checkpoint (OpenAI's list); the slot names are aliases for them."""
        return JSONBody({"object": "list", "data": catalog.cards()})

    @router.post("/v1/embeddings", response_model=schemas.EmbeddingResponse, summary="Embed texts")
    async def create_embeddings(body: schemas.EmbeddingRequest) -> Response:
        """OpenAI's embeddings: the encoder's last hidden state, mean-pooled over every position
        (or [CLS] with `"pooling": "cls"`), L2-normalised."""
        slot = catalog.slot_for(body.model, "/v1/embeddings")
        return replies.reply(await runner.call(runs.embeddings, slot, body), slot)

    @router.post("/v1/classify", response_model=schemas.ClassifyResponse, summary="Classify texts")
    async def create_classification(body: schemas_zeroshot.ClassifyRequest) -> Response:
        """vLLM's classify: every class's probability per input (the page's /classify numbers); with
        `"model": "zero-shot"` or `"zero-shot-nli"`, the `candidate_labels` you give (the page's
        /zeroshot numbers)."""
        if body.model in schemas_zeroshot.MODELS:
            return replies.reply(await runner.call(zeroshot_runs.classify, body), zeroshot_runs.slot(body))
        zeroshot_runs.refuse_options(body)
        slot = catalog.slot_for(body.model, "/v1/classify")
        return replies.reply(await runner.call(runs.classify, slot, body), slot)

    @router.post("/v1/detect", response_model=schemas.DetectResponse, summary="Detect replaced tokens")
    async def detect(body: schemas.DetectRequest) -> Response:
        """The page's /detect per input: P(replaced) for every token and word (the demo's
        discriminator, or one adapted in the Adapt tab, by its id)."""
        return await replies.per_input(body, "/v1/detect", runs.detect_one, body.threshold)

    @router.post("/v1/tag", response_model=schemas.TagResponse, summary="Tag named entities")
    async def tag(body: schemas.TagRequest) -> Response:
        """The page's /tag per input: the entities, aggregated as transformers' pipeline does (the
        demo's tagger, or one fine-tuned in the Fine-tune tab, by its id)."""
        return await replies.per_input(body, "/v1/tag", runs.tag_one, body.aggregation)

    @router.post("/v1/answer", response_model=schemas.AnswerResponse, summary="Answer questions")
    async def answer(body: schemas.AnswerRequest) -> Response:
        """The page's /answer per {question, context}: the best spans, or no answer (the demo's
        reader, or one fine-tuned in the Fine-tune tab, by its id)."""
        return await replies.per_input(body, "/v1/answer", runs.answer_one, body)

    @router.post("/v1/explain", response_model=schemas.ExplainResponse, summary="Explain a model output")
    async def explain(body: schemas.ExplainRequest) -> Response:
        """The page's /explain: each token's and word's attribution to a logit (the target label's,
        the target token's replaced logit, or the answer span's start + end), by gradient x input
        or integrated gradients."""
        explained = await runner.call(runs.explain, body)  # gradients: always in fp32
        return replies.reply(explained, EXPLAIN_SLOTS.get(body.task, body.task), "fp32")

    rerank_routes.add_routes(router, runner, replies, catalog)  # /v1/rerank and /v1/score
    proofread_routes.add_routes(router, runner, replies, service)  # /v1/proofread
    tokenize_routes.add_routes(router, runner.call, catalog)  # /v1/tokenize and /v1/detokenize
    return router


def _swap(fn: Callable[..., T], option: Any, service: ModelService, item: Any) -> T:
    """``fn(service, item, option)``, for :meth:`Runner.each` (which passes service and item)."""
    return fn(service, item, option)


def health_router(service: ModelService) -> APIRouter:
    router = APIRouter()

    @router.get(
        "/health",
        response_model=schemas_health.Health,
        summary="Health (no key needed)",
        responses={200: {"headers": REQUEST_ID}},
    )
    async def health() -> Response:
        """200 while the process serves requests, with each slot's state and the warm-up's
        (``warmup.ready``: a load balancer can wait for it)."""
        status = service.status()
        return JSONBody(
            {
                "status": "ok",
                "models": status,
                "loaded": [name for name, state in status.items() if state == "loaded"],
                "encoders": [name for name in config.REGISTRY if service.is_loaded(f"{name}:encoder")],
                "warmup": service.warmup(),
                "precision": service.precision,
            }
        )

    return router
