"""The training queue and its child processes, with a stand-in for the training child: one run at
a time, a bounded queue whose positions move up, cancel in the queue and while running, and the
messages for a child that fails or dies. (tests/test_finetune.py runs the real child.)"""

from __future__ import annotations

import time
from pathlib import Path

import psutil
import pytest

from electra_demo.checks import InputError
from electra_demo.config import ResolvedSlot, Slot
from electra_demo.finetune import data, jobs
from electra_demo.finetune.jobs import TrainingFailed, Trainings
from electra_demo.trained.store import Store
from tests.helpers.training import stub_python


@pytest.fixture
def trainings(tmp_path: Path) -> Trainings:
    """A queue whose children are the stand-in (``STUB_CHILD``): it ends as the run's release file says."""
    store, python = Store(tmp_path / "store"), stub_python(tmp_path)
    return Trainings(store, concurrency=1, queue_size=2, time_limit=60, root=tmp_path / "runs", python=python)


def plan(tmp_path: Path, name: str) -> data.Plan:
    rows = "".join(f"text {i},{'ab'[i % 2]}\n" for i in range(6))
    release = tmp_path / name  # the stand-in ends when this file appears
    base = ResolvedSlot(
        Slot("discriminator", "x", "t", "D", "apache-2.0", "pretraining"), "/nowhere", None, False, True
    )
    made = data.make_plan(
        f"text,label\n{rows}".encode(), "f.csv", "text", "label", "", data.Settings(), base, data.Limits()
    )
    made.file = str(release)
    return made


def wait(predicate, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def finish(run: jobs.Run) -> dict:
    for _ in run.follow(heartbeat=0.1):
        pass
    return run.outcome()


def test_one_at_a_time_a_bounded_queue_and_positions_that_move_up(trainings: Trainings, tmp_path: Path):
    first = trainings.submit(plan(tmp_path, "first"), owner="a")
    wait(lambda: first.snapshot().get("step") == 1)
    assert first.snapshot()["status"] == "training" and first.snapshot()["max_steps"] == 4
    second = trainings.submit(plan(tmp_path, "second"), owner="b")
    third = trainings.submit(plan(tmp_path, "third"), owner="c")
    assert second.snapshot() == {"status": "queued", "position": 1, "running": 1}
    assert third.snapshot()["position"] == 2
    with pytest.raises(
        InputError, match=r"The training queue is full \(1 training, 2 waiting; at most 2 may wait\)"
    ):
        trainings.submit(plan(tmp_path, "fourth"), owner="d")

    assert trainings.cancel("b") == 1  # out of the queue: it never starts
    follower = third.follow(heartbeat=0.1)
    wait(lambda: next(follower)[0].get("position") == 1)
    assert finish(second)["stopped"] == "cancelled" and second.pid is None

    (tmp_path / "first").write_text("done")
    result = finish(first)
    assert result["stopped"] == "completed" and result["model_id"] in trainings.store
    assert first.zip_path.read_bytes() == b"zip"
    assert [m.model_id for m in trainings.store.owned_by("a")] == [result["model_id"]]
    wait(lambda: third.snapshot().get("status") == "training")  # the next one starts
    (tmp_path / "third").write_text("done")
    assert finish(third)["stopped"] == "completed"
    first.release()
    assert not first.workdir.exists()


def test_cancel_while_training_and_failures_are_messages(trainings: Trainings, tmp_path: Path):
    running = trainings.submit(plan(tmp_path, "never"), owner="a")
    wait(lambda: running.snapshot().get("step") == 1)
    running.cancel()
    result = finish(running)
    assert result["stopped"] == "cancelled" and result["model_id"] is None
    assert result["history"] == [{"step": 1, "epoch": 0.25, "loss": 0.7}]
    assert trainings.store.owned_by("a") == []

    for how, message in (
        ("error", r"^The training failed: the base model could not be loaded$"),
        ("die", r"^The training process stopped unexpectedly \(exit code 3\); please try again\.$"),
    ):
        (tmp_path / how).write_text(how)
        with pytest.raises(TrainingFailed, match=message):
            finish(trainings.submit(plan(tmp_path, how), owner="a"))
    assert trainings.active() == []


def test_settings_from_the_environment(tmp_path: Path):
    store = Store(tmp_path)
    made = Trainings.from_environ(
        {
            "ELECTRA_DEMO_TRAIN_SECONDS": "30",
            "ELECTRA_DEMO_TRAIN_CONCURRENCY": "2",
            "ELECTRA_DEMO_TRAIN_QUEUE": "0",
        },
        store,
        root=tmp_path / "runs",
    )
    assert (made.time_limit, made.concurrency, made.queue_size) == (30.0, 2, 0)
    assert Trainings.from_environ({}, store, root=tmp_path / "r2").time_limit == 900.0
    refused = "ELECTRA_DEMO_TRAIN_SECONDS must be a number, at least 1; got 'soon'"
    with pytest.raises(ValueError, match=refused):
        Trainings.from_environ({"ELECTRA_DEMO_TRAIN_SECONDS": "soon"}, store)


def test_a_child_that_ignores_sigterm_is_killed_after_the_grace(trainings: Trainings, tmp_path: Path):
    """Cancel's bound is the mechanism: SIGTERM at once, SIGKILL CANCEL_GRACE (3 s) later, so a run
    stops within 5 s of Cancel on a machine that keeps up. Checked by what happened, not by a clock
    bound on a busy machine: the child got SIGTERM, was not killed before the grace, and is gone."""
    from electra_demo.finetune.child import CANCEL_GRACE

    running = trainings.submit(plan(tmp_path, "stubborn"), owner="a")
    wait(lambda: running.snapshot().get("step") == 1)
    pid = running.pid
    started = time.monotonic()
    running.cancel()
    result = finish(running)
    assert time.monotonic() - started >= CANCEL_GRACE  # it was given the grace first
    assert (tmp_path / "stubborn.sigterm").read_text() == "got it"  # and asked to stop first
    assert result["stopped"] == "cancelled" and result["model_id"] is None
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
