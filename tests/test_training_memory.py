"""Training within the memory a machine has (issue 27): the plan that trains the visitor's batch in
micro-batches (with activation checkpointing and bf16 autocast where they are needed and
available) under the budget, the memory left read from the cgroup and /proc/meminfo (faked
here), a run that would not fit refused before any child starts (over the Gradio API, with a
message naming a smaller setting), and training children that apply a split plan and still learn
the tests' files (a tagging run through the real queue and child, an Adapt run in this process).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch

from electra_demo import config
from electra_demo.adapt import objective
from electra_demo.adapt import worker as adapt_worker
from electra_demo.checks import InputError
from electra_demo.finetune import data, jobs, memory, tag_data
from electra_demo.finetune.memory import BUDGET_MB, MemoryPlan, Shape
from electra_demo.finetune.worker_common import Events, Stop
from electra_demo.tools.tiny import tiny_environ
from electra_demo.trained.store import Store
from tests.helpers.data import corpus, cue_rows, tag_sentences, write_conll, write_csv
from tests.helpers.training import (
    CUE_SETTINGS,
    LEARN,
    TAG_SETTINGS,
    finetune_args,
    stub_python,
    worker_spec,
    workers,
)

gradio_client = pytest.importorskip("gradio_client")

BASE, GENERATOR = Shape(), Shape(hidden=256, intermediate=1024)  # electra-base and its generator
DEFAULTS = {"classify": 128, "tag": 128, "qa": 384}  # the endpoints' default max_length (batch 16)


def meminfo(folder: Path, available_mb: float) -> Path:
    path = folder / "meminfo"
    path.write_text(f"MemTotal:       16000000 kB\nMemAvailable:   {int(available_mb * 1024)} kB\n")
    return path


# ---- the memory left -----------------------------------------------------------------------------
def test_free_memory_is_the_cgroup_s_room_capped_by_mem_available(tmp_path: Path):
    info, cgroup = meminfo(tmp_path, 8192), tmp_path / "cgroup"
    cgroup.mkdir()
    assert memory.free_mb(cgroup, info) == 8192  # no cgroup files: MemAvailable
    (cgroup / "memory.max").write_text(f"{4 * 2**30}\n")
    (cgroup / "memory.current").write_text(f"{2**30}\n")
    assert memory.free_mb(cgroup, info) == 3072  # cgroup v2: limit less use
    (cgroup / "memory.max").write_text("max\n")
    assert memory.free_mb(cgroup, info) == 8192  # no limit
    (cgroup / "memory.max").unlink()
    (cgroup / "memory").mkdir()
    (cgroup / "memory" / "memory.limit_in_bytes").write_text(f"{12 * 2**30}\n")
    (cgroup / "memory" / "memory.usage_in_bytes").write_text(f"{2 * 2**30}\n")
    assert memory.free_mb(cgroup, info) == 8192  # cgroup v1: 10 GB of room, but 8 GB available
    assert memory.free_mb(cgroup, meminfo(tmp_path, 20480)) == 10240
    assert memory.free_mb(tmp_path / "none", tmp_path / "none") is None
    assert memory.free_mb() is not None  # this machine's


# ---- the plans -----------------------------------------------------------------------------------
@pytest.mark.parametrize("precision", ["bf16", "fp32"])
def test_every_kind_at_its_defaults_is_split_under_the_budget(precision: str):
    for task, length in DEFAULTS.items():
        plan = memory.choose((BASE,), "full", 16, length, precision, "trainer", BUDGET_MB)
        assert plan.micro_batch * plan.accumulation == 16, (task, plan)
        assert plan.micro_batch < 16 or plan.checkpointing, (task, plan)  # not the old way
        assert plan.estimate_mb <= BUDGET_MB and plan.precision == precision
    adapt = memory.choose((BASE, GENERATOR), "full", 16, 128, precision, "adapt", BUDGET_MB)
    assert adapt.micro_batch * adapt.accumulation == 16 and adapt.estimate_mb <= BUDGET_MB
    public = adapt.public()
    assert set(public) == {"micro_batch", "accumulation", "gradient_checkpointing", "precision"}


def test_head_mode_and_small_models_take_the_whole_batch_and_less_room_means_smaller_steps():
    head = memory.choose((BASE,), "head", 16, 384, "bf16", "trainer", BUDGET_MB)
    assert (head.micro_batch, head.checkpointing) == (16, False)
    tiny = memory.choose(
        (Shape(hidden=32, layers=2, intermediate=64),), "full", 8, 32, "bf16", "trainer", 1e4
    )
    assert (tiny.micro_batch, tiny.accumulation, tiny.checkpointing) == (8, 1, False)
    roomy = memory.choose((BASE,), "full", 16, 128, "fp32", "trainer", 1e6)
    assert (roomy.micro_batch, roomy.checkpointing) == (16, False)  # plenty of memory: as before
    tight = [memory.choose((BASE,), "full", 16, 384, "fp32", "trainer", b) for b in (1e6, 2600, 2300, 100)]
    assert [p.estimate_mb for p in tight] == sorted((p.estimate_mb for p in tight), reverse=True)
    assert tight[-1].micro_batch == 1 and tight[-1].checkpointing  # the least it can take
    with pytest.raises(InputError) as refused:
        memory.check_fits(tight[-1], 100.0, "full")
    message = str(refused.value)
    assert message.startswith("This training run needs about ") and "; 0.1 GB are free." in message
    assert "Try a smaller batch size or max length." in message and "Head mode" in message
    memory.check_fits(tight[-1], None)  # unknown free memory: not checked


def test_training_precision_is_bf16_where_the_cpu_has_it_unless_fp32_is_asked():
    bf16, plain = frozenset({"avx512f", "amx_bf16"}), frozenset({"avx2"})
    assert memory.training_precision("auto", "cpu", bf16) == "bf16"
    assert memory.training_precision("auto", "cpu", frozenset({"avx512_bf16"})) == "bf16"
    assert memory.training_precision("auto", "cpu", plain) == "fp32"
    assert memory.training_precision("int8", "cpu", bf16) == "bf16"  # int8 is a serving choice
    assert memory.training_precision("fp32", "cpu", bf16) == "fp32"
    assert memory.training_precision("bf16", "cpu", plain) == "bf16"  # asked for: slow, but correct
    assert memory.training_precision("auto", "cuda", bf16) == "fp32"  # as before on a GPU


def test_the_plan_reads_the_checkpoint_s_shape(tiny_dir: Path):
    resolved = config.resolve("discriminator", tiny_environ(tiny_dir))
    shape = memory.shape_of(resolved)
    assert shape.hidden < 768 and shape.layers < 12
    gone = config.ResolvedSlot(resolved.slot, "/nowhere/at/all", None, True, True)
    assert memory.shape_of(gone) == Shape()  # unreadable: electra-base's, as every registry slot
    plan = data.Plan(None, [], [], data.Settings(), resolved, "f.csv")  # type: ignore[arg-type]
    planned = memory.plan_for(plan, "auto", None)
    assert planned.micro_batch == 16 and planned.estimate_mb < BUDGET_MB
    on_gpu = memory.plan_for(data.Plan(None, [], [], data.Settings(), gone, "f.csv"), "auto", None, "cuda")  # type: ignore[arg-type]
    assert (on_gpu.micro_batch, on_gpu.precision, on_gpu.lean_attention) == (16, "fp32", False)


def test_micro_batches_weigh_their_losses_into_the_whole_batch_s():
    batch = objective.pad([[2, *range(10, 10 + n), 3] for n in (9, 3, 6, 1, 7)], 0, [0, 1, 2, 3, 4])
    masked = objective.choose_masks(batch, 0.3, [1, 2, 3, 4, 5])
    parts = objective.split(batch, masked, 2)
    assert [p.batch.input_ids.shape for p in parts] == [(2, 11), (2, 8), (1, 9)]  # each cut to its rows
    assert sum(p.share_mlm for p in parts) == pytest.approx(1) and sum(p.share_rtd for p in parts) == 1
    values = torch.arange(batch.input_ids.numel(), dtype=torch.float).view(batch.input_ids.shape)
    whole = values[masked].mean(), values[batch.attention_mask.bool()].mean()
    start, mlm, rtd = 0, 0.0, 0.0
    for part in parts:
        rows, width = part.batch.input_ids.shape
        mine = values[start : start + rows, :width]
        mlm += part.share_mlm * float(mine[part.masked].mean())
        rtd += part.share_rtd * float(mine[part.batch.attention_mask.bool()].mean())
        start += rows
    assert (mlm, rtd) == pytest.approx((float(whole[0]), float(whole[1])))


# ---- refused before it starts ------------------------------------------------------------------
def test_a_run_that_would_not_fit_is_refused_over_the_gradio_api_and_starts_no_child(
    gc, service, tmp_path: Path, monkeypatch
):
    monkeypatch.setattr(memory, "MEMINFO", meminfo(tmp_path, 100))  # 100 MB left
    monkeypatch.setattr(memory, "CGROUP", tmp_path / "no-cgroup")
    path = write_csv(tmp_path / "cues.csv", cue_rows(40))
    with pytest.raises(gradio_client.exceptions.AppError) as refused:
        gc.predict(*finetune_args(path, **CUE_SETTINGS), api_name="/finetune")
    message = str(refused.value)
    assert "This training run needs about " in message and "; 0.1 GB are free." in message, message
    assert "Try a smaller batch size or max length." in message and "Traceback" not in message
    assert workers() == [] and jobs.trainings_for(service).active() == []


def test_a_queued_run_that_no_longer_fits_when_its_turn_comes_fails_with_the_message(tmp_path: Path):
    free = [1e6]
    trainings = jobs.Trainings(
        Store(tmp_path / "store"),
        root=tmp_path / "runs",
        python=stub_python(tmp_path),
        free_memory=lambda: free[0],
    )
    first = trainings.submit(_stub_plan(tmp_path, "first"), owner="a")
    second = trainings.submit(_stub_plan(tmp_path, "second"), owner="a")
    _wait(lambda: first.pid is not None)
    free[0] = 100.0  # something else took the memory while it waited
    (tmp_path / "first").write_text("done")
    for _ in second.follow(heartbeat=0.1):
        pass
    with pytest.raises(jobs.TrainingFailed, match=r"needs about .* GB; 0\.1 GB are free\. Try a smaller"):
        second.outcome()
    assert second.pid is None and "micro_batch" in first.outcome()["settings"]
    first.release()


def _stub_plan(tmp_path: Path, name: str) -> data.Plan:
    base = config.ResolvedSlot(
        config.Slot("discriminator", "x", "t", "D", "apache-2.0", "pretraining"),
        "/nowhere",
        None,
        False,
        True,
    )
    rows = "".join(f"text {i},{'ab'[i % 2]}\n" for i in range(6))
    made = data.make_plan(
        f"text,label\n{rows}".encode(), "f.csv", "text", "label", "", data.Settings(), base, data.Limits()
    )
    made.file = str(tmp_path / name)  # the stand-in child ends when this file appears
    return made


def _wait(predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


# ---- a split plan, applied ---------------------------------------------------------------------
def test_a_tagging_run_in_micro_batches_with_checkpointing_in_bf16_still_learns(
    tiny_dir: Path, tmp_path: Path, monkeypatch
):
    split = MemoryPlan(micro_batch=2, accumulation=4, checkpointing=True, precision="bf16", estimate_mb=1.0)
    monkeypatch.setattr(memory, "plan_for", lambda *args, **kwargs: split)
    trainings = jobs.Trainings(Store(tmp_path / "store"), root=tmp_path / "runs", threads=1)
    upload = write_conll(tmp_path / "tags.conll", tag_sentences(160)).read_bytes()
    settings = data.Settings(**{k: v for k, v in TAG_SETTINGS.items()})
    base = config.resolve("discriminator", tiny_environ(tiny_dir))
    run = trainings.submit(tag_data.make_plan(upload, "tags.conll", settings, base, data.Limits()), owner="t")
    for _ in run.follow(heartbeat=0.5):
        pass
    result = run.outcome()
    assert {k: result["settings"][k] for k in split.public()} == split.public()
    assert result["metrics"]["f1"] >= 0.9, result["metrics"]
    steps_per_epoch = -(-result["rows"]["train"] // TAG_SETTINGS["batch_size"])  # batches of 8, not of 2
    assert len(result["history"]) == steps_per_epoch * TAG_SETTINGS["epochs"]
    run.release()


def test_an_adapt_run_in_micro_batches_with_checkpointing_in_bf16_still_learns(
    tiny_dir: Path, tmp_path: Path
):
    spec = worker_spec(tiny_dir, tmp_path / "adapt", corpus(150), 30, **LEARN)
    spec["memory"] = MemoryPlan(4, 4, True, "bf16", 1.0).to_json()
    threads = torch.get_num_threads()
    try:
        result = adapt_worker.train(spec, Events(spec["events"]), Stop(600))
    finally:
        torch.set_num_threads(threads)  # the child sets its own: give this process its count back
    assert result["after"]["rtd_auc"] >= result["before"]["rtd_auc"] + 0.1, (
        result["before"],
        result["after"],
    )
    assert len(result["history"]) == LEARN["steps"]
