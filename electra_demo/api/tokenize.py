"""``/v1/tokenize`` and ``/v1/detokenize`` in vLLM's shape, plus ``return_offsets``.

Any slot's tokenizer, or a trained model's (by its id, through :func:`electra_demo.trained.require.require`
as every route takes one): the loaded model's, else read alone without its weights
(:meth:`ModelService.tokenizer_for`). A prompt is tokenized as every route and tab reads text
(``split_special_tokens``: a typed "[SEP]" is text), so ``count`` is what the model would read.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from electra_demo.api.catalog import Catalog
from electra_demo.api.errors import ApiError, JSONBody
from electra_demo.api.schemas_tokenize import (
    DetokenizeRequest,
    DetokenizeResponse,
    TokenizeRequest,
    TokenizeResponse,
)
from electra_demo.service import ModelService

Call = Callable[..., Awaitable[Any]]  # runs ``fn(service, *args)`` in a worker thread


def tokenize(service: ModelService, slot: str, request: TokenizeRequest) -> dict[str, Any]:
    """vLLM's answer: ``{"count", "max_model_len", "tokens"}``, and ``"offsets"`` when asked."""
    tokenizer, longest = service.tokenizer_for(slot)
    encoded = tokenizer(
        request.prompt,
        add_special_tokens=request.add_special_tokens,
        return_offsets_mapping=request.return_offsets,
        split_special_tokens=True,
        verbose=False,
    )
    ids = list(encoded["input_ids"])
    reply: dict[str, Any] = {"count": len(ids), "max_model_len": longest, "tokens": ids}
    if request.return_offsets:
        reply["offsets"] = [[start, end] for start, end in encoded["offset_mapping"]]
    return reply


def detokenize(service: ModelService, slot: str, request: DetokenizeRequest) -> dict[str, Any]:
    """vLLM's answer, ``{"prompt"}``: the tokenizer's decoding; an id past its vocabulary is a 400."""
    tokenizer, _ = service.tokenizer_for(slot)
    size = len(tokenizer)
    for index, token in enumerate(request.tokens):
        if token >= size:
            raise ApiError(
                400,
                f"tokens[{index}] is {token}, which is not a token id of this model: its ids run from "
                f"0 to {size - 1:,}.",
                param=f"tokens[{index}]",
                code="invalid_token_id",
            )
    return {"prompt": tokenizer.decode(request.tokens)}


def add_routes(router: APIRouter, call: Call, catalog: Catalog) -> None:
    """Add the two routes to ``router``; ``call`` runs a function in the routes' worker threads."""

    @router.post("/v1/tokenize", response_model=TokenizeResponse, summary="Tokenize a text")
    async def create_tokens(body: TokenizeRequest) -> Response:
        """vLLM's tokenize: the token ids of `prompt` as the model reads it, their count and the
        model's longest input; with `"return_offsets": true`, each token's [start, end] in
        characters of the prompt."""
        slot = catalog.slot_for(body.model, "/v1/tokenize")
        return JSONBody(await call(tokenize, slot, body))

    @router.post("/v1/detokenize", response_model=DetokenizeResponse, summary="Detokenize token ids")
    async def create_text(body: DetokenizeRequest) -> Response:
        """vLLM's detokenize: the text of token ids (the tokenizer's decoding, special tokens kept)."""
        slot = catalog.slot_for(body.model, "/v1/detokenize")
        return JSONBody(await call(detokenize, slot, body))
