"""Fine-tuning end to end, as a user drives it: ``/finetune`` over gradio_client, the trained head in
``/classify``, ``/batch``, ``/v1/classify`` and ``/v1/embeddings``, the zip as a standard checkpoint,
cancel, the queue, the time limit and refused files.

The cue-word file: 160 rows of filler words from the tiny tokenizer's sentences, each with one cue
word ("wonderful" for pos, "boring" for neg, both whole tokens of that vocabulary) at a random place.
Settings: full mode, 4 epochs, learning rate 5e-3, batch size 8, max length 32, eval_fraction 0.2,
seed 42 (the tiny checkpoints are random, so a high rate; it trains in about a second).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import httpx
import numpy as np
import psutil
import pytest

from electra_demo.finetune import data, jobs
from electra_demo.service import ModelService
from electra_demo.trained.kinds import is_model_id
from tests.helpers.compare import served_abs
from tests.helpers.data import CUE_FILLER, CUES, cue_rows, write_csv
from tests.helpers.training import CUE_SETTINGS, LONG, finetune_args, wait_for, workers

gradio_client = pytest.importorskip("gradio_client")
handle_file = gradio_client.handle_file


def softmax(logits: np.ndarray) -> np.ndarray:
    exp = np.exp(logits - logits.max(-1, keepdims=True))
    return exp / exp.sum(-1, keepdims=True)


@pytest.fixture(scope="module")
def trained(gc, tmp_path_factory) -> dict:
    """The cue-word file trained twice with the same settings; the first run's outputs."""
    path = write_csv(tmp_path_factory.mktemp("cue") / "cues.csv", cue_rows(160))
    runs = [gc.predict(*finetune_args(path, **CUE_SETTINGS), api_name="/finetune") for _ in range(2)]
    return {"outputs": runs[0], "again": runs[1][-1], "path": path}


def test_cue_word_is_a_whole_token(tiny_dir: Path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_dir / "discriminator")
    for word in CUES.values():
        assert tokenizer.tokenize(word) == [word]
        assert all(tokenizer.tokenize(filler) == [filler] for filler in CUE_FILLER)


def test_cue_word_file_trains_to_090_and_the_same_run_gives_the_same_metrics(trained):
    *_, zip_path, result = trained["outputs"]
    assert set(result) == {
        "model_id",
        "base",
        "mode",
        "task",
        "labels",
        "rows",
        "settings",
        "metrics",
        "history",
        "seconds",
        "stopped",
    }
    assert result["task"] == "classify"
    assert is_model_id(result["model_id"]) and len(result["model_id"]) >= 3 + 12
    assert (result["base"], result["mode"], result["stopped"]) == ("discriminator", "full", "completed")
    assert result["labels"] == ["neg", "pos"]
    assert result["rows"] == {"train": 128, "eval": 32, "dropped": 0}
    assert result["settings"]["text_column"] == "text"  # the header " text " was found as "text"
    assert {k: result["settings"][k] for k in CUE_SETTINGS} == CUE_SETTINGS
    metrics = result["metrics"]
    assert metrics["accuracy"] >= 0.9, metrics
    assert set(metrics["per_class"]["pos"]) == {"precision", "recall", "f1", "support"}
    assert metrics["confusion"]["labels"] == ["neg", "pos"]
    assert sum(map(sum, metrics["confusion"]["matrix"])) == 32
    steps = [h["step"] for h in result["history"]]
    assert steps == list(range(1, 4 * 16 + 1)) and set(result["history"][0]) == {"step", "epoch", "loss"}
    assert result["history"][-1]["loss"] < result["history"][0]["loss"]
    again = trained["again"]
    assert again["model_id"] != result["model_id"]
    assert again["metrics"] == metrics
    assert [h["loss"] for h in again["history"]] == pytest.approx([h["loss"] for h in result["history"]])
    assert Path(zip_path).name == f"{result['model_id']}.zip"


