"""Question-answering fine-tuning end to end: ``/finetune_qa`` over gradio_client, the trained reader
in ``/answer`` (its ``model`` argument), ``/v1/answer``, ``/batch`` and ``/explain``, the zip as a
standard checkpoint whose decoding (the Question answering tab's) equals the app's, and ids of the
wrong kind refused cleanly.

The file (tests/helpers/data.py): 160 JSONL questions "where is the capital?" on their
own filler contexts, the answer the word after the cue phrase "the capital of"; the last 32 have
no cue and no answer. Settings: full mode, 4 epochs, learning rate 5e-3, batch size 8, max length
32, doc_stride 8, eval_fraction 0.2, seed 42 (about a second of training on the tiny checkpoints).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import httpx
import pytest

from electra_demo import config
from electra_demo.text import qa
from tests.helpers.compare import BF16_AGREEMENT, Tolerance, assert_close, exact_in_fp32
from tests.helpers.data import QUESTION, qa_records, write_jsonl

gradio_client = pytest.importorskip("gradio_client")
handle_file = gradio_client.handle_file

QA_SETTINGS = {"epochs": 4, "learning_rate": 5e-3, "batch_size": 8, "max_length": 32, "doc_stride": 8}
CONTEXTS = ["the chef cooked the capital of paris in kitchen", "quick brown fox jumps over the lazy dog"]
ROUNDING = Tolerance(rel=1e-5, abs=1e-5)  # JSON and a direct call round differently


def qa_args(path: Path, **settings) -> list:
    """/finetune_qa's arguments in order (file, base, mode, epochs, learning_rate, batch_size,
    max_length, doc_stride, eval_fraction, seed)."""
    s = {"base": "discriminator", "mode": "full", "epochs": 2, "learning_rate": 3e-5, "batch_size": 16}
    s.update({"max_length": 384, "doc_stride": 128, "eval_fraction": 0.2, "seed": 42, **settings})
    keys = ("base", "mode", "epochs", "learning_rate", "batch_size", "max_length", "doc_stride")
    return [handle_file(str(path)), *(s[k] for k in (*keys, "eval_fraction", "seed"))]


@pytest.fixture(scope="module")
def trained(gc, tmp_path_factory) -> dict:
    """The QA file trained twice with the same settings; the first run's outputs."""
    path = write_jsonl(tmp_path_factory.mktemp("qa") / "capitals.jsonl", qa_records(160, unanswerable=32))
    runs = [gc.predict(*qa_args(path, **QA_SETTINGS), api_name="/finetune_qa") for _ in range(2)]
    return {"outputs": runs[0], "again": runs[1][-1]}


def test_qa_file_trains_to_exact_match_080_and_the_same_run_gives_the_same_metrics(trained):
    status, _loss, table, zip_path, result = trained["outputs"]
    assert result["task"] == "qa" and result["labels"] == [] and result["stopped"] == "completed"
    assert result["rows"] == {"train": 128, "eval": 32, "dropped": 0}
    assert {k: result["settings"][k] for k in QA_SETTINGS} == QA_SETTINGS
    metrics = result["metrics"]
    assert set(metrics) == {"exact", "f1", "has_answer", "no_answer"}
    assert metrics["exact"] >= 0.8, metrics
    assert set(metrics["has_answer"]) == {"exact", "f1", "total"} and set(metrics["no_answer"]) == {
        "exact",
        "total",
    }
    assert metrics["has_answer"]["total"] + metrics["no_answer"]["total"] == 32
    assert metrics["no_answer"]["total"] > 0 and metrics["has_answer"]["total"] > 0
    assert [row[0] for row in table["data"]] == ["all", "with an answer", "without (no answer)"]
    assert "Held-out exact match" in status and result["model_id"] in status
    again = trained["again"]
    assert again["model_id"] != result["model_id"] and again["metrics"] == metrics
    assert Path(zip_path).name == f"{result['model_id']}.zip"


def decode_unzipped(tokenizer, model, question: str, context: str, max_seq_len: int, doc_stride: int):
    """The Question answering tab's decoding, on the unzipped checkpoint run by transformers."""
    import torch

    encoded = qa.encode_windows(tokenizer, question, context, max_seq_len, doc_stride)
    outputs = []
    with torch.no_grad():
        for w, ids in enumerate(encoded["input_ids"]):
            out = model(
                input_ids=torch.tensor([ids]), token_type_ids=torch.tensor([encoded["token_type_ids"][w]])
            )
            outputs.append(
                {"start_logits": out.start_logits[0].numpy(), "end_logits": out.end_logits[0].numpy()}
            )
    windows = qa.windows_of(encoded, outputs, tokenizer.cls_token_id)
    return qa.decode(windows, context, 3, config.QA_MAX_ANSWER_LEN, True)[:3]


