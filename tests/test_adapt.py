"""Adapt end to end, as a user drives it: ``/adapt`` over gradio_client (one run for the module),
the adapted pair in ``/detect``, ``/corrupt``, ``/v1/detect`` and ``/v1/embeddings``, a Fine-tune
run from the ``ad-`` id, cancel, and refused files.

The run: the template corpus (tests/helpers/data.py), 150 texts as a TXT file, 60 steps, learning
rate 2e-3, batch size 16, max length 32, mask_fraction 0.15, eval_fraction 0.2, seed 42 (the tiny
checkpoints are random, so a high rate). The held-out RTD AUC must rise by at least 0.1.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from electra_demo.trained.kinds import looks_like
from tests.helpers.compare import served_abs
from tests.helpers.data import corpus, write_txt
from tests.helpers.training import LEARN, wait_for

gradio_client = pytest.importorskip("gradio_client")
handle_file = gradio_client.handle_file
KEYS = ("steps", "learning_rate", "batch_size", "max_length", "mask_fraction", "eval_fraction", "seed")


def adapt_args(path: Path, text_column: str = "", **settings) -> list:
    """The endpoint's arguments in order."""
    s = {"steps": 300, "learning_rate": 5e-5, "batch_size": 16, "max_length": 128, "mask_fraction": 0.15}
    s.update({"eval_fraction": 0.1, "seed": 42, **settings})
    return [handle_file(str(path)), text_column, *(s[k] for k in KEYS)]


@pytest.fixture(scope="module")
def adapted(client, tmp_path_factory) -> dict:
    path = write_txt(tmp_path_factory.mktemp("adapt") / "templates.txt", corpus(150))
    outputs = client.predict(*adapt_args(path, **LEARN, eval_fraction=0.2), api_name="/adapt")
    return {"outputs": outputs, "path": path}


def test_adapting_raises_the_held_out_auc_by_at_least_01(adapted):
    *_, zip_path, result = adapted["outputs"]
    assert set(result) == {"model_id", "rows", "settings", "before", "after", "history", "seconds", "stopped"}
    assert looks_like(result["model_id"], "adapt") and len(result["model_id"]) >= 3 + 12
    assert result["rows"] == {"train": 120, "eval": 30, "dropped": 0}
    assert {k: result["settings"][k] for k in LEARN} == LEARN and result["settings"]["text_column"] == "text"
    assert result["stopped"] == "completed"
    for when in ("before", "after"):
        assert set(result[when]) == {"rtd_auc", "rtd_f1", "mlm_accuracy"}
    assert result["after"]["rtd_auc"] >= result["before"]["rtd_auc"] + 0.1, (
        result["before"],
        result["after"],
    )
    assert [h["step"] for h in result["history"]] == list(range(1, 61))
    assert set(result["history"][0]) == {"step", "loss", "mlm_loss", "rtd_loss"}
    assert result["history"][-1]["loss"] < result["history"][0]["loss"]
    assert Path(zip_path).name == f"{result['model_id']}.zip"
    with zipfile.ZipFile(zip_path) as archive:
        names = set(archive.namelist())
    assert f"{result['model_id']}/discriminator/model.safetensors" in names


def test_the_page_outputs_show_curves_figures_and_a_held_out_text(adapted):
    status, loss, parts, figures, truth, before, after, _, result = adapted["outputs"]
    assert "Adapted" in status and result["model_id"] in status
    assert len(loss["data"]) == 60 and len(parts["data"]) == 120
    assert [row[0] for row in figures["data"]] == [
        "replaced-token ROC AUC",
        "replaced-token F1 at 0.5",
        "generator MLM accuracy",
    ]
    assert figures["data"][0][1] == pytest.approx(result["before"]["rtd_auc"], abs=1e-4)
    tokens = [x["token"] for x in truth]
    assert tokens == [x["token"] for x in before] == [x["token"] for x in after]
    assert any(x["class_or_confidence"] == "replaced" for x in truth)
    assert [x["class_or_confidence"] for x in before] != [x["class_or_confidence"] for x in after]


def test_bad_files_and_settings_get_clear_messages(client, tmp_path: Path):
    few = write_txt(tmp_path / "few.txt", corpus(5))
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"text\x00\x01\xff\n" * 30)
    table = tmp_path / "table.csv"
    table.write_text("id,body\n" + "".join(f'{i},"{t}"\n' for i, t in enumerate(corpus(30))))
    cases = [
        (adapt_args(few), "5 non-empty texts"),
        (adapt_args(binary), "not a text file"),
        (adapt_args(table, "text"), "no column 'text'"),
        (adapt_args(table, "body", steps=0), "number of steps must be from 1"),
        (adapt_args(table, "body", mask_fraction=0.9), "mask fraction"),
    ]
    for args, message in cases:
        with pytest.raises(gradio_client.exceptions.AppError) as error:
            client.predict(*args, api_name="/adapt")
        assert message in str(error.value) and "Traceback" not in str(error.value)


def test_cancel_stops_the_run_and_keeps_nothing(app_url: str, tmp_path: Path):
    path = write_txt(tmp_path / "long.txt", corpus(100))
    visitor = gradio_client.Client(app_url, verbose=False)
    job = visitor.submit(*adapt_args(path, steps=5000, max_length=32), api_name="/adapt")
    shown = wait_for(job, lambda s: s.get("status") == "training" and s.get("step", 0) >= 2)
    assert shown["max_steps"] == 5000 and {"mlm_loss", "rtd_loss", "remaining"} <= set(shown)
    visitor.predict(api_name="/adapt_cancel")
    *_, result = job.result(timeout=120)
    assert result["stopped"] == "cancelled" and result["model_id"] is None
    assert result["before"] is None and result["history"][-1]["step"] >= 2
    assert set(result["history"][0]) == {"step", "loss", "mlm_loss", "rtd_loss"}


