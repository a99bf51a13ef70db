"""The first visit (issues 19, 27): process start to first answers, ours vs the naive app, and memory.

    .venv/bin/python benchmarks/bench_start.py --workdir ~/.cache/electra-demo/bench-start
    .venv/bin/python benchmarks/bench_start.py --rounds 1     # one cold start of each
    git archive <commit> | tar -x -C /tmp/before              # an earlier version of the app...
    .venv/bin/python benchmarks/bench_start.py --before /tmp/before   # ...started in the same turns

On electra-base-shaped random checkpoints (every slot: benchmarks/checkpoints.py's discriminator,
sentiment and qa, and here the generator (electra-base-generator's shape), emotion, nli and ner),
over plain HTTP (common.GradioHttp), with the app's defaults (warm-up on, ONNX Runtime on the CPU):

1. Cold start, in turns (naive, ours[, before], then the order rotated each round): from
   ``Popen`` to the page served and to the answer of the first 128-token /detect, the client
   asking as soon as the page serves. Ours (and before) start with an empty export cache each
   time (their export children are stopped with them).
2. The export cache is filled: every slot exported and checked by ``ModelService`` in a child
   process at normal priority, with each version's code (the app's own background exports run at
   the lowest CPU priority, which on a shared machine can take very long; what lands on disk is
   the same).
3. Filled cache, in turns: as soon as the page serves, the first 128-token /detect, /classify and
   /answer are sent at once; seconds from the page being served to each answer.
4. Memory: in that process, once the warm-up has loaded every slot, one /v1/explain on
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


def cpu_s(pid: int) -> float:
    """CPU seconds the process (all its threads, not its children) has used so far."""
    import psutil

    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def first_detect(name: str, argv: list[str], env: dict, logs: Path, args: tuple, payloads: dict) -> dict:
    """Seconds from process start to the page served and to the first /detect answer (asked as
    soon as the page serves), and the server's CPU seconds by then (a figure other processes on
    a shared machine disturb less). ``payloads`` is filled with the three endpoints' request
    bodies, for the filled-cache starts (which then ask the server nothing before their timed
    requests)."""
    with launched(name, argv, env, logs) as app:
        page_cpu = cpu_s(app.proc.pid)
        payload = completed(app.url, "/detect", args)
        with GradioHttp(app.url) as http:
            http.timed("/detect", payload)
        seconds = time.perf_counter() - app.started
        answer_cpu = cpu_s(app.proc.pid)
        log(f"{name}: first /detect answered {seconds:.1f} s after process start ({answer_cpu:.1f} CPU s)")
        for endpoint, endpoint_args in payloads.items():
            if not isinstance(endpoint_args, bytes):  # not yet a body
                payloads[endpoint] = completed(app.url, endpoint, endpoint_args)
        stop_children(app.proc.pid)
    return {"page_s": app.page_s, "answer_s": seconds, "page_cpu_s": page_cpu, "answer_cpu_s": answer_cpu}


def fill_cache(env: dict, code: Path) -> float:
    """Export and check every slot into the cache with the app at ``code``, in a child at normal
    priority (the app's own background exports run at the lowest priority, which on a shared
    machine can take very long; what lands on disk is the same)."""
    program = (
        "from electra_demo import config\nfrom electra_demo.service import ModelService\n"
        "s = ModelService()\nfor name in config.REGISTRY:\n"
        "    print(name, s.load(name).backend, flush=True)\n"
    )
    start = time.perf_counter()
    subprocess.run([PYTHON, "-c", program], cwd=code, env=env, check=True, stdout=sys.stderr)
    return time.perf_counter() - start


def filled_start(name: str, app_py: Path, env: dict, logs: Path, texts: dict, payloads: dict) -> dict:
    """The first answer of each tab's endpoint after the page serves, sent at once; then memory."""
    import httpx

    out: dict = {}
    with launched(name, [str(app_py)], env, logs) as app:
        served = time.perf_counter()
        bodies = {e: a if isinstance(a, bytes) else body(list(a)) for e, a in payloads.items()}
        out["page_s"] = app.page_s

        def first(endpoint: str) -> None:
            with GradioHttp(app.url) as http:
                http.timed(endpoint, bodies[endpoint])
            out[f"first{endpoint}_after_page_s"] = time.perf_counter() - served

        threads = [threading.Thread(target=first, args=(e,)) for e in bodies]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        log(f"{name}: {json.dumps(out)}")
        deadline = time.perf_counter() + 600
        while True:  # the warm-up loads every slot
            health = httpx.get(app.url + "health", timeout=60).json()
            if len(health["loaded"]) == len(health["models"]) or time.perf_counter() > deadline:
                break
            time.sleep(0.5)
        out["all_loaded_after_page_s"] = time.perf_counter() - served
        out["rss_all_mb"] = vm_hwm_mb(app.proc.pid)
        explain = {"task": "sentiment", "text": texts["single"]["128"][0], "method": "gradient_x_input"}
        reply = httpx.post(app.url + "v1/explain", json=explain, timeout=600)
        assert reply.status_code == 200, reply.text[:300]
        out["peak_rss_plus_torch_copy_mb"] = vm_hwm_mb(app.proc.pid)
        out["backends"] = app.backends()
        stop_children(app.proc.pid)
    return out


