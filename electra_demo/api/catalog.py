"""Which models the API serves and how a request's ``model`` picks one.

A model is named by its checkpoint id (what the slot resolves to: the registry's Hub id or the
operator's override) or by the slot's name as an alias. Ids come only from the registry and the
environment: a name that is neither is a 404, and nothing is ever loaded from a request's value.

A model a visitor trained in the demo is named by its id while the demo keeps it (else 404), on
the routes its kind serves (:data:`electra_demo.trained.kinds.KINDS`: a classifier by
``/v1/classify``, an entity tagger by ``/v1/tag``, a reader by ``/v1/answer``, an adapted
discriminator by ``/v1/detect``, any of them by ``/v1/embeddings``, its encoder, and by
``/v1/tokenize`` and ``/v1/detokenize``, its tokenizer); another kind is
a 400 that says which routes take it. It is never listed in ``/v1/models``: knowing the id is the key.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from electra_demo import config
from electra_demo.api.errors import ApiError, describe
from electra_demo.api.schemas_zeroshot import MODELS as ZERO_SHOT
from electra_demo.checks import InputError
from electra_demo.config import ResolvedSlot
from electra_demo.runtime.models import marked_random
from electra_demo.trained import kinds
from electra_demo.trained.require import WrongKind, require

ALL_SLOTS = tuple(config.REGISTRY)
ROUTES: dict[str, tuple[str, ...]] = {  # route -> the slots it takes
    "/v1/embeddings": ALL_SLOTS,
    "/v1/classify": config.CLASSIFY_HEADS,
    "/v1/detect": ("discriminator",),
    "/v1/tag": ("ner",),
    "/v1/answer": ("qa",),
    "/v1/rerank": (config.RERANK,),
    "/v1/score": (config.RERANK,),
    "/v1/tokenize": ALL_SLOTS,
    "/v1/detokenize": ALL_SLOTS,
}
ANY_TRAINED = ("/v1/tokenize", "/v1/detokenize")  # routes that take every kind of trained model


def trained_kinds(route: str) -> tuple[str, ...]:
    """The kinds of trained model ``route`` takes by id (the kinds table's, or all of them)."""
    return tuple(kinds.KINDS) if route in ANY_TRAINED else kinds.serving(route)


class Catalog:
    """The models, as the service resolves them (``resolve``: slot name -> checkpoint)."""

    def __init__(self, resolve: Callable[[str], ResolvedSlot]):
        self.resolve = resolve
        self.created = int(time.time())

    def cards(self) -> list[dict[str, Any]]:
        """OpenAI's model objects, one per slot, with the slot, its task and its routes."""
        cards = []
        for name, slot in config.REGISTRY.items():
            resolved = self.resolve(name)
            cards.append(
                {
                    "id": resolved.source,
                    "object": "model",
                    "created": self.created,
                    "owned_by": owner(resolved),
                    "slot": name,
                    "task": slot.task,
                    "routes": [route for route, slots in ROUTES.items() if name in slots],
                    "random_weights": self.random_weights(name),
                }
            )
        return cards

    def random_weights(self, name: str) -> bool:
        """Whether the checkpoint behind ``name`` (a slot or a fine-tuned id) says its weights are
        random (``--tiny``): its answers then carry a warning."""
        return marked_random(self.resolve(name))

    def names(self, route: str) -> list[str]:
        """Every name ``route`` takes: its slots' names, then their checkpoint ids (then, on
        ``/v1/classify``, the zero-shot models, which its route runs itself)."""
        slots = ROUTES[route]
        zero = tuple(ZERO_SHOT) if route == "/v1/classify" else ()
        return list(dict.fromkeys([*slots, *(self.resolve(name).source for name in slots), *zero]))

    def slot_for(self, model: str, route: str) -> str:
        """The slot ``model`` names (alias or checkpoint id), if ``route`` takes it."""
        allowed = ROUTES[route]
        if kinds.is_model_id(model):
            return self.finetuned(model, route)
        if model in config.REGISTRY:
            candidates = [model]
        else:
            candidates = [name for name in ALL_SLOTS if self.resolve(name).source == model]
        if not candidates:
            raise ApiError(
                404,
                f"The model {describe(model)} does not exist here; GET /v1/models lists the models "
                f"(checkpoint ids, or the slot names {', '.join(ALL_SLOTS)}).",
                param="model",
                code="model_not_found",
            )
        fitting = [name for name in candidates if name in allowed]
        if not fitting:
            raise ApiError(
                400,
                f"The model {describe(model)} ({candidates[0]}) cannot be used with {route}; it takes: "
                f"{', '.join(allowed)}.",
                param="model",
                code="model_not_supported",
            )
        return fitting[0]

    def finetuned(self, model: str, route: str) -> str:
        """A trained model's id, while the demo keeps it (else 404), on the routes that serve its
        kind (else 400)."""
        try:
            return require(self, model, trained_kinds(route), route)
        except WrongKind as error:
            raise ApiError(400, str(error), param="model", code="model_not_supported") from None
        except InputError as error:  # unknown or expired (or another kind's id, not here)
            raise ApiError(404, str(error), param="model", code="model_not_found") from None


def owner(resolved: ResolvedSlot) -> str:
    if resolved.local:
        return "local"
    return resolved.source.split("/", 1)[0] if "/" in resolved.source else "huggingface"
