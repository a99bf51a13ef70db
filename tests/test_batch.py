"""Batch runs: planning a job and running it on the tiny checkpoints (files: test_tables.py)."""

from __future__ import annotations

import logging
import random
import threading
import time

import pytest

from electra_demo import batch, config
from electra_demo.batch import plan_job, run_job
from electra_demo.checks import InputError
from electra_demo.service import ModelService, ModelUnavailable
from electra_demo.text import tables
from electra_demo.text.tables import read_table
from tests.helpers.compare import Tolerance, assert_close
from tests.helpers.data import table

TEXTS = [
    "The chef cooked the meal in the kitchen.",
    "Marie Curie worked at the University of Paris with Pierre Curie.",
    "Café, naïve, résumé and crème brûlée have accents.",
    "I loved this movie, it was wonderful and moving!",
    "東京は日本の首都です。",
]


ROUNDING = Tolerance(rel=1e-4, abs=1e-5)  # the micro-batcher's padding rounding (~1e-6)


# ---- planning -----------------------------------------------------------------------------
def test_plan_defaults_the_text_column():
    two = table({"id": "1", "text": "a"})
    job = plan_job(two, "detect")
    assert job.columns == {"text": "text"} and job.inputs == [{"text": "a"}]
    assert job.options == {"threshold": 0.5}
    only = plan_job(table({"review": "b"}), "tag", aggregation="first")
    assert only.columns == {"text": "review"} and only.inputs == [{"text": "b"}]
    assert only.options == {"aggregation": "first"}


def test_plan_column_messages_list_the_columns():
    t = table({"id": "1", "review": "a"})
    with pytest.raises(InputError, match=r"no column named 'text'; its columns are: 'id', 'review'\."):
        plan_job(t, "detect")
    with pytest.raises(
        InputError, match=r"^The file has no column 'body'; its columns are: 'id', 'review'\.$"
    ):
        plan_job(t, "detect", text_column="body")
    assert plan_job(t, "detect", text_column="review").inputs == [{"text": "a"}]
    with pytest.raises(InputError, match=r"holds the questions: the file has no column named 'question'"):
        plan_job(t, "answer")


def test_plan_classify_heads_and_pairs():
    pairs = table({"text": "A man sleeps.", "text_pair": "Nobody sleeps.", "hypothesis": "h"})
    with pytest.raises(InputError, match=r"Choose a classification head: one of sentiment, emotion, nli"):
        plan_job(pairs, "classify")
    with pytest.raises(InputError, match=r"Unknown head 'topic'; expected one of"):
        plan_job(pairs, "classify", head="topic")
    nli = plan_job(pairs, "classify", head="nli")
    assert nli.inputs == [{"text": "A man sleeps.", "text_pair": "Nobody sleeps."}]
    other = plan_job(pairs, "classify", head="nli", pair_column="hypothesis")
    assert other.columns == {"text": "text", "text_pair": "hypothesis"}
    sentiment = plan_job(pairs, "classify", head="sentiment")
    assert sentiment.inputs == [{"text": "A man sleeps."}]  # text_pair is not used
    with pytest.raises(InputError, match=r"The sentiment head reads one text; .* only for: nli\."):
        plan_job(pairs, "classify", head="sentiment", pair_column="text_pair")
    with pytest.raises(InputError, match=r"holds the second texts: the file has no column named 'text_pair'"):
        plan_job(table({"text": "a", "b": "c"}), "classify", head="nli")


def test_plan_checks_settings_before_running():
    t = table({"text": "a", "question": "q", "context": "c"})
    with pytest.raises(InputError, match="Unknown task 'translate'; expected one of: detect, classify"):
        plan_job(t, "translate")
    with pytest.raises(InputError, match="threshold must be between 0 and 1"):
        plan_job(t, "detect", threshold=1.5)
    with pytest.raises(InputError, match="Unknown aggregation 'median'"):
        plan_job(t, "tag", aggregation="median")
    with pytest.raises(InputError, match=r"top_k\) must be from 1 to 20; got 0"):
        plan_job(t, "answer", top_k=0)
    job = plan_job(t, "answer", top_k=2)
    assert job.inputs == [{"question": "q", "context": "c"}] and job.options == {"top_k": 2}
    assert plan_job(t, "detect", text_column="", pair_column="").columns == {"text": "text"}


# ---- running on the tiny checkpoints ------------------------------------------------------
def test_detect_rows_equal_direct_calls(service):
    job = plan_job(table(*({"text": t} for t in TEXTS)), "detect", threshold=0.4)
    records = run_job(job, service)
    assert [r["row"] for r in records] == [1, 2, 3, 4, 5]
    for record, text in zip(records, TEXTS, strict=True):
        expected = {"row": record["row"], "text": text, **service.detect(text, 0.4).to_json()}
        assert_close(record, expected, ROUNDING)


@pytest.mark.parametrize("head", ["sentiment", "emotion"])
def test_classify_rows_equal_direct_calls(service, head):
    records = run_job(plan_job(table(*({"text": t} for t in TEXTS)), "classify", head=head), service)
    for i, (record, text) in enumerate(zip(records, TEXTS, strict=True), start=1):
        assert_close(record, {"row": i, "text": text, **service.classify(head, text).to_json()}, ROUNDING)


def test_classify_pair_rows_equal_direct_calls(service):
    rows = [{"premise": t, "hypothesis": TEXTS[-1 - i]} for i, t in enumerate(TEXTS)]
    job = plan_job(table(*rows), "classify", text_column="premise", pair_column="hypothesis", head="nli")
    for i, (record, row) in enumerate(zip(run_job(job, service), rows, strict=True), start=1):
        expected = service.classify("nli", row["premise"], row["hypothesis"]).to_json()
        pair = {"text": row["premise"], "text_pair": row["hypothesis"]}
        assert_close(record, {"row": i, **pair, **expected}, ROUNDING)


