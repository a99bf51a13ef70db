"""A failing model fails alone, says why, and recovers without a restart once its files are fixed."""

from __future__ import annotations

import shutil

import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from electra_demo.service import ModelService, ModelUnavailable
from tests.helpers.serving import launch

# one call per slot, and a checkpoint of another architecture for the "wrong task" case
CALLS = {
    "discriminator": (lambda s: s.detect("The chef cooked."), "sentiment"),
    "generator": (lambda s: s.corrupt("The chef cooked the meal.", 0.5, 1), "discriminator"),
    "sentiment": (lambda s: s.classify("sentiment", "Great film."), "discriminator"),
    "emotion": (lambda s: s.classify("emotion", "I am happy."), "ner"),
    "nli": (lambda s: s.classify("nli", "A man sings.", "Someone sings."), "qa"),
    "ner": (lambda s: s.tag("Marie Curie in Paris."), "discriminator"),
    "qa": (lambda s: s.answer("Where?", "Marie Curie worked in Paris."), "sentiment"),
}
OTHERS = {
    "detect": lambda s: s.detect("The chef."),
    "classify": lambda s: s.classify("emotion", "Happy."),
    "tag": lambda s: s.tag("Paris."),
    "answer": lambda s: s.answer("Where?", "In Paris."),
}


def break_slot(kind: str, slot: str, tiny_env: dict[str, str], tmp_path) -> tuple[dict[str, str], str]:
    """An environment where ``slot`` is missing, corrupt or the wrong checkpoint; and its path."""
    path = tmp_path / f"{slot}-{kind}"
    if kind == "missing":
        pass
    elif kind == "corrupt":
        shutil.copytree(tiny_env[f"ELECTRA_DEMO_{slot.upper()}"], path)
        weights = path / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 3])
    else:
        shutil.copytree(tiny_env[f"ELECTRA_DEMO_{CALLS[slot][1].upper()}"], path)
    return {**tiny_env, f"ELECTRA_DEMO_{slot.upper()}": str(path)}, str(path)


@pytest.mark.parametrize("kind", ["missing", "corrupt", "wrong-task"])
@pytest.mark.parametrize("slot", sorted(CALLS))
def test_broken_slot_fails_alone_and_recovers(slot, kind, tiny_env, tmp_path):
    environ, path = break_slot(kind, slot, tiny_env, tmp_path)
    service = ModelService(environ={**environ, "ELECTRA_DEMO_BACKEND": "torch"})  # failures are backend-free
    call = CALLS[slot][0]
    with pytest.raises(ModelUnavailable) as info:
        call(service)
    message = str(info.value)
    assert f"ELECTRA_DEMO_{slot.upper()}" in message and path in message
    if kind == "wrong-task":
        assert "newly initialised" in message
    assert service.status()[slot].startswith("failed")
    for name, other in OTHERS.items():  # every tab that does not need this slot still answers
        needs = {"detect": "discriminator", "classify": "emotion", "tag": "ner", "answer": "qa"}[name]
        if needs != slot:
            other(service)
    # fix the files in place: the next request loads the slot, no restart
    shutil.rmtree(path, ignore_errors=True)
    shutil.copytree(tiny_env[f"ELECTRA_DEMO_{slot.upper()}"], path)
    call(service)
    assert service.status()[slot] == "loaded"


def test_a_runtime_error_inside_one_request_fails_only_that_request(tiny_env):
    """Out of memory (simulated) in one forward: that caller gets a clean message, others go on."""
    service = ModelService(environ=tiny_env)
    service.detect("warm up")
    batcher = service.load("discriminator").batcher
    original = batcher._run

    def sometimes_out_of_memory(inputs):
        if inputs["input_ids"].shape[1] > 40:
            raise RuntimeError("CUDA out of memory (simulated)")
        return original(inputs)

    batcher._run = sometimes_out_of_memory
    demo = launch(service)
    try:
        client = Client(demo.local_url, verbose=False)
        with pytest.raises(AppError) as info:
            client.predict("word " * 60, 0.5, api_name="/detect")
        assert "Something went wrong while running the model" in str(info.value)
        assert "Traceback" not in str(info.value) and "CUDA" not in str(info.value)
        *_, data = client.predict("The chef cooked.", 0.5, api_name="/detect")
        assert [t["text"] for t in data["tokens"]] == ["The", "chef", "cooked", "."]
    finally:
        demo.close()
