"""The first visit (issue 19): process start to first answers, ours vs the naive app, and memory.

    .venv/bin/python benchmarks/bench_start.py --workdir ~/.cache/electra-demo/bench-start
    .venv/bin/python benchmarks/bench_start.py --rounds 1     # one cold start of each

On electra-base-shaped random checkpoints (every slot: benchmarks/checkpoints.py's discriminator,
sentiment and qa, and here the generator (electra-base-generator's shape), emotion, nli and ner),
over plain HTTP (common.GradioHttp), with the app's defaults (warm-up on, ONNX Runtime on the CPU):

1. Cold start, in turns (baseline, ours, ours, baseline, ...): from ``Popen`` to the answer of the
   first 128-token /detect, the client asking as soon as the page serves. Ours starts with an
   empty export cache each time (its export children are stopped with it).
2. The export cache is filled: every slot exported and checked by ``ModelService`` in a child
   process at normal priority (the app's own background exports run at the lowest CPU priority,
   which on a shared machine can take very long; what lands on disk is the same).
3. Filled cache: ours again; as soon as the page serves, the first 128-token /detect, /classify and
   /answer are sent at once; seconds from the page being served to each answer.
4. Memory: in that process, once the warm-up has loaded all seven slots, one /v1/explain on
   sentiment loads its PyTorch copy; peak RSS (VmHWM) of the server then.

Prints JSON and a markdown section for benchmarks/RESULTS.md (``--out`` writes it to a file).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
sys.path.insert(0, str(Path(__file__).resolve().parent))

import checkpoints
from bench_app import baseline_env, our_env, request_args
from common import PYTHON, ROOT, SHARED_NOTE, GradioHttp, body, cpu_line, launched, log, vm_hwm_mb

EXTRA = {  # slot -> (transformers class, config overrides): the slots checkpoints.py leaves tiny
    "generator": (
        "ElectraForMaskedLM",
        {"hidden_size": 256, "num_attention_heads": 4, "intermediate_size": 1024},
    ),
    "emotion": ("ElectraForSequenceClassification", {"num_labels": 6}),
    "nli": ("ElectraForSequenceClassification", {"num_labels": 3}),
    "ner": ("ElectraForTokenClassification", {"num_labels": 9}),
}


def build_extra(workdir: Path) -> dict[str, str]:
    """Base-shaped random checkpoints for the four slots checkpoints.py leaves tiny."""
    import torch
    import transformers

    paths = {}
    for index, (slot, (name, overrides)) in enumerate(EXTRA.items(), start=10):
        path = workdir / "base" / slot
        paths[slot] = str(path)
        if (path / "model.safetensors").is_file():
            continue
        torch.manual_seed(index)
        config = transformers.ElectraConfig(**{**checkpoints.SHAPE, **overrides})
        config.electra_demo_random_weights = True
        getattr(transformers, name)(config).eval().save_pretrained(path, safe_serialization=True)
        checkpoints.make_tokenizer().save_pretrained(path)
    return paths


def stop_children(pid: int) -> None:
    """Stop a server's children (its export child) before the server: nothing outlives a launch."""
    import psutil

    for child in psutil.Process(pid).children(recursive=True):
        child.kill()


def completed(url: str, api: str, args: tuple) -> bytes:
    """The request body with ``args`` and, after them, the defaults of any further parameters the
    endpoint has (plain HTTP fills none in; the tabs gain optional inputs over time)."""
    import httpx

    parameters = httpx.get(url + "gradio_api/info", timeout=60).json()["named_endpoints"][api]["parameters"]
    rest = [p["parameter_default"] for p in parameters[len(args) :]]
    return body([*args, *rest])


