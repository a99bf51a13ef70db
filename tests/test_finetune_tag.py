"""Entity-tagging fine-tuning end to end, as a user drives it: ``/finetune_tag`` over gradio_client,
the trained tagger in ``/tag`` (its ``model`` argument), ``/v1/tag``, ``/batch`` and
``/v1/embeddings``, the zip as a standard checkpoint equal to transformers' pipeline, and ids of
the wrong kind refused cleanly everywhere.

The file (tests/helpers/data.py): 160 CoNLL sentences of filler words with one or two
entities whose word decides the type (PER, LOC, ORG), tiny-vocabulary whole words. Settings: full
mode, 4 epochs, learning rate 5e-3, batch size 8, max length 32, eval_fraction 0.2, seed 42 (the
tiny checkpoints are random, so a high rate; it trains in about a second).
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import httpx
import pytest

from electra_demo import config
from electra_demo.trained.kinds import is_model_id
from tests.helpers.compare import Tolerance, assert_close, served_abs
from tests.helpers.data import tag_sentences, write_conll
from tests.helpers.training import TAG_SETTINGS, tag_args

gradio_client = pytest.importorskip("gradio_client")
handle_file = gradio_client.handle_file

TEXTS = ["the chef met marie curie in paris", "google is in berlin with pierre", "a lazy dog"]
ROUNDING = Tolerance(rel=1e-5, abs=1e-5)  # batched rows, JSON and a direct call round differently


@pytest.fixture(scope="module")
def trained(gc, tmp_path_factory) -> dict:
    """The tagging file trained twice with the same settings; the first run's outputs."""
    path = write_conll(tmp_path_factory.mktemp("tags") / "entities.conll", tag_sentences(160))
    runs = [gc.predict(*tag_args(path, **TAG_SETTINGS), api_name="/finetune_tag") for _ in range(2)]
    return {"outputs": runs[0], "again": runs[1][-1]}