def checkpoint_paths(workdir: Path, tiny: bool) -> dict:
    """Base-shaped checkpoints for every slot; with ``tiny``, tiny ones (a smoke run of this script)."""
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


def turns(names: list[str], index: int) -> list[str]:
    """``names`` rotated by ``index``: each one starts first in turn."""
    shift = index % len(names)
    return names[shift:] + names[:shift]


def run(
    workdir: Path,
    rounds: int,
    tiny: bool = False,
    filled_only: bool = False,
    before: Path | None = None,
    cold_only: bool = False,
) -> dict:
    """Cold starts in turns (``rounds`` of each), the cache filled, then the filled starts in turns;
    with ``filled_only``, the filled starts alone, on the cache an earlier run left; with
    ``cold_only``, the cold starts alone."""
    paths = checkpoint_paths(workdir, tiny)
    texts = json.loads(Path(paths["texts"]).read_text())
    logs = workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    payload = request_args("/detect", 128, texts, 0)
    base_env = baseline_env({"base": {k: paths["base"][k] for k in ("discriminator", "sentiment", "qa")}})
    apps = {"ours": ROOT / "app.py", **({"before": before / "app.py"} if before else {})}
    payloads = {e: request_args(e, 128, texts, 0) for e in ("/detect", "/classify", "/answer")}
    cache = workdir / "onnx-cache"
    env = {**our_env(paths, cache), "ELECTRA_DEMO_DATA_DIR": str(workdir / "no-data")}
    results: dict = {"cold": {who: [] for who in ("naive", *apps)}, "filled": {who: [] for who in apps}}
    for index in range(0 if filled_only else rounds):
        for who in turns(list(results["cold"]), index):
            if who == "naive":
                argv, who_env = ["benchmarks/baseline_app.py"], base_env
            else:
                shutil.rmtree(cache, ignore_errors=True)  # an empty export cache
                argv, who_env = [str(apps[who])], env
            results["cold"][who].append(
                first_detect(f"{who}-cold-{index}", argv, who_env, logs, payload, payloads)
            )
    if cold_only:
        return results
    if not filled_only:
        for who, app_py in apps.items():
            log(f"filling the export cache with {who}'s code (every slot exported and checked)")
            results[f"fill_{who}_s"] = fill_cache(env, app_py.parent)
    for index in range(max(rounds, 1)):
        for who in turns(list(apps), index):
            results["filled"][who].append(
                filled_start(f"{who}-filled-{index}", apps[who], env, logs, texts, payloads)
            )
    return results


def median_of(runs: list[dict], key: str) -> float:
    values = [r[key] for r in runs if key in r]
    return statistics.median(values) if values else float("nan")


def cells(runs: list[dict], key: str) -> str:
    """Each run's figure and, in bold, their median."""
    if not any(key in r for r in runs):
        return "-"
    each = ", ".join(f"{r[key]:.1f}" for r in runs if key in r)
    return f"{each} s; **{median_of(runs, key):.1f} s**"


NAMES = {"ours": "ours", "before": "before (`--before`)", "naive": "naive app"}


def row(label: str, runs: dict, who: list[str], key: str) -> str:
    return f"| {label} | " + " | ".join(cells(runs[w], key) for w in who) + " |"


def cold_table(cold: dict) -> list[str]:
    who = [w for w in ("ours", "before", "naive") if cold.get(w)]
    if not who:
        return []
    return [
        "| process start to ... (128 tokens, empty export cache; each start, median) | "
        + " | ".join(NAMES[w] for w in who)
        + " |",
        "|---|" + "---:|" * len(who),
        row("the page served", cold, who, "page_s"),
        row("the first /detect answer", cold, who, "answer_s"),
        row("the server's CPU seconds by the page", cold, who, "page_cpu_s"),
        row("the server's CPU seconds by the answer", cold, who, "answer_cpu_s"),
        "",
    ]


