"""One check for a trained model handed to a task, a /v1 route, a batch run or a tab: :func:`require`.

Every path that takes a visitor's model by its id asks here, with the kinds it serves (from
:data:`~electra_demo.trained.kinds.KINDS`) and where it is (``"/detect"``, ``"/v1/tag"``,
``"/batch (answer)"``), and gets the same messages: what is accepted (not an id), unknown or
expired (:class:`~electra_demo.trained.store.UnknownModel`), or another kind (:class:`WrongKind`).
A model's kind is what the store wrote when it took the model in (``Slot.kind``).

Pure: no torch, no gradio.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from electra_demo.checks import InputError
from electra_demo.config import ResolvedSlot
from electra_demo.trained.kinds import KINDS, called, is_model_id, looks_like
from electra_demo.trained.store import UnknownModel


class Resolver(Protocol):
    """What :func:`require` needs: the service (or anything) that resolves a name to its slot."""

    def resolve(self, name: str) -> ResolvedSlot: ...


class WrongKind(InputError):
    """A trained model of another kind than the one asked for (a tagger given to /detect...)."""

    def __init__(self, model_id: str, have: str, wanted: Sequence[str], where: str):
        kind = KINDS.get(have)
        what = f"is {kind.called} (it works with {kind.used_by})" if kind else "is not a model trained here"
        super().__init__(f"The model {model_id} {what}; {where} needs {called(tuple(wanted))}.")


def accepted(model: object, kinds: Sequence[str], default: str | None) -> str:
    """The message for a ``model`` that is neither the default nor an id of ``kinds``."""
    origins = " or ".join(dict.fromkeys(f"{KINDS[k].origin} ({KINDS[k].prefix}...)" for k in kinds))
    empty = f"empty (the demo's {default} model) or " if default is not None else ""
    if isinstance(model, str):
        shown = repr(model) if len(model) <= 40 else f"a text of {len(model):,} characters"
    else:
        shown = f"a value of type {type(model).__name__}"
    return f"The model must be {empty}the id of {origins}; got {shown}."


def require(
    models: Resolver, model: object, kinds: Sequence[str], where: str, default: str | None = None
) -> str:
    """The slot to run: ``default`` for "" / None / blank / the default's name; else a trained
    model's id whose kind is one of ``kinds``.

    Not an id: InputError naming what is accepted. Unknown or expired: UnknownModel (an id with
    another kind's prefix that is not here: the InputError, since it was never right here).
    Another kind: :class:`WrongKind`, naming where that model works and what ``where`` needs."""
    blank = model is None or (isinstance(model, str) and not model.strip())
    if default is not None and (blank or model == default):
        return default
    if not is_model_id(model):
        raise InputError(accepted(model, kinds, default))
    name = str(model)
    try:
        slot = models.resolve(name).slot
    except UnknownModel:
        if looks_like(name, *kinds):
            raise
        raise InputError(accepted(model, kinds, default)) from None
    if slot.kind not in kinds:
        raise WrongKind(name, slot.kind, kinds, where)
    return name
