"""What an explanation costs: gradient x input and integrated gradients against one forward.

``python benchmarks/bench_explain.py [--workdir DIR] [--rounds N]``

On the electra-base-shaped sentiment checkpoint (random weights, ``checkpoints.py``) at 128 tokens,
in process, on PyTorch (the engine the gradients need; with ONNX Runtime serving, the explainer
loads this same PyTorch model as a second copy, whose size is printed too):

- **forward**: one ``model(input_ids=...)`` under ``torch.no_grad()``, batch 1 (the baseline);
- **gradient x input**: ``service.explain("sentiment", text)``, the whole task call;
- **integrated gradients, 32 steps**: the same with ``method="integrated_gradients"``: Captum's
  LayerIntegratedGradients with the internal batch the app uses (16 rows at 128 tokens).

They are timed in turn, round after round (forward, gradient x input, integrated gradients), so
background load falls on all three alike; the table gives medians and the ratios to the forward.

Peak memory of one call: each kind runs in a fresh child process, after the model is loaded,
Captum imported and one warm-up forward made (which pages in the weights: safetensors
memory-maps them). A thread samples the process's RSS (psutil) every millisecond during the
call; the figure is the peak minus the RSS just before it. The child runs with
``MALLOC_MMAP_THRESHOLD_=65536``, so glibc maps every block over 64 KiB on its own and unmaps it
when freed: RSS then follows the live tensors instead of keeping freed memory in its heap.
(tracemalloc would miss torch's allocations, which do not go through Python's allocator.)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import checkpoints
from benchmarks.common import PYTHON, SHARED_NOTE, cpu_line, other_load

DEFAULT_WORKDIR = Path("~/.cache/electra-demo/bench").expanduser()
KINDS = ("forward", "gradient_x_input", "integrated_gradients")
STEPS = 32


def service_for(paths: dict):
    from electra_demo.service import ModelService
    from electra_demo.tools.tiny import ensure_tiny

    env = {**ensure_tiny(Path(paths["tiny_root"])), "ELECTRA_DEMO_SENTIMENT": paths["sentiment"]}
    return ModelService(environ={**env, "ELECTRA_DEMO_BACKEND": "torch"})


def runner(service, text: str, kind: str):
    """A no-argument callable that does one ``kind`` on ``text``."""
    import torch

    loaded = service.load_torch("sentiment")
    if kind == "forward":
        ids = torch.tensor([loaded.tokenizer(text)["input_ids"]])

        def forward() -> None:
            with torch.no_grad():
                loaded.model(input_ids=ids)

        return forward
    return lambda: service.explain("sentiment", text, "", "", kind, STEPS)


def time_in_turn(service, texts: list[str], rounds: int) -> dict[str, list[float]]:
    """Seconds per call of each kind; each round times every kind on every text, in turn."""
    repeats = {"forward": 5, "gradient_x_input": 3, "integrated_gradients": 1}
    times: dict[str, list[float]] = {kind: [] for kind in KINDS}
    calls = {kind: [runner(service, text, kind) for text in texts] for kind in KINDS}
    for kind in KINDS:  # warm-up: thread pools, Captum's import, first-call allocations
        calls[kind][0]()
    for _ in range(rounds):
        for kind in KINDS:
            for call in calls[kind]:
                for _ in range(repeats[kind]):
                    started = time.perf_counter()
                    call()
                    times[kind].append(time.perf_counter() - started)
    return times


def peak_rss_of(call) -> int:
    """Peak RSS during ``call()`` minus the RSS just before it, sampled every millisecond."""
    import psutil

    process = psutil.Process()
    before = process.memory_info().rss
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], process.memory_info().rss)
            time.sleep(0.001)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        call()
    finally:
        done.set()
        sampler.join()
    return max(peak[0], process.memory_info().rss) - before


def child_memory(paths: dict, kind: str, text: str) -> dict:
    """In a fresh process: the model loaded, imports done, then one ``kind`` measured."""
    import captum.attr  # noqa: F401 - imported before the measurement, as in a running server

    service = service_for(paths)
    loaded = service.load_torch("sentiment")
    tokens = len(loaded.tokenizer(text)["input_ids"])
    runner(service, text, "forward")()  # warm-up: pages in the weights, starts the thread pools
    call = runner(service, text, kind)
    return {"kind": kind, "tokens": tokens, "bytes": peak_rss_of(call), "weights": loaded.weight_bytes}


def measure_memory(paths: dict, texts: list[tuple[str, tuple[str, ...]]]) -> list[dict]:
    out = []
    for text, kinds in texts:
        for kind in kinds:
            spec = json.dumps({"paths": paths, "kind": kind, "text": text})
            done = subprocess.run(
                [PYTHON, __file__, "--child", spec],
                capture_output=True,
                text=True,
                check=True,
                timeout=900,
                env={**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"},
            )
            out.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return out


def table(times: dict[str, list[float]], memory: list[dict], rounds: int, texts: int, noise: dict) -> str:
    forward = statistics.median(times["forward"])
    names = {
        "forward": "one forward (PyTorch, batch 1, no grad)",
        "gradient_x_input": "gradient x input (service.explain)",
        "integrated_gradients": f"integrated gradients, {STEPS} steps, internal batch 16",
    }
    targets = {"forward": "", "gradient_x_input": "<= 4", "integrated_gradients": "<= 40"}
    lines = [
        f"electra-base-shaped sentiment head, 128 tokens; {rounds} rounds x {texts} texts, in turn; medians.",
        "",
        "| call | median ms | p90 ms | x one forward | target |",
        "|---|---:|---:|---:|---|",
    ]
    for kind in KINDS:
        values = sorted(times[kind])
        p90 = values[min(len(values) - 1, int(0.9 * len(values)))]
        median = statistics.median(values)
        ratio = median / forward
        lines.append(
            f"| {names[kind]} | {median * 1e3:.0f} | {p90 * 1e3:.0f} | {ratio:.2f} | {targets[kind]} |"
        )
    if memory:
        lines += ["", "| peak memory of one call (RSS above the loaded, warm model) | tokens | MB |"]
        lines.append("|---|---:|---:|")
        for row in memory:
            lines.append(f"| {names[row['kind']]} | {row['tokens']} | {row['bytes'] / 2**20:.0f} |")
        lines += [
            "",
            "PyTorch weights of the slot (the second copy the explainer loads where ONNX Runtime serves "
            f"it): {memory[0]['weights'] / 2**20:.0f} MB.",
        ]
    lines += [
        "",
        f"Noise while timing: other processes kept {noise['other_cores']:.2f} cores busy on average "
        f"(1-minute load average at the end: {noise['loadavg_1m']:.2f}).",
        "",
        cpu_line(),
        SHARED_NOTE,
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--texts", type=int, default=1, help="128-token texts per round (1-4)")
    parser.add_argument("--no-long", action="store_true", help="skip the 512-token memory figures")
    parser.add_argument("--no-memory", action="store_true", help="time only")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        spec = json.loads(args.child)
        print(json.dumps(child_memory(spec["paths"], spec["kind"], spec["text"])))
        return
    built = checkpoints.ensure_all(args.workdir)
    paths = {"sentiment": built["base"]["sentiment"], "tiny_root": str(args.workdir / "tiny")}
    texts = json.loads(Path(built["texts"]).read_text())["single"]["128"][: args.texts]
    long_text = checkpoints.text_of(510, random.Random(1), checkpoints.english_words())
    service = service_for(paths)
    noise: dict = {}
    with other_load(noise, "timing", []):
        times = time_in_turn(service, texts, args.rounds)
    memory_texts = [(texts[0], KINDS)] + ([] if args.no_long else [(long_text, KINDS[1:])])
    memory = [] if args.no_memory else measure_memory(paths, memory_texts)
    print(table(times, memory, args.rounds, len(texts), noise["timing"]))


if __name__ == "__main__":
    main()