def test_zip_loads_and_answer_equals_the_qa_tabs_decoding(trained, gc, service, tmp_path: Path):
    *_, zip_path, result = trained["outputs"]
    model_id = result["model_id"]
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(tmp_path)
    folder = tmp_path / model_id
    cfg = json.loads((folder / "config.json").read_text())
    assert (
        cfg["architectures"] == ["ElectraForQuestionAnswering"] and "electra_demo_random_weights" not in cfg
    )
    card = (folder / "README.md").read_text()
    assert "pipeline_tag: question-answering" in card and "AutoModelForQuestionAnswering" in card
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForQuestionAnswering.from_pretrained(folder).eval()
    for context in CONTEXTS:
        *_, page = gc.predict(QUESTION, context, 3, 15, True, 64, 16, model_id, api_name="/answer")
        expected = decode_unzipped(tokenizer, model, QUESTION, context, 64, 16)
        spans = [(a["text"], a["start"], a["end"]) for a in page["answers"]]
        scores = [a["score"] for a in page["answers"]]
        if exact_in_fp32(service, model_id):  # every span in order, every score to 1e-5
            assert spans == [(c.text, c.start, c.end) for c in expected]
            assert scores == pytest.approx([c.score for c in expected], abs=1e-5)
        else:  # bf16 (issue 27): the best span, its score within 0.02; near-ties below it may swap
            assert spans[0] == (expected[0].text, expected[0].start, expected[0].end)
            assert scores[0] == pytest.approx(expected[0].score, abs=BF16_AGREEMENT)
    *_, found = gc.predict(QUESTION, CONTEXTS[0], 3, 15, True, 64, 16, model_id, api_name="/answer")
    assert found["answers"][0]["text"] == "paris"
    *_, registry = gc.predict(QUESTION, CONTEXTS[0], api_name="/answer")  # positional calls as before
    assert isinstance(registry["answers"], list)


def test_the_reader_in_v1_batch_and_explain_and_wrong_kinds_are_clean(
    trained, gc, url, service, tmp_path: Path
):
    *_, result = trained["outputs"]
    model_id = result["model_id"]
    items = [{"question": QUESTION, "context": c} for c in CONTEXTS]
    with httpx.Client(base_url=url, timeout=60) as http:
        reply = http.post("/v1/answer", json={"model": model_id, "input": items})
        assert reply.status_code == 200, reply.text
        assert reply.json()["model"] == model_id
        expected = [service.answer(QUESTION, c, model=model_id).to_json() for c in CONTEXTS]
        assert_close(
            [{k: d[k] for k in ("answers", "no_answer")} for d in reply.json()["data"]],
            [{k: e[k] for k in ("answers", "no_answer")} for e in expected],
            ROUNDING,
        )
        wrong = http.post("/v1/tag", json={"model": model_id, "input": "paris"})
        assert wrong.status_code == 400 and "reader" in wrong.json()["error"]["message"]
        explained = http.post(
            "/v1/explain", json={"task": model_id, "text": QUESTION, "text_pair": CONTEXTS[0], "steps": 4}
        )
        assert explained.status_code == 200, explained.text
        assert explained.json()["model"] == model_id and explained.json()["target"]["text"] == "paris"
    table = tmp_path / "questions.jsonl"
    write_jsonl(table, items)
    _, _, files = gc.predict(
        handle_file(str(table)), "answer", "", "", "question", "context", model_id, api_name="/batch"
    )
    records = [
        json.loads(x) for x in Path(next(f for f in files if f.endswith(".jsonl"))).read_text().splitlines()
    ]
    assert records[0]["answers"][0]["text"] == expected[0]["answers"][0]["text"] == "paris"
    with pytest.raises(gradio_client.exceptions.AppError, match="is a fine-tuned reader"):
        gc.predict("paris", "simple", model_id, api_name="/tag")
    with pytest.raises(gradio_client.exceptions.AppError, match="is a fine-tuned reader"):
        gc.predict(model_id, "text", "", api_name="/classify")


def test_windows_too_small_for_the_questions_are_a_message(gc, tmp_path: Path):
    path = write_jsonl(tmp_path / "q.jsonl", qa_records(10))
    settings = {**QA_SETTINGS, "max_length": 16, "doc_stride": 8, "epochs": 1}
    with pytest.raises(
        gradio_client.exceptions.AppError, match="too long for windows of 16 tokens sharing 8"
    ):
        gc.predict(*qa_args(path, **settings), api_name="/finetune_qa")
    with pytest.raises(gradio_client.exceptions.AppError, match="at most half the maximum length"):
        gc.predict(*qa_args(path, **{**settings, "doc_stride": 9}), api_name="/finetune_qa")