def test_tagging_file_trains_to_entity_f1_090_and_the_same_run_gives_the_same_metrics(trained):
    status, _loss, table, zip_path, result = trained["outputs"]
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
    assert is_model_id(result["model_id"]) and result["task"] == "tag" and result["stopped"] == "completed"
    assert result["labels"] == ["O", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PER", "I-PER"]
    assert result["rows"] == {"train": 128, "eval": 32, "dropped": 0}
    assert {k: result["settings"][k] for k in TAG_SETTINGS} == TAG_SETTINGS
    assert (result["settings"]["format"], result["settings"]["scheme"]) == ("conll", "IOB2")
    metrics = result["metrics"]
    assert metrics["f1"] >= 0.9, metrics
    assert set(metrics) == {"precision", "recall", "f1", "per_type", "token_accuracy"}
    assert set(metrics["per_type"]) == {"LOC", "ORG", "PER"}
    assert set(metrics["per_type"]["PER"]) == {"precision", "recall", "f1", "support"}
    assert [row[0] for row in table["data"]] == ["LOC", "ORG", "PER", "all (micro average)"]
    assert "Held-out entity F1" in status and result["model_id"] in status
    assert result["history"][-1]["loss"] < result["history"][0]["loss"]
    again = trained["again"]
    assert again["model_id"] != result["model_id"] and again["metrics"] == metrics
    assert Path(zip_path).name == f"{result['model_id']}.zip"


def test_zip_loads_and_tag_equals_the_pipeline_for_every_aggregation(trained, gc, service, tmp_path: Path):
    from transformers import AutoModelForTokenClassification, AutoTokenizer, pipeline

    *_, zip_path, result = trained["outputs"]
    model_id = result["model_id"]
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(tmp_path)
    folder = tmp_path / model_id
    assert {"config.json", "model.safetensors", "tokenizer.json", "README.md"} <= {
        p.name for p in folder.iterdir()
    }
    cfg = json.loads((folder / "config.json").read_text())
    assert list(cfg["id2label"].values()) == result["labels"] and "electra_demo_random_weights" not in cfg
    card = (folder / "README.md").read_text()
    assert "pipeline_tag: token-classification" in card and f"F1 {result['metrics']['f1']:.4f}" in card
    model = AutoModelForTokenClassification.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    tagger = pipeline("token-classification", model=model, tokenizer=tokenizer)
    for aggregation in config.AGGREGATIONS:
        for text in TEXTS[:2]:
            *_, page = gc.predict(text, aggregation, model_id, api_name="/tag")
            expected = tagger(text, aggregation_strategy=aggregation)
            got = page["entities"]
            assert [(e["label"], e["start"], e["end"]) for e in got] == [
                (e.get("entity_group") or e["entity"], e["start"], e["end"]) for e in expected
            ], (aggregation, text)
            scores = [float(e["score"]) for e in expected]
            assert [e["score"] for e in got] == pytest.approx(scores, abs=served_abs(service, model_id))
    *_, found = gc.predict("marie worked in paris", "simple", model_id, api_name="/tag")
    assert [(e["text"], e["label"]) for e in found["entities"]] == [("marie", "PER"), ("paris", "LOC")]
    *_, registry = gc.predict(
        "marie worked in paris", "simple", api_name="/tag"
    )  # positional calls as before
    assert isinstance(registry["entities"], list)


def test_the_tagger_in_batch_and_v1_and_wrong_kinds_are_clean(trained, gc, url, service, tmp_path: Path):
    *_, result = trained["outputs"]
    model_id = result["model_id"]
    lines = tmp_path / "texts.txt"
    lines.write_text("\n".join(TEXTS) + "\n")
    _, _, files = gc.predict(handle_file(str(lines)), "tag", "text", "", "", "", model_id, api_name="/batch")
    records = [
        json.loads(x) for x in Path(next(f for f in files if f.endswith(".jsonl"))).read_text().splitlines()
    ]
    assert_close(
        [r["entities"] for r in records],
        [service.tag(t, "simple", model_id).to_json()["entities"] for t in TEXTS],
        ROUNDING,
    )
    with httpx.Client(base_url=url, timeout=60) as http:
        reply = http.post("/v1/tag", json={"model": model_id, "input": TEXTS})
        assert reply.status_code == 200, reply.text
        assert reply.json()["model"] == model_id
        shown = [d["entities"] for d in reply.json()["data"]]
        assert_close(shown, [r["entities"] for r in records], ROUNDING)
        assert http.post("/v1/embeddings", json={"model": model_id, "input": "paris"}).status_code == 200
        for route, body in (
            ("/v1/answer", {"model": model_id, "input": {"question": "q", "context": "c"}}),
            ("/v1/classify", {"model": model_id, "input": "x"}),
            ("/v1/detect", {"model": model_id, "input": "x"}),
        ):
            wrong = http.post(route, json=body)
            assert wrong.status_code == 400, (route, wrong.text)
            assert "entity tagger" in wrong.json()["error"]["message"] and "Traceback" not in wrong.text
        schema = http.get("/v1/openapi.json").json()["components"]["schemas"]["TagRequest"]
        patterns = [o["pattern"] for o in schema["properties"]["model"]["anyOf"] if "pattern" in o]
        assert any(re.fullmatch(p.strip("^$"), model_id) for p in patterns), patterns
    for args, name in (
        (["where?", "paris", 3, 15, True, 384, 128, model_id], "/answer"),
        ([model_id, "text", ""], "/classify"),
        ([model_id, "marie", "", "", "gradient_x_input", 8], "/explain"),
    ):
        with pytest.raises(gradio_client.exceptions.AppError, match="is a fine-tuned entity tagger"):
            gc.predict(*args, api_name=name)
    questions = tmp_path / "questions.csv"
    questions.write_text("question,context\nwhere?,paris\n")
    with pytest.raises(gradio_client.exceptions.AppError, match="is a fine-tuned entity tagger"):
        gc.predict(handle_file(str(questions)), "answer", "", "", "", "", model_id, api_name="/batch")
    with pytest.raises(gradio_client.exceptions.AppError, match="the id of a model trained in the Fine-tune"):
        gc.predict("paris", "simple", "../../etc", api_name="/tag")
