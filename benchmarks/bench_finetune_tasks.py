"""Training children alone, on an electra-base-shaped random discriminator (issues 20 and 27).

    python benchmarks/bench_finetune.py --task tag [--rows 40] [--workdir DIR] [--out FILE.md]
    python benchmarks/bench_finetune.py --task qa [--rows 20] [--workdir DIR] [--out FILE.md]
    python benchmarks/bench_finetune.py --kinds [--rows 36] [--ways before,after,fp32] [--out FILE.md]

tag: sentences of exactly 128 tokens ([CLS]/[SEP] included), every 8th word an entity (two
types), max_length 128 (one window a sentence), batch 16, 1 epoch. qa: the question "where is
the answer?" on a context that fills one window of 384 tokens (the endpoint's default
max_length; doc_stride 128), the answer a word of it, batch 16, 1 epoch. classify: texts of
exactly 128 tokens, two labels. 80% trained on, 20% held out (``--kinds``: 4 held out). Seconds
per 100 sentences / questions come from the run's own ``seconds`` (its training loop) over its
training rows; peak memory is the child's (``ru_maxrss``).

``--kinds``: all four kinds (classify, tag, QA, and Adapt through ``bench_adapt.py``'s spec) in
``full`` mode at their endpoints' defaults (batch 16; max_length 128, QA 384), each run three ways
in the same run: ``before`` (the old settings: the whole batch at once, fp32, attention dropout
on, so plain attention's matrices are kept: a spec without a memory plan), ``after`` (the
server's plan: :func:`electra_demo.finetune.memory.plan_for` with ``ELECTRA_DEMO_PRECISION=auto``)
and ``fp32`` (the same planning with fp32 forced, as on a CPU without bf16).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from checkpoints import english_words, make_tokenizer, text_of

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "where is the answer?"
SETTINGS = {
    "classify": {
        "epochs": 1,
        "learning_rate": 5e-5,
        "batch_size": 16,
        "max_length": 128,
        "eval_fraction": 0.2,
    },
    "tag": {"epochs": 1, "learning_rate": 5e-5, "batch_size": 16, "max_length": 128, "eval_fraction": 0.2},
    "qa": {
        "epochs": 1,
        "learning_rate": 3e-5,
        "batch_size": 16,
        "max_length": 384,
        "doc_stride": 128,
        "eval_fraction": 0.2,
    },
}


def tag_rows(n: int, seed: int = 0) -> tuple[list[dict[str, Any]], list[str]]:
    """``n`` sentences as {"tokens", "tags"} (label ids), each 128 tokens with [CLS] and [SEP]."""
    tokenizer, rng, words = make_tokenizer(), random.Random(seed), english_words()
    labels = ["O", "B-A", "I-A", "B-B", "I-B"]
    rows = []
    for _ in range(n):
        tokens = text_of(126, rng, words).split()
        assert len(tokenizer(tokens, is_split_into_words=True)["input_ids"]) == 128
        rows.append(
            {"tokens": tokens, "tags": [0 if i % 8 else rng.choice([1, 3]) for i in range(len(tokens))]}
        )
    return rows, labels


def qa_rows(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` questions whose context fills one 384-token window with the question."""
    tokenizer, rng, words = make_tokenizer(), random.Random(seed), english_words()
    room = 384 - len(tokenizer(QUESTION, add_special_tokens=False)["input_ids"]) - 3
    rows = []
    for i in range(n):
        context = text_of(room, rng, words)
        answer = context.split()[rng.randrange(10, 100)].strip(".")
        start = context.index(" " + answer + " ") + 1
        rows.append(
            {
                "id": f"q{i}",
                "question": QUESTION,
                "context": context,
                "answers": {"text": [answer], "answer_start": [start]},
            }
        )
    return rows


def classify_rows(n: int, seed: int = 0) -> list[tuple[str, int]]:
    """``n`` (text, label id) rows, each text exactly 128 tokens with [CLS] and [SEP]."""
    tokenizer, rng, words = make_tokenizer(), random.Random(seed), english_words()
    texts = [text_of(126, rng, words) for _ in range(n)]
    assert all(len(tokenizer(t)["input_ids"]) == 128 for t in texts)
    return [(text, i % 2) for i, text in enumerate(texts)]


