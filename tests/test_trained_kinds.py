"""The kinds of trained model in one table (electra_demo/trained/kinds.py), the ids built from it,
the one check every path runs (trained/require.py), the page's "your models" menus, and the same
WrongKind message on the service, the Gradio API and /v1 for a model of another kind."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path
from types import SimpleNamespace

import gradio_client
import httpx
import pytest

from electra_demo.checks import InputError
from electra_demo.config import REGISTRY, ResolvedSlot, Slot
from electra_demo.service import ModelService
from electra_demo.trained import kinds
from electra_demo.trained.kinds import HEX_CHARS, KINDS, MODEL_ID, PREFIXES
from electra_demo.trained.require import WrongKind, require
from electra_demo.trained.store import Meta, UnknownModel

SERVE = {"service": "kinds_service"}  # the `url` fixture serves this module's own service
TEXT = "Marie Curie worked in Paris."


# ---- the table and the ids ---------------------------------------------------------------------
def test_model_id_is_built_from_the_tables_prefixes():
    assert set(PREFIXES) == {kind.prefix for kind in KINDS.values()} and len(PREFIXES) == len(set(PREFIXES))
    assert MODEL_ID.pattern == "(?:" + "|".join(PREFIXES) + f")[0-9a-f]{{{HEX_CHARS},}}"
    for prefix in PREFIXES:
        assert kinds.is_model_id(prefix + "0" * HEX_CHARS)
        assert not kinds.is_model_id(prefix + "0" * (HEX_CHARS - 1))  # too short
        assert not kinds.is_model_id(prefix + "0" * HEX_CHARS + "X")  # not hex
    for other in ("xx-" + "0" * 16, "ft" + "0" * 16, "../" + "0" * 16, 12345, None, ["ft-" + "0" * 16]):
        assert not kinds.is_model_id(other), other
    for task, kind in KINDS.items():
        assert kind.task == task
        assert re.fullmatch(kinds.id_pattern(task), kind.prefix + "ab" * 8)
        assert all(task in kinds.serving(where) for where in (*kind.endpoints, *kind.routes))
        assert kind.called in kinds.called(tuple(KINDS)) and kind.used_by.startswith("/")


def test_new_id_per_kind_has_its_prefix_and_sixteen_random_hex_characters():
    for task, kind in KINDS.items():
        ids = {kinds.new_id(task) for _ in range(20)}
        assert len(ids) == 20  # random
        for model_id in ids:
            assert model_id.startswith(kind.prefix) and len(model_id) == len(kind.prefix) + 16
            assert kinds.is_model_id(model_id) and kind in kinds.kinds_for_id(model_id)
            assert kinds.looks_like(model_id, task)
    assert not kinds.looks_like(kinds.new_id("adapt"), "classify", "tag", "qa")


# ---- require(), on hand-built inputs -----------------------------------------------------------
class Models:
    """Resolves the ids it was given to slots of their kind; any other id is UnknownModel."""

    def __init__(self, **known: str):
        self.known = known  # id -> kind

    def resolve(self, name: str) -> ResolvedSlot:
        if name not in self.known:
            raise UnknownModel(name)
        kind = KINDS[self.known[name]]
        slot = Slot(name, name, "yours", name, "apache-2.0", kind.architecture, kind=kind.task)
        return ResolvedSlot(slot=slot, source="/somewhere", revision=None, overridden=False, local=True)


TAGGER, READER, ADAPTED = "ft-" + "1" * 16, "ft-" + "2" * 16, "ad-" + "3" * 16
MODELS = Models(**{TAGGER: "tag", READER: "qa", ADAPTED: "adapt"})


def test_require_gives_the_default_or_a_model_of_the_kinds_asked_for():
    for empty in ("", None, "   ", "ner"):
        assert require(MODELS, empty, ("tag",), "/tag", default="ner") == "ner"
    assert require(MODELS, TAGGER, ("tag",), "/tag", default="ner") == TAGGER
    assert require(MODELS, READER, ("classify", "qa"), "/explain") == READER
    assert require(MODELS, ADAPTED, kinds.serving("/v1/embeddings"), "/v1/embeddings") == ADAPTED


def test_require_says_what_is_accepted_when_it_is_no_id():
    shown = {"../../etc": "'../../etc'", "x" * 41: "a text of 41 characters", 7: "a value of type int"}
    for bad, named in shown.items():
        with pytest.raises(InputError) as caught:
            require(MODELS, bad, ("tag",), "/tag", default="ner")
        assert str(caught.value) == (
            "The model must be empty (the demo's ner model) or the id of a model trained in the "
            f"Fine-tune tab (ft-...); got {named}."
        )
    with pytest.raises(InputError, match=r"^The model must be the id of a model adapted in the Adapt tab"):
        require(MODELS, "", ("adapt",), "/v1/detect")  # no default: empty is no model


def test_require_unknown_ids_and_ids_of_another_kinds_prefix():
    gone = "ft-" + "f" * 16
    with pytest.raises(UnknownModel, match=f"Unknown or expired model id {gone}: fine-tuned models"):
        require(MODELS, gone, ("tag",), "/tag", default="ner")
    with pytest.raises(UnknownModel, match="train it again in the Adapt tab"):
        require(MODELS, "ad-" + "f" * 16, ("adapt",), "/detect", default="discriminator")
    # an unknown id with another kind's prefix was never right here: what is accepted
    with pytest.raises(
        InputError, match=r"the id of a model adapted in the Adapt tab \(ad-\.\.\.\)"
    ) as caught:
        require(MODELS, gone, ("adapt",), "/detect", default="discriminator")
    assert not isinstance(caught.value, UnknownModel)


def test_require_names_both_kinds_when_the_kind_is_another():
    with pytest.raises(WrongKind) as caught:
        require(MODELS, TAGGER, ("adapt",), "/detect", default="discriminator")
    tagger, adapted = KINDS["tag"], KINDS["adapt"]
    assert str(caught.value) == (
        f"The model {TAGGER} is a fine-tuned entity tagger (it works with {tagger.used_by}); "
        f"/detect needs {adapted.called}."
    )
    assert "/tag, /batch (tag), /v1/tag, /v1/embeddings" in str(caught.value)
    with pytest.raises(WrongKind, match=r"/explain needs a fine-tuned classifier or a fine-tuned reader"):
        require(MODELS, ADAPTED, ("classify", "qa"), "/explain")
    with pytest.raises(WrongKind, match=rf"^The model {ADAPTED} is an adapted discriminator .*/v1/detect"):
        require(MODELS, ADAPTED, ("classify",), "/classify")


# ---- end to end: a service with a tagger and an adapted pair in its store -------------------------
def stage(service: ModelService, tiny_dir: Path, task: str, slot: str, owner: str) -> str:
    """Put the tiny ``slot`` checkpoint in the service's store as a trained model of kind ``task``."""
    model_id = kinds.new_id(task)
    store = service.finetuned
    shutil.copytree(tiny_dir / slot, store.staging(model_id))
    labels = tuple(REGISTRY[slot].labels)
    meta = Meta(
        model_id, f"my {task}", slot, "tiny", "apache-2.0", "full", labels, False, time.time(), task=task
    )
    store.add(meta, owner=owner)
    return model_id


