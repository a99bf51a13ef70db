"""``/v1/rerank`` (Cohere's and Jina's shape, as vLLM and Infinity serve it) and ``/v1/score``
(vLLM's): the ``rerank`` slot's cross-encoder over (query, document) pairs.

Both run the page's rerank task (:mod:`electra_demo.tasks.rerank`) on the service the page uses,
so the pairs of every request merge in the slot's micro-batcher. :func:`add_routes` puts them on
the ``/v1`` router (:func:`electra_demo.api.routes.build_router`), behind the same edge, keys and
error shape as every other route.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from fastapi import APIRouter
from starlette.responses import Response

from electra_demo.api.catalog import Catalog
from electra_demo.api.schemas_rerank import RerankRequest, RerankResponse, ScoreRequest, ScoreResponse
from electra_demo.service import ModelService
from electra_demo.tasks import rerank as rerank_task
from electra_demo.tasks.explain_inputs import FieldError


class Calls(Protocol):
    """The routes' runner (:class:`electra_demo.api.routes.Runner`)."""

    def call(self, fn: Callable[..., Any], *args: Any) -> Awaitable[Any]: ...


class Replies(Protocol):
    """The routes' replies (:class:`electra_demo.api.routes.Replies`)."""

    def reply(self, payload: dict[str, Any], slot: str) -> Response: ...


def rerank(service: ModelService, slot: str, request: RerankRequest) -> dict[str, Any]:
    """The documents ranked by the page's rerank task; scores as sigmoid(logit), or the logit."""
    documents = [d if isinstance(d, str) else d.text for d in request.documents]
    result = service.rerank(request.query, documents, request.top_n or 0)
    results = []
    for scored in result.results:
        item: dict[str, Any] = {
            "index": scored.index,
            "relevance_score": scored.logit if request.raw_scores else scored.score,
        }
        if request.return_documents:
            item["document"] = {"text": scored.text}
        item["truncated"] = scored.truncated
        results.append(item)
    return {
        "id": f"rerank-{uuid.uuid4().hex}",
        "model": result.model.resolved.source,
        "results": results,
        "usage": {"total_tokens": result.tokens},
    }


def score_pairs(request: ScoreRequest) -> list[tuple[str, str]]:
    """vLLM's pairing: one text_1 against every text_2, or text_1[i] with text_2[i]."""
    firsts = request.text_1 if isinstance(request.text_1, list) else [request.text_1]
    seconds = request.text_2 if isinstance(request.text_2, list) else [request.text_2]
    if len(firsts) not in (1, len(seconds)):
        raise FieldError(
            "text_1",
            f"text_1 holds {len(firsts)} texts and text_2 {len(seconds)}: give one text_1 (scored "
            "against every text_2) or as many as text_2 (scored pair by pair).",
        )
    for first in dict.fromkeys(firsts):
        rerank_task.check_query(first, "text_1")
    rerank_task.check_documents(seconds, "text_2")
    return list(zip(firsts * len(seconds) if len(firsts) == 1 else firsts, seconds, strict=True))


def score(service: ModelService, slot: str, request: ScoreRequest) -> dict[str, Any]:
    """vLLM's score reply: each pair's relevance, sigmoid(logit), in input order."""
    scored, loaded = rerank_task.score_pairs(service, score_pairs(request), query_name="text_1")
    tokens = sum(s.tokens for s in scored)
    return {
        "id": f"score-{uuid.uuid4().hex}",
        "object": "list",
        "model": loaded.resolved.source,
        "data": [{"index": s.index, "object": "score", "score": s.score} for s in scored],
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def add_routes(router: APIRouter, runner: Calls, replies: Replies, catalog: Catalog) -> None:
    """``POST /v1/rerank`` and ``POST /v1/score`` on ``router``."""

    @router.post("/v1/rerank", response_model=RerankResponse, summary="Rerank documents for a query")
    async def create_rerank(body: RerankRequest) -> Response:
        """Cohere's and Jina's rerank (vLLM and Infinity serve the same shape): the documents ordered
        by relevance to the query, sigmoid(logit) of the cross-encoder's one logit (the page's
        /rerank numbers), or the logit itself with `"raw_scores": true`."""
        slot = catalog.slot_for(body.model, "/v1/rerank")
        return replies.reply(await runner.call(rerank, slot, body), slot)

    @router.post("/v1/score", response_model=ScoreResponse, summary="Score text pairs")
    async def create_score(body: ScoreRequest) -> Response:
        """vLLM's score: the cross-encoder's relevance, sigmoid(logit), of each (text_1, text_2)
        pair, in input order."""
        slot = catalog.slot_for(body.model, "/v1/score")
        return replies.reply(await runner.call(score, slot, body), slot)