def first_detect(
    name: str, argv: list[str], env: dict, logs: Path, args: tuple, payloads: dict | None = None
) -> float:
    """Seconds from process start to the first /detect answer (asked as soon as the page serves).
    ``payloads`` (ours): filled afterwards with the three endpoints' request bodies, for the
    filled-cache start (which then asks the server nothing before its timed requests)."""
    with launched(name, argv, env, logs) as app:
        payload = completed(app.url, "/detect", args)
        with GradioHttp(app.url) as http:
            http.timed("/detect", payload)
        seconds = time.perf_counter() - app.started
        log(f"{name}: first /detect answered {seconds:.1f} s after process start")
        for endpoint, endpoint_args in (payloads or {}).items():
            if not isinstance(endpoint_args, bytes):  # not yet a body
                payloads[endpoint] = completed(app.url, endpoint, endpoint_args)
        stop_children(app.proc.pid)
    return seconds


def fill_cache(env: dict) -> float:
    """Export and check every slot into the cache, in a child at normal priority (the app's own
    background exports run at the lowest priority, which on a shared machine can take very long;
    what lands on disk is the same)."""
    code = (
        "from electra_demo import config\nfrom electra_demo.service import ModelService\n"
        "s = ModelService()\nfor name in config.REGISTRY:\n"
        "    print(name, s.load(name).backend, flush=True)\n"
    )
    start = time.perf_counter()
    subprocess.run([PYTHON, "-c", code], cwd=ROOT, env=env, check=True, stdout=sys.stderr)
    return time.perf_counter() - start


def filled_start(env: dict, logs: Path, texts: dict, payloads: dict) -> dict:
    """The first answer of each tab's endpoint after the page serves, sent at once; then memory."""
    import httpx

    endpoints = tuple(payloads)
    out: dict = {}
    with launched("ours-filled", ["app.py"], env, logs) as app:
        served = time.perf_counter()
        if not all(isinstance(p, bytes) for p in payloads.values()):  # --filled-only: no cold run
            payloads = {e: body(list(a)) if not isinstance(a, bytes) else a for e, a in payloads.items()}
        out["page_s"] = app.page_s

        def first(endpoint: str) -> None:
            with GradioHttp(app.url) as http:
                http.timed(endpoint, payloads[endpoint])
            out[f"first{endpoint}_after_page_s"] = time.perf_counter() - served

        threads = [threading.Thread(target=first, args=(e,)) for e in endpoints]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        log(f"filled cache: {json.dumps(out)}")
        deadline = time.perf_counter() + 600
        while True:  # the warm-up loads every slot
            health = httpx.get(app.url + "health", timeout=60).json()
            if len(health["loaded"]) == len(health["models"]) or time.perf_counter() > deadline:
                break
            time.sleep(0.5)
        out["all_loaded_after_page_s"] = time.perf_counter() - served
        out["rss_seven_mb"] = vm_hwm_mb(app.proc.pid)
        explain = {"task": "sentiment", "text": texts["single"]["128"][0], "method": "gradient_x_input"}
        reply = httpx.post(app.url + "v1/explain", json=explain, timeout=600)
        assert reply.status_code == 200, reply.text[:300]
        out["peak_rss_seven_plus_torch_copy_mb"] = vm_hwm_mb(app.proc.pid)
        out["backends"] = app.backends()
        stop_children(app.proc.pid)
    return out


def checkpoint_paths(workdir: Path, tiny: bool) -> dict:
    """Base-shaped checkpoints for every slot; with ``tiny``, tiny ones (a smoke run of the script)."""
    if not tiny:
        paths = checkpoints.ensure_all(workdir)
        paths["base"].update(build_extra(workdir))
        return paths
    workdir.mkdir(parents=True, exist_ok=True)
    texts = workdir / "texts.json"
    if not texts.is_file():
        texts.write_text(json.dumps(checkpoints.build_texts(checkpoints.make_tokenizer())))
    small = checkpoints.build_tiny(workdir)
    return {"base": dict(small), "tiny": small, "texts": str(texts)}


