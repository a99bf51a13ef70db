"""``/v1/proofread``: the page's ``/proofread`` (flag, propose, verify) for one text, answering its
JSON and the model that answered. :func:`add_routes` puts it on the ``/v1`` router
(:func:`electra_demo.api.routes.build_router`), behind the same edge, keys and error shape as
every other route; it runs on the service the page uses, so their rows batch together."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from electra_demo.api.errors import ApiError
from electra_demo.api.rerank import Calls, Replies  # what the router hands its route modules
from electra_demo.api.schemas_proofread import ProofreadRequest, ProofreadResponse
from electra_demo.checks import InputError
from electra_demo.service import ModelService
from electra_demo.tasks import detect
from electra_demo.trained.kinds import is_model_id
from electra_demo.trained.store import UnknownModel

ROUTE = "/v1/proofread"


def text_of(body: ProofreadRequest) -> str:
    """The text, sent as ``input`` or ``text`` (exactly one of them)."""
    if body.input is not None and body.text is not None:
        raise ApiError(400, "Send the text as 'input' or as 'text', not both.", param="text")
    if body.input is None and body.text is None:
        raise ApiError(400, "The field 'input' (or 'text') is required.", param="input", code="missing_field")
    return body.input if body.input is not None else body.text  # type: ignore[return-value]


def slot_of(service: ModelService, model: str) -> str:
    """The discriminator's slot, or an adapted pair's id (unknown or expired: 404)."""
    try:
        return detect.check_model(service, model, ROUTE)
    except UnknownModel as error:
        raise ApiError(404, str(error), param="model", code="model_not_found") from None
    except InputError as error:
        raise ApiError(400, str(error), param="model", code="model_not_supported") from None


def proofread(service: ModelService, slot: str, text: str, body: ProofreadRequest) -> dict[str, Any]:
    result = service.proofread(text, body.threshold, body.top_k, slot if is_model_id(slot) else "")
    return {**result.to_json(), "model": result.detection.model.resolved.source}


def add_routes(router: APIRouter, runner: Calls, replies: Replies, service: ModelService) -> None:
    """``POST /v1/proofread`` on ``router``."""

    @router.post(ROUTE, response_model=ProofreadResponse, summary="Proofread a text")
    async def create_proofread(body: ProofreadRequest) -> Response:
        """The page's /proofread: the discriminator flags words (P(replaced) > threshold), the
        generator proposes top_k words for each (one [MASK] in the word's place), the discriminator
        verifies each in the text; `corrected` applies every first candidate below the threshold."""
        text = text_of(body)
        slot = slot_of(service, body.model)
        return replies.reply(await runner.call(proofread, slot, text, body), slot)