def spec_of(
    task: str, mode: str, base: Path, folder: Path, rows: int, held: int | None = None
) -> dict[str, Any]:
    settings = SETTINGS[task]
    held = held or max(1, round(rows * settings["eval_fraction"]))
    if task == "classify":
        data, labels = classify_rows(rows), ["a", "b"]
        parts = [
            {"texts": [t for t, _ in chunk], "labels": [label for _, label in chunk]}
            for chunk in (data[held:], data[:held])
        ]
    elif task == "tag":
        data, labels = tag_rows(rows)
        parts = [
            {"tokens": [r["tokens"] for r in chunk], "tags": [r["tags"] for r in chunk]}
            for chunk in (data[held:], data[:held])
        ]
    else:
        data, labels = qa_rows(rows), []
        parts = [data[held:], data[:held]]
    return {
        "task": task,
        "model_id": "ft-" + "0" * 16,
        "staging": str(folder / "model"),
        "zip": str(folder / "model.zip"),
        "events": str(folder / "events.jsonl"),
        "base": {
            "slot": "discriminator",
            "source": str(base),
            "revision": None,
            "local_files_only": True,
            "id": "base",
        },
        "labels": labels,
        "train": parts[0],
        "eval": parts[1],
        "settings": {"base": "discriminator", "mode": mode, "seed": 42, **settings},
        "public_settings": settings,
        "rows": {"train": rows - held, "eval": held, "dropped": 0},
        "time_limit": 3600,
        "threads": max(1, len(os.sched_getaffinity(0)) - 1),
        "card": {
            "base_name": "base",
            "base_id": "base",
            "base_license": "apache-2.0",
            "date": "-",
            "file": "-",
        },
    }


def bench_task(work: Path, base: Path, task: str, rows: int) -> list[dict[str, Any]]:
    runs = []
    for mode in ("full", "head"):
        folder = work / f"direct-{task}-{mode}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        spec = spec_of(task, mode, base, folder, rows)
        (folder / "spec.json").write_text(json.dumps(spec))
        started = time.perf_counter()
        worker = f"electra_demo.finetune.worker_{task}"
        subprocess.run([sys.executable, "-m", worker, str(folder / "spec.json")], check=True, cwd=ROOT)
        wall = time.perf_counter() - started
        done = json.loads((folder / "events.jsonl").read_text().splitlines()[-1])
        assert done["event"] == "done", done
        result = done["result"]
        trained = spec["rows"]["train"]
        runs.append(
            {
                "mode": mode,
                "train_rows": trained,
                "seconds": result["seconds"],
                "per_100": result["seconds"] / trained * 100,
                "peak_rss_mb": done["peak_rss_mb"],
                "wall": wall,
            }
        )
        shutil.rmtree(folder, ignore_errors=True)
    return runs


def report_task(task: str, runs: list[dict[str, Any]], device: str, command: str) -> str:
    unit, shape = {
        "tag": ("sentences", "128 tokens, 1 epoch, batch 16"),
        "qa": ("questions", "one 384-token window, 1 epoch, batch 16"),
    }[task]
    lines = [
        f"Device: {device}",
        f"Command: `{command}`",
        "",
        f"| mode | {unit} trained ({shape}) | training loop | s per 100 {unit} | peak RSS "
        "| child wall time |",
        "|---|---|---|---|---|---|",
    ]
    for run in runs:
        lines.append(
            f"| {run['mode']} | {run['train_rows']} | {run['seconds']:.1f} s | **{run['per_100']:.2f} s** | "
            f"{run['peak_rss_mb']:.0f} MB | {run['wall']:.1f} s |"
        )
    return "\n".join(lines)


# ---- --kinds: every kind at its defaults, before and after (issue 27) -------------------------------
KINDS_ORDER = ("classify", "tag", "qa", "adapt")
WAYS = ("before", "after", "fp32")


def memory_of(task: str, spec: dict[str, Any], way: str) -> dict[str, Any] | None:
    """The server's memory plan for ``spec`` (None for ``before``: the old way)."""
    if way == "before":
        return None
    from types import SimpleNamespace

    from electra_demo.config import ResolvedSlot, Slot
    from electra_demo.finetune import memory

    def slot(part: dict[str, Any]) -> ResolvedSlot:
        return ResolvedSlot(
            Slot(part["slot"], "x", "t", "D", "other", "pretraining"), part["source"], None, False, True
        )

    settings = spec["settings"]
    plan = SimpleNamespace(
        task=task,
        settings=SimpleNamespace(
            mode=settings["mode"], batch_size=settings["batch_size"], max_length=settings["max_length"]
        ),
        base=slot(spec["base"]),
        generator=slot(spec["generator"]) if "generator" in spec else None,
    )
    asked = "fp32" if way == "fp32" else os.environ.get("ELECTRA_DEMO_PRECISION", "auto") or "auto"
    return memory.plan_for(plan, asked, None, "cpu").to_json()