@pytest.fixture(scope="module")
def kinds_service(tiny_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> ModelService:
    """The tiny checkpoints, with a store of its own (beside its own export cache)."""
    root = tmp_path_factory.mktemp("kinds")
    return ModelService(environ={**tiny_env, "ELECTRA_DEMO_CACHE": str(root / "onnx")})


@pytest.fixture(scope="module")
def trained(kinds_service: ModelService, tiny_dir: Path) -> dict[str, str]:
    return {
        "tag": stage(kinds_service, tiny_dir, "tag", "ner", owner="alice"),
        "adapt": stage(kinds_service, tiny_dir, "adapt", "discriminator", owner="alice"),
    }


def test_one_wrong_kind_message_on_the_service_the_gradio_api_and_v1(kinds_service, trained, url, gc):
    adapted, tagger = trained["adapt"], trained["tag"]
    cases = [  # (model, its kind, kinds wanted, page endpoint, its arguments, /v1 route, body)
        (adapted, "adapt", ("classify",), "/classify", [adapted, TEXT, ""], "/v1/classify", {"input": TEXT}),
        (tagger, "tag", ("adapt",), "/detect", [TEXT, 0.5, tagger], "/v1/detect", {"input": TEXT}),
    ]
    calls = {
        "/classify": lambda model: kinds_service.classify(model, TEXT),
        "/detect": lambda model: kinds_service.detect(TEXT, 0.5, model),
    }
    for model, have, wanted, endpoint, args, route, body in cases:
        page = str(WrongKind(model, have, wanted, endpoint))
        with pytest.raises(WrongKind) as direct:
            calls[endpoint](model)
        assert str(direct.value) == page
        with pytest.raises(gradio_client.exceptions.AppError) as remote:
            gc.predict(*args, api_name=endpoint)
        assert page in str(remote.value) and "Traceback" not in str(remote.value)
        reply = httpx.post(url + route, json={"model": model, **body}, timeout=60)
        error = reply.json()["error"]
        assert (
            reply.status_code == 400 and error["code"] == "model_not_supported" and error["param"] == "model"
        )
        assert error["message"] == str(WrongKind(model, have, wanted, route))
        assert error["message"].replace(f"; {route} needs", f"; {endpoint} needs") == page  # one shape
    gone = httpx.post(url + "/v1/detect", json={"model": "ad-" + "0" * 16, "input": TEXT}, timeout=60)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "model_not_found"
    assert "Unknown or expired model id" in gone.json()["error"]["message"]


def test_the_kind_comes_from_the_store_and_the_menus_list_the_sessions_own(kinds_service, trained):
    from electra_demo.page.tabs.common import own_models

    for task, model_id in trained.items():
        assert kinds_service.resolve(model_id).slot.kind == task  # what the store wrote, not a guess
    assert all(not slot.kind for slot in REGISTRY.values())
    alice, bob = SimpleNamespace(session_hash="alice"), SimpleNamespace(session_hash="bob")
    assert own_models(kinds_service, alice, ("tag",)) == [
        (f"Yours: my tag ({trained['tag']})", trained["tag"])
    ]
    assert own_models(kinds_service, alice, ("adapt", "tag"), show_kind=True) == [
        (f"Yours (adapted): my adapt ({trained['adapt']})", trained["adapt"]),
        (f"Yours (tagger): my tag ({trained['tag']})", trained["tag"]),
    ]
    assert own_models(kinds_service, bob, tuple(KINDS)) == own_models(kinds_service, None, tuple(KINDS)) == []
