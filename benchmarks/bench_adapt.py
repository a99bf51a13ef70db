"""Adapt speed (issue 21): seconds per 100 texts of 128 tokens through ELECTRA's objective with an
electra-base-shaped generator and discriminator, and the training child's peak memory.

    python benchmarks/bench_adapt.py [--workdir DIR] [--texts 96] [--batch-size 16] [--out FILE.md]
                                     [--ways before,after]

The checkpoints are random with Base's shapes (the discriminator as ``benchmarks/checkpoints.py``
writes it: hidden 768, 12 layers; the generator with electra-base-generator's: hidden 256, 4 heads,
intermediate 1024, 12 layers, embedding 768, so the embeddings are shared as in training). The
training child (``python -m electra_demo.adapt.worker``) runs alone, as the queue starts it, on
``texts`` texts of exactly 128 tokens ([CLS]/[SEP] included) for ``ceil(texts / batch_size)`` steps,
plus 16 held-out texts scored before and after (not timed). Seconds per 100 texts come from the
run's own ``seconds`` (its training loop) over the texts it trained on; the peak memory is the
child's VmHWM (read from /proc while it runs). On a GPU when one is present (the child uses CUDA).
``--ways`` (issue 27): ``before`` runs the child the old way (the whole batch at once, fp32,
attention dropout: a spec without a memory plan), ``after`` with the server's plan (micro-batches,
lean attention, bf16 autocast where the CPU has it, checkpointing when it lets a larger
micro-batch fit), ``fp32`` with that planning in fp32; one table, the same run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from checkpoints import SHAPE, english_words, make_tokenizer, text_of
from common import cpu_line, vm_hwm_mb

DEFAULT_WORKDIR = Path.home() / ".cache" / "electra-demo" / "bench-http"
GENERATOR_SHAPE = {**SHAPE, "hidden_size": 256, "num_attention_heads": 4, "intermediate_size": 1024}
HELD_OUT = 16


def build(workdir: Path, slot: str, architecture: str, shape: dict[str, int], seed: int) -> str:
    """A random checkpoint of ``shape`` under ``workdir/base/<slot>`` unless there (the
    discriminator is checkpoints.py's: same path, class, shape and seed)."""
    path = workdir / "base" / slot
    if not (path / "model.safetensors").is_file():
        import torch
        import transformers

        torch.manual_seed(seed)
        cfg = transformers.ElectraConfig(**shape)
        cfg.electra_demo_random_weights = True
        getattr(transformers, architecture)(cfg).save_pretrained(path, safe_serialization=True)
        make_tokenizer().save_pretrained(path)
    return str(path)


def texts_of_128_tokens(n: int, seed: int = 0) -> list[str]:
    tokenizer = make_tokenizer()
    rng = random.Random(seed)
    words = english_words()
    texts = [text_of(126, rng, words) for _ in range(n)]
    assert all(len(tokenizer(t)["input_ids"]) == 128 for t in texts)
    return texts


def spec_for(paths: dict[str, str], work: Path, texts: list[str], batch_size: int) -> dict[str, Any]:
    def part(slot: str) -> dict[str, Any]:
        return {"slot": slot, "source": paths[slot], "revision": None, "local_files_only": True, "id": slot}

    steps = math.ceil((len(texts) - HELD_OUT) / batch_size)
    settings = {"steps": steps, "learning_rate": 5e-5, "batch_size": batch_size, "max_length": 128}
    settings.update({"mask_fraction": 0.15, "eval_fraction": HELD_OUT / len(texts), "seed": 42})
    return {
        "model_id": "ad-" + "0" * 16,
        "staging": str(work / "staging"),
        "zip": str(work / "model.zip"),
        "events": str(work / "events.jsonl"),
        "base": part("discriminator"),
        "generator": part("generator"),
        "task": "adapt",
        "train": {"texts": texts[HELD_OUT:]},
        "eval": {"texts": texts[:HELD_OUT]},
        "settings": {**settings, "base": "discriminator", "mode": "adapt"},
        "public_settings": settings,
        "rows": {"train": len(texts) - HELD_OUT, "eval": HELD_OUT, "dropped": 0},
        "time_limit": 7200,
        "threads": len(os.sched_getaffinity(0)),
        "card": {"base_name": "base-shaped", "base_id": "random", "base_license": "other"}
        | {"date": time.strftime("%Y-%m-%d %H:%M"), "file": "bench.txt", "random_base": True},
    }


def run_child(spec: dict[str, Any], work: Path, module: str = "electra_demo.adapt.worker") -> dict[str, Any]:
    """Start the child (``python -m module``), follow its memory, return its ``done`` event with
    the peak (VmHWM), its wall time and the CPU seconds of its training loop."""
    import shutil

    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    (work / "spec.json").write_text(json.dumps(spec))
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root), "TOKENIZERS_PARALLELISM": "false"}
    env["OMP_NUM_THREADS"] = str(spec["threads"])
    started = time.perf_counter()
    with open(work / "child.log", "wb") as log:
        child = subprocess.Popen(
            [sys.executable, "-m", module, str(work / "spec.json")],
            cwd=root,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        peak = 0.0
        while child.poll() is None:
            high = vm_hwm_mb(child.pid)
            peak = peak if math.isnan(high) else max(peak, high)
            time.sleep(0.1)
    events = [json.loads(line) for line in (work / "events.jsonl").read_text().splitlines()]
    done = next((e for e in events if e["event"] == "done"), None)
    if done is None:
        raise SystemExit(f"the child failed: {events[-1]}\n{(work / 'child.log').read_text()[-2000:]}")
    cuda = next((e["cuda_peak_mb"] for e in events if e["event"] == "memory"), None)
    cpu = next((e["cpu_seconds"] for e in events if e["event"] == "trained"), float("nan"))
    wall = time.perf_counter() - started
    return {**done, "vm_hwm_mb": round(peak, 1), "cuda_peak_mb": cuda, "cpu_seconds": cpu, "wall": wall}


def report(runs: list[tuple[str, dict[str, Any], dict[str, Any]]], command: str) -> str:
    import torch

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"
    lines = [
        "## Adapt: ELECTRA's objective on base-shaped checkpoints (bench_adapt.py)",
        "",
        f"`{command}`  ",
        f"{cpu_line()}; device: {device}; torch threads {runs[0][1]['threads']}",
        "",
        "| way | texts trained | steps x batch | micro-batch x accumulation | checkpointing | precision "
        "| s per 100 texts | child peak (VmHWM) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for way, spec, done in runs:
        result, plan = done["result"], spec.get("memory") or {}
        trained = spec["settings"]["steps"] * spec["settings"]["batch_size"]
        split = (
            f"{plan['micro_batch']} x {plan['accumulation']}"
            if plan
            else f"{spec['settings']['batch_size']} x 1"
        )
        gpu = f" (GPU peak {done['cuda_peak_mb']:,.0f} MB)" if done["cuda_peak_mb"] else ""
        lines.append(
            f"| {way} | {trained} | {spec['settings']['steps']} x {spec['settings']['batch_size']} | {split} "
            f"| {'yes' if plan.get('checkpointing') else 'no'} | {plan.get('precision', 'fp32')} "
            f"| {result['seconds'] / trained * 100:.1f} | {done['vm_hwm_mb']:,.0f} MB{gpu} |"
        )
    lines += [
        "",
        "Training loop only (loading, held-out scoring and saving not timed). Random weights: the "
        "figures (AUC before and after) mean nothing here.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    from bench_finetune_tasks import memory_of

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument("--texts", type=int, default=96, help="texts trained on (16 more are held out)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--ways", default="before,after", help="before (the old settings), after, fp32")
    parser.add_argument("--out", type=Path, help="append the Markdown report to this file")
    args = parser.parse_args(argv)
    paths = {
        "discriminator": build(args.workdir, "discriminator", "ElectraForPreTraining", SHAPE, 0),
        "generator": build(args.workdir, "generator", "ElectraForMaskedLM", GENERATOR_SHAPE, 7),
    }
    texts = texts_of_128_tokens(args.texts + HELD_OUT)
    runs = []
    for way in args.ways.split(","):
        spec = spec_for(paths, args.workdir / "adapt-run", texts, args.batch_size)
        spec["memory"] = memory_of("adapt", spec, way)
        runs.append((way, spec, run_child(spec, args.workdir / "adapt-run")))
    text = report(runs, "python benchmarks/bench_adapt.py " + " ".join(argv or sys.argv[1:]))
    print(text)
    if args.out:
        with open(args.out, "a", encoding="utf-8") as handle:
            handle.write("\n" + text + "\n")


if __name__ == "__main__":
    main()