def kind_spec(task: str, work: Path, base: Path, rows: int, held: int) -> dict[str, Any]:
    """The child's spec for one ``--kinds`` run (``rows`` trained, ``held`` held out)."""
    if task != "adapt":
        return spec_of(task, "full", base, work, rows + held, held)
    import bench_adapt
    from checkpoints import SHAPE

    paths = {
        "discriminator": str(base),
        "generator": bench_adapt.build(
            base.parent.parent, "generator", "ElectraForMaskedLM", bench_adapt.GENERATOR_SHAPE, 7
        ),
    }
    assert SHAPE["hidden_size"] == 768
    texts = bench_adapt.texts_of_128_tokens(rows + bench_adapt.HELD_OUT)
    spec = bench_adapt.spec_for(paths, work, texts, 16)
    spec["threads"] = max(1, len(os.sched_getaffinity(0)) - 1)  # as the server starts it
    return spec


def run_kind(spec: dict[str, Any], folder: Path) -> dict[str, Any]:
    """Run the kind's child on ``spec``; its ``done`` event, wall time, VmHWM and training CPU."""
    from bench_adapt import run_child

    from electra_demo.trained.kinds import KINDS

    return run_child(spec, folder, KINDS[spec["task"]].worker)


def bench_kinds(work: Path, base: Path, rows: int, ways: list[str], kinds: list[str]) -> list[dict[str, Any]]:
    """Every kind in ``kinds`` each way in ``ways``, in turns (kind by kind, the ways one after
    the other), ``rows`` trained and 4 held out (Adapt: 16, its benchmark's)."""
    runs = []
    for task in kinds:
        for way in ways:
            folder = work / f"kinds-{task}-{way}"
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            spec = kind_spec(task, folder, base, rows, 4)
            spec["memory"] = memory_of(task, spec, way)
            print(f"[bench] {task} {way}: {spec['memory']}", file=sys.stderr, flush=True)
            done = run_kind(spec, folder)
            result = done["result"]
            trained = spec["rows"]["train"]
            runs.append(
                {
                    "task": task,
                    "way": way,
                    "memory": spec["memory"],
                    "length": spec["settings"]["max_length"],
                    "train_rows": trained,
                    "seconds": result["seconds"],
                    "per_100": result["seconds"] / trained * 100,
                    "cpu_per_100": done["cpu_seconds"] / trained * 100,
                    "peak_rss_mb": max(done["peak_rss_mb"], done["vm_hwm_mb"]),
                    "wall": done["wall"],
                }
            )
            shutil.rmtree(folder, ignore_errors=True)
    return runs


def report_kinds(runs: list[dict[str, Any]], device: str, command: str) -> str:
    lines = [
        f"Device: {device}",
        f"Command: `{command}`",
        "",
        "| kind (tokens) | way | micro-batch x accumulation | checkpointing | precision | rows trained "
        "| s per 100 rows | vs before | CPU s per 100 rows | vs before | peak RSS of the child | estimate "
        "| child wall time |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    before = {r["task"]: r for r in runs if r["way"] == "before"}
    for run in runs:
        plan = run["memory"] or {}
        split = f"{plan['micro_batch']} x {plan['accumulation']}" if plan else "16 x 1"
        base = before.get(run["task"])
        speed = f"{base['per_100'] / run['per_100']:.2f}x" if base else "-"
        cpu = f"{base['cpu_per_100'] / run['cpu_per_100']:.2f}x" if base else "-"
        estimate = f"{plan['estimate_mb']:.0f} MB" if plan else "-"
        checkpointing = "yes" if plan.get("checkpointing") else "no"
        lines.append(
            f"| {run['task']} ({run['length']}) | {run['way']} | {split} | {checkpointing} "
            f"| {plan.get('precision', 'fp32')} | {run['train_rows']} | **{run['per_100']:.1f} s** | {speed} "
            f"| {run['cpu_per_100']:.1f} s | {cpu} "
            f"| **{run['peak_rss_mb']:.0f} MB** | {estimate} | {run['wall']:.0f} s |"
        )
    return "\n".join(lines)