def filled_table(results: dict) -> list[str]:
    filled = results["filled"]
    apps = [w for w in ("ours", "before") if filled.get(w)]
    if not apps:
        return []
    lines = [
        "| filled export cache (each start, median) | " + " | ".join(NAMES[w] for w in apps) + " |",
        "|---|" + "---:|" * len(apps),
        row("process start to the page served", filled, apps, "page_s"),
    ]
    for endpoint in ("/detect", "/classify", "/answer"):
        lines.append(
            row(
                f"page to first {endpoint} answer (sent at once)",
                filled,
                apps,
                f"first{endpoint}_after_page_s",
            )
        )
    lines += [row("page to every slot loaded", filled, apps, "all_loaded_after_page_s"), ""]
    lines += [
        f"Filling the export cache with {w}'s code: {results[f'fill_{w}_s']:.0f} s."
        for w in apps
        if f"fill_{w}_s" in results
    ]
    for w in apps:
        rss, peak = median_of(filled[w], "rss_all_mb"), median_of(filled[w], "peak_rss_plus_torch_copy_mb")
        lines.append(
            f"{NAMES[w].capitalize()}: peak RSS with every slot loaded {rss:.0f} MB; "
            f"with one PyTorch copy for Explain (sentiment) too {peak:.0f} MB."
        )
    if filled.get("ours"):
        lines += [
            "",
            "Backends (ours, filled start, from the app's log): "
            + "; ".join(filled["ours"][-1]["backends"])
            + ".",
        ]
    return lines


def markdown(results: dict, command: str) -> str:
    lines = [
        "## The first visit: cold and filled starts, and memory (`bench_start.py`, issues 19 and 27)",
        "",
        f"{cpu_line()}. From `{command}`. {SHARED_NOTE}.",
        "",
        *cold_table(results["cold"]),
        *filled_table(results),
    ]
    return "\n".join(lines) + "\n"


THREADS_PROBE = """
import json, sys, threading, time
import torch, transformers
from electra_demo.runtime.warmup import start_torch_threads
path, text, main_first, n = sys.argv[1], sys.argv[2], sys.argv[3] == "1", int(sys.argv[4])
model = transformers.AutoModelForPreTraining.from_pretrained(path).eval()
inputs = transformers.AutoTokenizer.from_pretrained(path)(text, return_tensors="pt")
if main_first:
    start_torch_threads()
times = []
def forwards():  # as the micro-batcher runs them: on a worker thread
    for _ in range(n):
        cpu, wall = time.process_time(), time.perf_counter()
        with torch.inference_mode():
            model(**inputs)
        times.append((time.process_time() - cpu, time.perf_counter() - wall))
worker = threading.Thread(target=forwards)
worker.start()
worker.join()
print(json.dumps(times))
"""


def torch_threads_probe(paths: dict, texts: dict, n: int = 5) -> dict:
    """PyTorch forwards (electra-base discriminator, 128 tokens) on a worker thread, in a fresh
    process each: with no parallel operation ever run on the main thread, and after
    :func:`~electra_demo.runtime.warmup.start_torch_threads` ran there (as app.py does)."""
    text = texts["single"]["128"][0]
    out = {}
    for label, flag in (("worker thread only", "0"), ("main thread first", "1")):
        argv = [PYTHON, "-c", THREADS_PROBE, paths["base"]["discriminator"], text, flag, str(n)]
        found = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=True)
        out[label] = json.loads(found.stdout.strip().splitlines()[-1])
    return out


def threads_table(probe: dict) -> str:
    lines = [
        "| 128-token forwards on a worker thread (each: CPU s / wall s) | first | median of the rest |",
        "|---|---:|---:|",
    ]
    for label, times in probe.items():
        rest = times[1:] or times
        cpu, wall = statistics.median(t[0] for t in rest), statistics.median(t[1] for t in rest)
        lines.append(f"| {label} | {times[0][0]:.2f} / {times[0][1]:.2f} | {cpu:.2f} / {wall:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--workdir", type=Path, default=Path.home() / ".cache" / "electra-demo" / "bench-start"
    )
    parser.add_argument(
        "--rounds", type=int, default=2, help="cold (and filled) starts of each app, in turns"
    )
    parser.add_argument("--out", type=Path, help="write the markdown section here")
    parser.add_argument("--tiny", action="store_true", help="tiny checkpoints: a smoke run of this script")
    parser.add_argument(
        "--filled-only", action="store_true", help="only the filled starts (cache of a run before)"
    )
    parser.add_argument(
        "--before", type=Path, help="a checkout of an earlier version, started in the same turns as ours"
    )
    parser.add_argument("--cold-only", action="store_true", help="only the cold starts")
    parser.add_argument(
        "--torch-threads",
        action="store_true",
        help="only the probe of PyTorch forwards on a worker thread, with and without start_torch_threads",
    )
    args = parser.parse_args(argv)
    command = "python benchmarks/bench_start.py " + " ".join(argv if argv is not None else sys.argv[1:])
    before = args.before.expanduser().resolve() if args.before else None
    if args.torch_threads:
        paths = checkpoint_paths(args.workdir.expanduser(), args.tiny)
        probe = torch_threads_probe(paths, json.loads(Path(paths["texts"]).read_text()))
        print(json.dumps(probe))
        print(f"{cpu_line()}. From `{command.strip()}`.\n\n" + threads_table(probe))
        return
    results = run(args.workdir.expanduser(), args.rounds, args.tiny, args.filled_only, before, args.cold_only)
    print(json.dumps(results, indent=1))
    text = markdown(results, command.strip())
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