def test_detect_with_the_id_equals_the_zip_discriminator(
    adapted, client, service, tiny_dir: Path, tmp_path: Path
):
    import torch
    from transformers import AutoTokenizer, ElectraForPreTraining

    *_, zip_path, result = adapted["outputs"]
    model_id = result["model_id"]
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(tmp_path)
    text = "The chef cooked the lazy meal in berlin."
    _, _, summary, _, page = client.predict(text, 0.5, model_id, api_name="/detect")
    assert f"Your adapted model `{model_id}`" in summary
    scored = {}
    for name, folder in (
        ("adapted", tmp_path / model_id / "discriminator"),
        ("original", tiny_dir / "discriminator"),
    ):
        tokenizer = AutoTokenizer.from_pretrained(folder)
        model = ElectraForPreTraining.from_pretrained(folder).eval()
        with torch.no_grad():
            logits = model(**tokenizer(text, return_tensors="pt")).logits[0, 1:-1]
        scored[name] = torch.sigmoid(logits).tolist()
    got = [t["probability"] for t in page["tokens"]]
    assert got == pytest.approx(scored["adapted"], abs=served_abs(service, model_id))  # 1e-5 in fp32
    assert got != pytest.approx(scored["original"], abs=1e-3)


def test_corrupt_with_the_id_uses_the_adapted_pair(adapted, client, service):
    *_, result = adapted["outputs"]
    model_id = result["model_id"]
    text = "The fox finds the meal in paris and the dog loved this movie."
    *_, mine = client.predict(text, 0.5, 3, model_id, api_name="/corrupt")
    assert mine["original"] == text and mine["replacements"]
    assert service.is_loaded(f"{model_id}:generator") and service.is_loaded(model_id)
    stored = service.finetuned.checkpoint(model_id)  # the visitor's texts are in their zip only
    assert (stored / "generator" / "model.safetensors").is_file() and not list(stored.rglob("heldout*"))
    assert all(
        text not in p.read_text(errors="replace")
        for p in stored.rglob("*.json*")
        for text in corpus(150)[:30]
    )
    *_, again = client.predict(mine["corrupted"], 0.5, model_id, api_name="/detect")
    assert [t["probability"] for t in again["tokens"]] == pytest.approx(
        [t["probability"] for t in mine["tokens"]], abs=1e-5
    )
    for bad, message in (
        ("ft-0123456789abcdef", "the id of a model adapted"),
        ("ad-00000000000000ff", "Adapt tab"),
    ):
        with pytest.raises(gradio_client.exceptions.AppError, match=message):
            client.predict(text, 0.5, 3, bad, api_name="/corrupt")


def test_fine_tune_starts_from_the_adapted_discriminator(adapted, client, tmp_path: Path):
    *_, result = adapted["outputs"]
    rows = [(t, "kitchen" if "kitchen" in t else "other") for t in corpus(60, seed=1)]
    path = tmp_path / "labels.csv"
    path.write_text("text,label\n" + "".join(f'"{t}",{label}\n' for t, label in rows))
    args = [handle_file(str(path)), "text", "label", "", result["model_id"], "full", 1, 2e-3, 16, 32, 0.2, 42]
    *_, tuned = client.predict(*args, api_name="/finetune")
    assert tuned["base"] == result["model_id"] and tuned["stopped"] == "completed"
    assert tuned["model_id"].startswith("ft-") and tuned["metrics"]["accuracy"] is not None


def test_v1_detect_and_embeddings_take_the_id(adapted, app_url: str, service, tmp_path: Path):
    import httpx
    import torch
    from transformers import AutoTokenizer, ElectraModel

    *_, zip_path, result = adapted["outputs"]
    model_id = result["model_id"]
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(tmp_path)
    folder = tmp_path / model_id / "discriminator"
    text = "The dog finds some words in the kitchen."
    with httpx.Client(base_url=app_url.rstrip("/"), timeout=60) as http:
        detected = http.post("/v1/detect", json={"model": model_id, "input": text}).json()
        page = http.post("/v1/detect", json={"model": model_id, "input": [text]}).json()
        embedded = http.post("/v1/embeddings", json={"model": model_id, "input": text})
        wrong = http.post("/v1/classify", json={"model": model_id, "input": text})
        gone = http.post("/v1/detect", json={"model": "ad-00000000000000ff", "input": text})
    assert detected["model"] == model_id and detected["data"][0]["tokens"] == page["data"][0]["tokens"]
    tokenizer = AutoTokenizer.from_pretrained(folder)
    encoded = tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        hidden = ElectraModel.from_pretrained(folder).eval()(**encoded).last_hidden_state[0]
    expected = hidden.mean(0) / hidden.mean(0).norm()
    assert embedded.status_code == 200 and embedded.json()["model"] == model_id
    tolerance = served_abs(service, model_id)  # 1e-5 in fp32, issue 27's bound in bf16
    assert embedded.json()["data"][0]["embedding"] == pytest.approx(expected.tolist(), abs=tolerance)
    assert wrong.status_code == 400 and "/v1/detect" in wrong.json()["error"]["message"]
    assert gone.status_code == 404 and "Adapt tab" in gone.json()["error"]["message"]
