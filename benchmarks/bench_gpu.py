"""The CUDA path, checked and timed on a GPU machine (the project's CI and tests never need one).

``python benchmarks/bench_gpu.py WORKDIR [--json OUT.json]`` on a machine with CUDA:

1. Agreement: the service on CUDA (the app's GPU path: ``model.half()``, PyTorch runner) against
   the service on the CPU (PyTorch fp32), same electra-base-shaped random checkpoints, same inputs:
   the largest probability difference per task and whether the top label / answer span agree.
2. Speed: one forward of the raw model at 128 tokens, batch 1 and 32, fp16 on CUDA vs fp32 on CUDA;
   the service's p50 per call (detect, classify, answer) on CUDA.
3. Explanations (when ``service.explain`` exists): gradient x input and integrated gradients (32
   steps) on CUDA fp16 as forward-equivalents, and IG's completeness (|delta| against
   |score - baseline_score|) in fp16.

Timings use CUDA events after warm-up (median of repeats). Random weights: agreement is about
the arithmetic path, not about any model's quality.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
import torch
from checkpoints import ensure_all
from common import cpu_line

from electra_demo.service import ModelService


def environ_for(paths: dict[str, dict[str, str]], backend: str) -> dict[str, str]:
    env = {f"ELECTRA_DEMO_{slot.upper()}": path for slot, path in paths["tiny"].items()}
    env.update({f"ELECTRA_DEMO_{slot.upper()}": path for slot, path in paths["base"].items()})
    return {**env, "ELECTRA_DEMO_BACKEND": backend}


def agreement(gpu: ModelService, cpu: ModelService, texts: dict) -> dict[str, Any]:
    text = texts["single"]["128"][0]
    question, context = texts["qa"]["128"][0]
    g, c = gpu.detect(text), cpu.detect(text)
    detect_diff = max(abs(a.probability - b.probability) for a, b in zip(g.tokens, c.tokens, strict=True))
    gs, cs = dict(gpu.classify("sentiment", text).labels), dict(cpu.classify("sentiment", text).labels)
    classify_diff = max(abs(gs[k] - cs[k]) for k in gs)
    ga, ca = gpu.answer(question, context).to_json(), cpu.answer(question, context).to_json()
    span = [(a["start"], a["end"]) for a in ga["answers"][:1]] == [
        (a["start"], a["end"]) for a in ca["answers"][:1]
    ]
    return {
        "detect_max_prob_diff": detect_diff,
        "classify_max_prob_diff": classify_diff,
        "classify_same_top": max(gs, key=gs.get) == max(cs, key=cs.get),
        "answer_same_top_span": span,
    }


def cuda_time(fn, repeats: int = 20, warmup: int = 5) -> float:
    """Median milliseconds of ``fn()`` on the GPU (CUDA events)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def forward_speed(path: str) -> dict[str, float]:
    from transformers import AutoModelForSequenceClassification

    out = {}
    for dtype, name in ((torch.float16, "fp16"), (torch.float32, "fp32")):
        model = AutoModelForSequenceClassification.from_pretrained(path).to("cuda", dtype).eval()
        for batch in (1, 32):
            ids = torch.randint(5, 30000, (batch, 128), device="cuda")
            with torch.inference_mode():
                out[f"forward_b{batch}_{name}_ms"] = cuda_time(lambda m=model, i=ids: m(input_ids=i))
        del model
        torch.cuda.empty_cache()
    return out


def service_speed(gpu: ModelService, texts: dict) -> dict[str, float]:
    text = texts["single"]["128"][1]
    question, context = texts["qa"]["128"][1]
    calls = {
        "detect": lambda: gpu.detect(text),
        "classify": lambda: gpu.classify("sentiment", text),
        "answer": lambda: gpu.answer(question, context),
    }
    out = {}
    for name, call in calls.items():
        for _ in range(3):
            call()
        times = []
        for _ in range(20):
            start = time.perf_counter()
            call()
            times.append((time.perf_counter() - start) * 1000)
        out[f"service_{name}_p50_ms"] = statistics.median(times)
    return out


def explain_speed(gpu: ModelService, texts: dict, forward_ms: float) -> dict[str, Any]:
    if not hasattr(gpu, "explain"):
        return {"explain": "not in this tree"}
    text = texts["single"]["128"][2]
    out: dict[str, Any] = {}
    for method, steps in (
        ("gradient_x_input", 32),
        ("integrated_gradients", 32),
        ("integrated_gradients", 128),
    ):
        gpu.explain("sentiment", text, "", "", method, steps)  # warm-up
        torch.cuda.synchronize()
        start = time.perf_counter()
        result = gpu.explain("sentiment", text, "", "", method, steps).to_json()
        torch.cuda.synchronize()
        ms = (time.perf_counter() - start) * 1000
        key = f"{method}_{steps}" if method != "gradient_x_input" else method
        out[f"{key}_ms"] = ms
        out[f"{key}_forward_equivalents"] = ms / forward_ms
        if result.get("delta") is not None:
            gap = abs(result["score"] - result["baseline_score"])
            out[f"{key}_delta_over_gap"] = abs(result["delta"]) / max(gap, 1e-9)
    return out


def explain_agreement(gpu: ModelService, cpu: ModelService, texts: dict) -> dict[str, Any]:
    """fp16 on CUDA against fp32 on the CPU: the same words on top, attributions close."""
    if not hasattr(gpu, "explain"):
        return {}
    text = texts["single"]["128"][3]
    out: dict[str, Any] = {}
    for method in ("gradient_x_input", "integrated_gradients"):
        g = gpu.explain("sentiment", text, "", "", method, 32).to_json()
        c = cpu.explain("sentiment", text, "", "", method, 32).to_json()
        a = np.array([t["attribution"] for t in g["tokens"]])
        b = np.array([t["attribution"] for t in c["tokens"]])
        out[f"{method}_fp16_vs_fp32_max_rel_diff"] = float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-12))
        out[f"{method}_fp16_vs_fp32_corr"] = float(np.corrcoef(a, b)[0, 1])
        out[f"{method}_same_top5"] = sorted(np.argsort(-np.abs(a))[:5].tolist()) == sorted(
            np.argsort(-np.abs(b))[:5].tolist()
        )
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        raise SystemExit("bench_gpu.py needs CUDA")
    paths = ensure_all(args.workdir)
    texts = json.loads(Path(paths["texts"]).read_text())
    gpu = ModelService(environ=environ_for(paths, "auto"), device="cuda")
    cpu = ModelService(environ=environ_for(paths, "torch"), device="cpu")
    report: dict[str, Any] = {
        "gpu": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "host_cpu": cpu_line(),
        "backend_on_gpu": None,
    }
    report.update(agreement(gpu, cpu, texts))
    report["backend_on_gpu"] = gpu.load("sentiment").backend
    report.update(forward_speed(paths["base"]["sentiment"]))
    report.update(service_speed(gpu, texts))
    report.update(explain_speed(gpu, texts, report["forward_b1_fp16_ms"]))
    report.update(explain_agreement(gpu, cpu, texts))
    report["peak_gpu_memory_mib"] = torch.cuda.max_memory_allocated() / 2**20
    width = max(len(k) for k in report)
    for key, value in report.items():
        shown = f"{value:.4g}" if isinstance(value, float) else str(value)
        print(f"{key:<{width}}  {shown}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=float))


if __name__ == "__main__":
    main()