@pytest.mark.parametrize("aggregation", ["simple", "none"])
def test_tag_rows_equal_direct_calls(service, aggregation):
    records = run_job(plan_job(table(*({"text": t} for t in TEXTS)), "tag", aggregation=aggregation), service)
    for i, (record, text) in enumerate(zip(records, TEXTS, strict=True), start=1):
        assert_close(record, {"row": i, "text": text, **service.tag(text, aggregation).to_json()}, ROUNDING)


def test_answer_rows_equal_direct_calls(service):
    rows = [{"question": "Who cooked the meal?", "context": t} for t in TEXTS]
    records = run_job(plan_job(table(*rows), "answer", top_k=2), service)
    for i, (record, row) in enumerate(zip(records, rows, strict=True), start=1):
        expected = service.answer(row["question"], row["context"], top_k=2).to_json()
        assert_close(record, {"row": i, **row, **expected}, ROUNDING)


def test_a_failing_row_gets_an_error_and_the_others_run(service):
    data = ("id,text\n1,Good text.\n2,\n3," + "x " * 15_000 + "\n4,Fine too.\n").encode()
    job = plan_job(read_table(data, "mixed.csv"), "detect")
    records = run_job(job, service)
    assert [r["row"] for r in records] == [1, 2, 3, 4]
    assert records[1] == {"row": 2, "text": "", "error": "Please enter some text: it is empty."}
    assert records[2]["error"] == "The text is 30,000 characters long; the limit is 20,000."
    for record in (records[0], records[3]):
        assert "error" not in record
        expected = {"row": record["row"], "text": record["text"], **service.detect(record["text"]).to_json()}
        assert_close(record, expected, ROUNDING)


def test_nli_row_without_its_second_text_fails_alone(service):
    rows = [{"text": "A man sleeps.", "text_pair": "He rests."}, {"text": "A man sleeps.", "text_pair": " "}]
    records = run_job(plan_job(table(*rows), "classify", head="nli"), service)
    assert "error" not in records[0] and records[0]["head"] == "nli"
    assert "please give the second one" in records[1]["error"]


def test_a_model_that_cannot_load_fails_every_row_once(tiny_env, tmp_path):
    broken = ModelService(environ={**tiny_env, "ELECTRA_DEMO_DISCRIMINATOR": str(tmp_path / "nowhere")})
    calls = []
    records = run_job(
        plan_job(table({"text": "a"}, {"text": "b"}), "detect"), broken, lambda *a: calls.append(a)
    )
    assert [set(r) for r in records] == [{"row", "text", "error"}] * 2
    assert "The discriminator model could not be loaded" in records[0]["error"]
    assert calls == [(0, 2), (2, 2)]


class FakeService:
    """Stands in for ModelService: records which threads call it, fails on request."""

    def __init__(self, batching: bool = True):
        self.batching = batching
        self.threads: set[str] = set()
        self.loaded: list[str] = []

    def load(self, name):
        self.loaded.append(name)

    def detect(self, text, threshold):
        self.threads.add(threading.current_thread().name)
        time.sleep(random.random() / 500)
        if text == "boom":
            raise RuntimeError("secret internals")
        if text == "gone":
            raise ModelUnavailable("The discriminator model could not be loaded.")
        return _Result({"echo": text, "threshold": threshold})


class _Result:
    def __init__(self, data):
        self.data = data

    def to_json(self):
        return self.data


def test_unexpected_errors_are_logged_and_reported_per_row(caplog):
    rows = [{"text": t} for t in ("one", "boom", "gone", "four")]
    with caplog.at_level(logging.ERROR, logger="electra_demo.batch"):
        records = run_job(plan_job(table(*rows), "detect"), FakeService())
    assert records[0] == {"row": 1, "text": "one", "echo": "one", "threshold": 0.5}
    assert records[1]["error"].startswith("Something went wrong") and "secret" not in records[1]["error"]
    assert records[2]["error"] == "The discriminator model could not be loaded."
    assert records[3]["echo"] == "four"
    assert "row 2 failed" in caplog.text and "secret internals" in caplog.text


def test_rows_keep_their_order_and_progress_comes_per_chunk():
    n = batch.CHUNK_ROWS * 2 + 3
    fake = FakeService()
    calls = []
    records = run_job(
        plan_job(table(*({"text": str(i)} for i in range(n))), "detect"),
        fake,
        lambda d, t: calls.append((d, t)),
    )
    assert [r["echo"] for r in records] == [str(i) for i in range(n)]
    assert [r["row"] for r in records] == list(range(1, n + 1))
    assert calls == [(0, n), (batch.CHUNK_ROWS, n), (2 * batch.CHUNK_ROWS, n), (n, n)]
    assert fake.loaded == ["discriminator"]
    assert 1 < len(fake.threads) <= batch.WORKERS and all(t.startswith("electra-batch") for t in fake.threads)


def test_no_threads_where_the_service_does_not_batch():
    fake = FakeService(batching=False)
    run_job(plan_job(table(*({"text": str(i)} for i in range(10))), "detect"), fake)
    assert fake.threads == {threading.current_thread().name}


def test_config_heads_are_the_ones_plan_job_offers():
    assert batch.TASKS == ("detect", "classify", "tag", "answer", "rerank")
    assert tuple(tables.RESULT_MARKERS.values()) == batch.TASKS  # write_outputs names every task's files
    assert set(config.CLASSIFY_HEADS) == {"sentiment", "emotion", "nli"}
