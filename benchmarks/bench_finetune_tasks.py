"""Tagging and QA fine-tuning speed (issue 20): the training child alone (``worker_tag``,
``worker_qa``) on an electra-base-shaped random discriminator, ``full`` and ``head`` mode.

    python benchmarks/bench_finetune.py --task tag [--rows 40] [--workdir DIR] [--out FILE.md]
    python benchmarks/bench_finetune.py --task qa [--rows 20] [--workdir DIR] [--out FILE.md]

tag: sentences of exactly 128 tokens ([CLS]/[SEP] included), every 8th word an entity (two
types), max_length 128 (one window a sentence), batch 16, 1 epoch. qa: the question "where is
the answer?" on a context that fills one window of 384 tokens (the endpoint's default
max_length; doc_stride 128), the answer a word of it, batch 16, 1 epoch. 80% trained on, 20%
held out. Seconds per 100 sentences / questions come from the run's own ``seconds`` (its
training loop) over its training rows; peak memory is the child's (``ru_maxrss``).
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


def spec_of(task: str, mode: str, base: Path, folder: Path, rows: int) -> dict[str, Any]:
    settings = SETTINGS[task]
    held = max(1, round(rows * settings["eval_fraction"]))
    if task == "tag":
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