def run(workdir: Path, rounds: int, tiny: bool = False, filled_only: bool = False) -> dict:
    """Cold starts in turns (``rounds`` of each), the cache filled, then the filled start; with
    ``filled_only``, the filled start alone, on the cache an earlier run left."""
    paths = checkpoint_paths(workdir, tiny)
    texts = json.loads(Path(paths["texts"]).read_text())
    logs = workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    payload = request_args("/detect", 128, texts, 0)
    base_env = baseline_env({"base": {k: paths["base"][k] for k in ("discriminator", "sentiment", "qa")}})
    results: dict = {"ours_cold_s": [], "baseline_s": []}
    payloads = {e: request_args(e, 128, texts, 0) for e in ("/detect", "/classify", "/answer")}
    cache = workdir / "onnx-cache"
    env = {**our_env(paths, cache), "ELECTRA_DEMO_DATA_DIR": str(workdir / "no-data")}
    for index in range(0 if filled_only else rounds):
        order = ("baseline", "ours") if index % 2 == 0 else ("ours", "baseline")
        for who in order:
            if who == "baseline":
                argv = ["benchmarks/baseline_app.py"]
                results["baseline_s"].append(first_detect(f"baseline-{index}", argv, base_env, logs, payload))
            else:
                shutil.rmtree(cache, ignore_errors=True)  # an empty export cache
                seconds = first_detect(f"ours-cold-{index}", ["app.py"], env, logs, payload, payloads)
                results["ours_cold_s"].append(seconds)
    if not filled_only:
        log("filling the export cache (every slot exported and checked)")
        results["fill_s"] = fill_cache(env)
    results["filled"] = filled_start(env, logs, texts, payloads)
    return results


def markdown(results: dict, command: str) -> str:
    ours, base = results["ours_cold_s"] or [float("nan")], results["baseline_s"] or [float("nan")]
    filled = results["filled"]
    lines = [
        "## The first visit: cold and filled starts, and memory (`bench_start.py`, issue 19)",
        "",
        f"{cpu_line()}. From `{command}`. {SHARED_NOTE}.",
        "",
        "| | ours | naive app |",
        "|---|---:|---:|",
        "| process start to first /detect answer, 128 tokens, empty export cache (each start; median) | "
        f"{', '.join(f'{s:.1f}' for s in ours)} s; **{statistics.median(ours):.1f} s** | "
        f"{', '.join(f'{s:.1f}' for s in base)} s; **{statistics.median(base):.1f} s** |",
        "",
        "| filled export cache, from the page served | seconds |",
        "|---|---:|",
        f"| launch to first page | {filled['page_s']:.1f} |",
    ]
    for endpoint in ("/detect", "/classify", "/answer"):
        seconds = filled[f"first{endpoint}_after_page_s"]
        lines.append(f"| first {endpoint} answer (128 tokens, sent at once) | {seconds:.2f} |")
    lines += [
        f"| every slot loaded by the warm-up | {filled['all_loaded_after_page_s']:.1f} |",
        "",
        f"Filling the export cache (7 base-shaped slots exported and checked, one after the other, "
        f"at normal priority): {results.get('fill_s', float('nan')):.0f} s.",
        f"Peak RSS with all seven slots loaded: {filled['rss_seven_mb']:.0f} MB; with one PyTorch copy for "
        f"Explain (sentiment) too: **{filled['peak_rss_seven_plus_torch_copy_mb']:.0f} MB**.",
        "",
        "Backends (filled start, from the app's log): " + "; ".join(filled["backends"]) + ".",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--workdir", type=Path, default=Path.home() / ".cache" / "electra-demo" / "bench-start"
    )
    parser.add_argument("--rounds", type=int, default=2, help="cold starts of each app, in turns")
    parser.add_argument("--out", type=Path, help="write the markdown section here")
    parser.add_argument("--tiny", action="store_true", help="tiny checkpoints: a smoke run of this script")
    parser.add_argument(
        "--filled-only", action="store_true", help="only the filled start (cache of a run before)"
    )
    args = parser.parse_args(argv)
    command = "python benchmarks/bench_start.py " + " ".join(argv if argv is not None else sys.argv[1:])
    results = run(args.workdir.expanduser(), args.rounds, args.tiny, args.filled_only)
    print(json.dumps(results, indent=1))
    text = markdown(results, command.strip())
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