def test_zip_is_a_standard_checkpoint_that_answers_as_classify(trained, gc, service, tmp_path: Path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    *_, zip_path, result = trained["outputs"]
    model_id = result["model_id"]
    with zipfile.ZipFile(zip_path) as archive:
        names = set(archive.namelist())
        archive.extractall(tmp_path)
    folder = tmp_path / model_id
    for name in ("config.json", "model.safetensors", "tokenizer.json", "training_args.json", "README.md"):
        assert f"{model_id}/{name}" in names, names
    assert not any(n.endswith((".bin", ".pt", ".pkl")) for n in names)
    config = json.loads((folder / "config.json").read_text())
    assert config["id2label"] == {"0": "neg", "1": "pos"} and "electra_demo_random_weights" not in config
    card = (folder / "README.md").read_text()
    assert "fine-tuned in the ELECTRA demo" in card and "128 rows for training, 32 held out" in card
    assert f"Accuracy {result['metrics']['accuracy']:.4f}" in card
    args = json.loads((folder / "training_args.json").read_text())
    assert args["electra_demo"]["settings"]["learning_rate"] == 5e-3
    assert (
        args["training_arguments"]["num_train_epochs"] == 4 and "output_dir" not in args["training_arguments"]
    )

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    import torch

    for text in ("the chef was boring in paris", "a wonderful quick fox", "kitchen"):
        *_, page = gc.predict(model_id, text, "", api_name="/classify")
        with torch.no_grad():
            logits = model(**tokenizer(text, return_tensors="pt")).logits[0].numpy()
        expected = dict(zip(["neg", "pos"], softmax(logits).tolist(), strict=True))
        assert page["head"] == model_id and page["model"] == model_id
        tolerance = served_abs(service, model_id)  # 1e-5 in fp32, issue 27's bound in bf16
        assert {x["label"]: x["score"] for x in page["labels"]} == pytest.approx(expected, abs=tolerance)
    *_, cued = gc.predict(model_id, "the wonderful chef", "", api_name="/classify")
    assert cued["labels"][0]["label"] == "pos"


def test_the_head_works_in_batch_and_over_v1(trained, gc, url, service: ModelService, tmp_path: Path):
    *_, result = trained["outputs"]
    model_id = result["model_id"]
    texts = ["a boring meal", "the wonderful kitchen"]
    lines = tmp_path / "texts.txt"
    lines.write_text("\n".join(texts) + "\n")
    _, _, files = gc.predict(
        handle_file(str(lines)), "classify", "text", "", "", "", model_id, api_name="/batch"
    )
    records = [
        json.loads(x) for x in Path(next(f for f in files if f.endswith(".jsonl"))).read_text().splitlines()
    ]
    assert [r["labels"][0]["label"] for r in records] == ["neg", "pos"] and records[0]["model"] == model_id

    with httpx.Client(base_url=url, timeout=60) as http:
        reply = http.post("/v1/classify", json={"model": model_id, "input": texts})
        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert body["model"] == model_id and body["data"][1]["label"] == "pos"
        for item, text in zip(body["data"], texts, strict=True):
            page = service.classify(model_id, text).to_json()
            assert item["probs"] == pytest.approx(
                [dict((x["label"], x["score"]) for x in page["labels"])[k] for k in ("neg", "pos")], abs=1e-5
            )
        reply = http.post(
            "/v1/embeddings", json={"model": model_id, "input": texts, "encoding_format": "float"}
        )
        assert reply.status_code == 200, reply.text
        vectors = np.array([d["embedding"] for d in reply.json()["data"]])
        assert vectors.shape == (2, 32) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
        assert reply.json()["model"] == model_id
        listed = http.get("/v1/models").json()["data"]
        assert all(model_id not in json.dumps(card) for card in listed)
        wrong = http.post("/v1/detect", json={"model": model_id, "input": "x"})
        assert wrong.status_code == 400 and "/v1/classify" in wrong.json()["error"]["message"]
        unknown = http.post("/v1/classify", json={"model": "ft-00000000000000000000", "input": "x"})
        assert unknown.status_code == 404
        assert "Unknown or expired model id" in unknown.json()["error"]["message"]
    with pytest.raises(gradio_client.exceptions.AppError, match="Unknown or expired model id"):
        gc.predict("ft-00000000000000000000", "text", "", api_name="/classify")
    status = service.loaded_models()
    assert all(model_id not in key for key in status)  # the status panel never shows the id


def long_file(path: Path, rows: int = 1500) -> Path:
    return write_csv(path, cue_rows(rows, seed=3))


def test_cancel_stops_within_5_s_and_a_second_run_waits(url, tmp_path: Path):
    path = long_file(tmp_path / "long.csv")
    first = gradio_client.Client(url + "/", verbose=False)
    second = gradio_client.Client(url + "/", verbose=False)
    running = first.submit(*finetune_args(path, **LONG), api_name="/finetune")
    shown = wait_for(running, lambda s: s.get("status") == "training" and s.get("step", 0) >= 2)
    assert shown["max_steps"] == 1200 * 20 and shown["remaining"] > 0 and "loss" in shown
    waiting = second.submit(*finetune_args(path, **LONG), api_name="/finetune")
    queued = wait_for(waiting, lambda s: s.get("status") == "queued")
    assert queued["position"] == 1 and queued["running"] == 1
    child = workers()
    assert len(child) == 1

    # the 5-second promise is the mechanism (SIGTERM, then SIGKILL after CANCEL_GRACE, tested with a
    # stand-in child in test_finetune_queue.py); here: the run ends cancelled and its child is gone
    first.predict(api_name="/finetune_cancel")
    result = running.result(timeout=120)[-1]
    assert result["stopped"] == "cancelled" and result["model_id"] is None and result["metrics"] is None
    assert result["history"] and result["history"][-1]["step"] >= 2
    assert not child[0].is_running() or child[0].status() == psutil.STATUS_ZOMBIE

    # the waiting run starts now; a Gradio-level cancel (the client's) stops its child too
    wait_for(waiting, lambda s: s.get("status") in ("starting", "training"))
    waiting.cancel()
    _, alive = psutil.wait_procs(workers(), timeout=120)  # returns as soon as they are gone
    assert alive == [], "a training child outlived its cancelled run"


def test_time_limit_keeps_a_usable_model(service: ModelService, tmp_path: Path):
    trainings = jobs.Trainings(service.finetuned, time_limit=3, root=tmp_path / "runs")
    content = long_file(tmp_path / "long.csv", rows=600).read_bytes()
    settings = data.Settings(**LONG)
    plan = data.make_plan(
        content, "long.csv", "text", "label", "", settings, service.resolve("discriminator"), data.Limits()
    )
    run = trainings.submit(plan, owner="someone")
    for _ in run.follow():
        pass
    result = run.outcome()
    assert result["stopped"] == "time_limit" and 3 <= result["seconds"] < 15
    assert 0 < len(result["history"]) < 480 * 20
    assert result["metrics"]["confusion"]["labels"] == ["neg", "pos"]
    answer = service.classify(result["model_id"], "the wonderful chef").to_json()
    assert answer["model"] == result["model_id"] and len(answer["labels"]) == 2
    assert run.zip_path is not None and run.zip_path.is_file()
    assert [m.model_id for m in service.finetuned.owned_by("someone")] == [result["model_id"]]
    run.release()
    assert not run.zip_path.exists() and workers() == []


def bad_files(tmp: Path) -> dict[str, tuple[Path, str]]:
    rows = cue_rows(10)
    files = {
        "missing column": (write_csv(tmp / "cols.csv", rows, header=("body", "label")), "no column 'text'"),
        "one class": (write_csv(tmp / "one.csv", [(t, "pos") for t, _ in rows]), "1 class ('pos')"),
        "a class with one row": (
            write_csv(tmp / "single.csv", [*rows, ("x y", "odd")]),
            "too few: 'odd' (1)",
        ),
        "duplicate headers": (write_csv(tmp / "dup.csv", rows, header=("text", "text")), "two columns named"),
        "too many rows": (write_csv(tmp / "many.csv", cue_rows(5001)), "5,001 rows; the limit is 5,000"),
    }
    empty = tmp / "empty.csv"
    empty.write_bytes(b"")
    binary = tmp / "binary.csv"
    binary.write_bytes(b"text,label\n\x00\x01\x02\xff binary\n")
    latin = tmp / "latin.csv"
    latin.write_bytes("text,label\ncafé crème,pos\n".encode("latin-1"))
    files["empty file"] = (empty, "is empty")
    files["binary bytes"] = (binary, "not a text file")
    files["non-UTF-8"] = (latin, "not valid UTF-8")
    return files


def test_bad_files_get_clear_messages(gc, url, tmp_path: Path):
    for what, (path, message) in bad_files(tmp_path).items():
        with pytest.raises(gradio_client.exceptions.AppError) as error:
            gc.predict(*finetune_args(path), api_name="/finetune")
        assert message in str(error.value), (what, str(error.value))
        assert "Traceback" not in str(error.value)
    big = tmp_path / "big.csv"
    big.write_bytes(b"text,label\n" + b"a b,pos\n" * 1_250_000)  # 10 MB: over the server's 2 MB upload cap
    with pytest.raises(ValueError, match=r"exceeds the maximum file size of 2000000 bytes"):
        gc.predict(*finetune_args(big), api_name="/finetune")  # gradio_client checks before uploading
    with httpx.Client(timeout=60) as http, open(big, "rb") as handle:  # and the server refuses it
        refused = http.post(url + "/gradio_api/upload", files={"files": ("big.csv", handle, "text/csv")})
    assert refused.status_code == 413 and "Traceback" not in refused.text
    with pytest.raises(gradio_client.exceptions.AppError, match=r"number of epochs must be from 1 to 20"):
        gc.predict(*finetune_args(tmp_path / "cols.csv", epochs=50), api_name="/finetune")
    assert workers() == []
