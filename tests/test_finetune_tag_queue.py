"""Tagging and QA runs on the training queue, with a stand-in child: each task's plan starts its own
worker module (finetune.KINDS), and Cancel ends a waiting or training tag/QA run as "cancelled"
with the run's task (tests/test_finetune_queue.py covers the queue itself)."""

from __future__ import annotations

from pathlib import Path

import pytest

from electra_demo.config import ResolvedSlot, Slot
from electra_demo.finetune import data, jobs, qa_data, tag_data
from electra_demo.finetune.jobs import TrainingFailed, Trainings
from electra_demo.trained.store import Store
from tests.helpers.data import qa_records, tag_sentences, write_conll, write_jsonl
from tests.helpers.training import stub_python

BASE = ResolvedSlot(
    Slot("discriminator", "x", "t", "D", "apache-2.0", "pretraining"), "/nowhere", None, False, True
)


@pytest.fixture
def trainings(tmp_path: Path) -> Trainings:
    """A queue whose children are the stand-in (``STUB_CHILD``): seed 1 fails naming its module."""
    store, python = Store(tmp_path / "store"), stub_python(tmp_path)
    return Trainings(store, queue_size=2, time_limit=60, root=tmp_path / "runs", python=python)


def plans(tmp_path: Path, seed: int) -> list:
    tags = write_conll(tmp_path / "t.conll", tag_sentences(10))
    questions = write_jsonl(tmp_path / "q.jsonl", qa_records(10))
    return [
        tag_data.make_plan(str(tags), "t.conll", data.Settings(seed=seed), BASE, data.Limits()),
        qa_data.make_plan(str(questions), "q.jsonl", qa_data.QASettings(seed=seed), BASE, data.Limits()),
    ]


def finish(run: jobs.Run):
    for _ in run.follow(heartbeat=0.1):
        pass
    return run.outcome()


def test_each_task_starts_its_own_worker(trainings: Trainings, tmp_path: Path):
    for plan, module in zip(plans(tmp_path, 1), ("worker_tag", "worker_qa"), strict=True):
        run = trainings.submit(plan, owner="a")
        with pytest.raises(
            TrainingFailed, match=f"started as electra_demo.finetune.{module} for task {plan.task}"
        ):
            finish(run)


def test_cancel_ends_tag_and_qa_runs_as_cancelled_with_their_task(trainings: Trainings, tmp_path: Path):
    tag, qa = plans(tmp_path, 2)
    first, second = trainings.submit(tag, owner="a"), trainings.submit(qa, owner="a")
    for _ in first.follow(heartbeat=0.1):
        if first.state == "training":
            break
    assert second.snapshot()["status"] == "queued"
    assert trainings.cancel("a") == 2
    ended = [finish(first), finish(second)]
    assert [(r["task"], r["stopped"], r["model_id"]) for r in ended] == [
        ("tag", "cancelled", None),
        ("qa", "cancelled", None),
    ]
    assert ended[0]["labels"] == tag.labels() and ended[1]["labels"] == [] and ended[0]["rows"] == tag.rows()
