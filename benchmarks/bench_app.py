"""End-to-end benchmark of the demo against a naive transformers baseline, in one run.

    .venv/bin/python benchmarks/bench_app.py            # full run, ~10 minutes on 2 cores
    .venv/bin/python benchmarks/bench_app.py --quick    # smoke run, ~4 minutes

Steps (see benchmarks/README.md): build electra-base-shaped random checkpoints (cached in the
work dir); in-process forward GFLOP/s vs the GEMM peak; gradio_client's own cost per call on a
bare Gradio app (client_cost.py); launch the baseline, and while it stays up (idle between its
requests) our app three times (fresh ONNX export cache: cold start; same cache again: warm start;
int8 mode). Both are driven over plain HTTP (common.GradioHttp: POST /gradio_api/call/<api>, then
its event stream), every request body encoded before the clock starts, and in turn: each
latency request goes to ours and to the baseline (order flipped every request), each throughput
level runs windows ours/baseline/baseline/ours, so on a shared machine both see the same
background load. Prints a markdown table and writes benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

sys.path.insert(0, str(Path(__file__).resolve().parent))

import client_cost
from common import (
    PYTHON,
    ROOT,
    App,
    CallFailed,
    GradioHttp,
    body,
    cpu_info,
    cpu_line,
    launched,
    log,
    other_load,
    percentile,
    vm_hwm_mb,
)
from report import ENDPOINTS, write_results

BENCH = ROOT / "benchmarks"
LENGTHS = (32, 128, 384)
CLIENTS = (1, 4, 16)


# ---- requests ---------------------------------------------------------------------------------------
def request_args(endpoint: str, length: int, texts: dict, i: int) -> tuple:
    """Every argument of the endpoint, in order (plain HTTP fills in no defaults)."""
    if endpoint == "/answer":
        question, context = texts["qa"][str(length)][i % len(texts["qa"][str(length)])]
        return (question, context, 3, 15, True, 384, 128)
    text = texts["single"][str(length)][i % len(texts["single"][str(length)])]
    return (text, 0.5) if endpoint == "/detect" else ("sentiment", text, "")


def first_calls(url: str, texts: dict, endpoints=ENDPOINTS) -> dict[str, float]:
    """Seconds of each endpoint's first 128-token request (it loads, maybe exports, its model)."""
    payloads = {e: body(request_args(e, 128, texts, 0)) for e in endpoints}
    out = {}
    with GradioHttp(url) as http:
        for endpoint, payload in payloads.items():
            out[f"first{endpoint}_s"] = http.timed(endpoint, payload)
            log(f"  first {endpoint}: {out[f'first{endpoint}_s']:.1f} s")
    return out


def stats(samples: list[float]) -> dict[str, float]:
    return {
        "median_ms": 1000 * statistics.median(samples),
        "p90_ms": 1000 * percentile(samples, 90),
        "n": len(samples),
    }


def latency_suite(
    urls: dict[str, str], texts: dict, endpoints, lengths, n: int, warmup: int
) -> dict[str, dict[str, dict[str, dict[str, float]]]]:
    """One request at a time; each request goes to every app in ``urls`` in turn (the order flips
    every request), so the apps are timed under the same background load. ``warmup`` untimed,
    then ``n`` timed per endpoint and length. Returns {app: {endpoint: {length: stats}}}."""
    names = list(urls)
    connections = {name: GradioHttp(url) for name, url in urls.items()}
    out: dict[str, dict] = {name: {} for name in names}
    for endpoint in endpoints:
        for length in lengths:
            warm = [body(request_args(endpoint, length, texts, i)) for i in range(warmup)]
            timed = [body(request_args(endpoint, length, texts, i)) for i in range(n)]
            for payload in warm:
                for name in names:
                    connections[name].timed(endpoint, payload)
            samples: dict[str, list[float]] = {name: [] for name in names}
            for i, payload in enumerate(timed):
                for name in names if i % 2 == 0 else names[::-1]:
                    samples[name].append(connections[name].timed(endpoint, payload))
            for name in names:
                out[name].setdefault(endpoint, {})[str(length)] = stats(samples[name])
            medians = ", ".join(
                f"{name} {out[name][endpoint][str(length)]['median_ms']:.0f}" for name in names
            )
            log(f"  {endpoint} {length} tok: median ms {medians}")
    for connection in connections.values():
        connection.close()
    return out


def throughput_window(url: str, short: list[str], n_clients: int, duration: float) -> dict:
    """``n_clients`` threads, each with its own HTTP connection, send /classify back to back."""
    payloads = [body(("sentiment", text, "")) for text in short]
    connections = [GradioHttp(url) for _ in range(n_clients)]
    latencies: list[list[float]] = [[] for _ in range(n_clients)]
    errors: list[list[str]] = [[] for _ in range(n_clients)]
    barrier = threading.Barrier(n_clients + 1)
    stop_at = [0.0]

    def worker(k: int) -> None:
        http, i = connections[k], k * 7
        barrier.wait()
        while time.perf_counter() < stop_at[0]:
            payload = payloads[i % len(payloads)]
            i += 1
            try:
                latencies[k].append(http.timed("/classify", payload))
            except CallFailed as error:  # counted and reported
                errors[k].append(f"{type(error).__name__}: {str(error)[:200]}")

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(n_clients)]
    for t in threads:
        t.start()
    stop_at[0] = time.perf_counter() + duration
    t0 = time.perf_counter()
    barrier.wait()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    for http in connections:
        http.close()
    return {
        "latencies": [x for per in latencies for x in per],
        "errors": [x for per in errors for x in per],
        "elapsed": elapsed,
    }


def merged(windows: list[dict]) -> dict:
    done = [x for w in windows for x in w["latencies"]]
    failed = [x for w in windows for x in w["errors"]]
    elapsed = sum(w["elapsed"] for w in windows)
    return {
        "rps": len(done) / elapsed,
        "p50_ms": 1000 * percentile(done, 50),
        "p99_ms": 1000 * percentile(done, 99),
        "completed": len(done),
        "errors": len(failed),
        "first_error": failed[0] if failed else "",
        "elapsed_s": elapsed,
        "windows": len(windows),
    }


def throughput_suite(urls: dict[str, str], short: list[str], clients_list, duration: float) -> dict:
    """Per client count, each app gets two windows of ``duration / 2`` in the order A B B A, so
    both see the same background load. Returns {app: {clients: stats}}."""
    names = list(urls)
    out: dict[str, dict] = {name: {} for name in names}
    for n_clients in clients_list:
        windows: dict[str, list[dict]] = {name: [] for name in names}
        for name in names + names[::-1]:
            windows[name].append(throughput_window(urls[name], short, n_clients, duration / 2))
        for name in names:
            out[name][str(n_clients)] = level = merged(windows[name])
            log(f"  {name}, {n_clients} clients: {level['rps']:.2f} req/s, {level['errors']} errors")
    return out


# ---- phases -----------------------------------------------------------------------------------------
@dataclass
class Plan:
    quick: bool
    n: int = field(init=False)
    warmup: int = field(init=False)
    duration: float = field(init=False)
    client_cost_n: int = field(init=False)

    def __post_init__(self):
        self.n, self.warmup, self.duration = (4, 1, 4.0) if self.quick else (12, 2, 15.0)
        self.client_cost_n = 10 if self.quick else 40


def our_env(paths: dict, cache: Path, int8: bool = False) -> dict[str, str]:
    from electra_demo import config

    env = {k: v for k, v in os.environ.items() if not k.startswith("ELECTRA_DEMO_")}
    for name, slot in config.REGISTRY.items():
        env[slot.env_var] = paths["base"].get(name) or paths["tiny"][name]
    env["ELECTRA_DEMO_CACHE"] = str(cache)
    env["ELECTRA_DEMO_BACKEND"] = "auto"
    if int8:
        env["ELECTRA_DEMO_INT8"] = "1"
    return env


def baseline_env(paths: dict) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELECTRA_DEMO_")}
    env.update({f"ELECTRA_DEMO_{slot.upper()}": path for slot, path in paths["base"].items()})
    return env


def run_cold(
    paths: dict, texts: dict, work: Path, logs: Path, plan: Plan, noise: dict, baseline: App
) -> dict:
    """Our app from an empty export cache, then latency and throughput paired with the baseline."""
    results: dict = {}
    cache = work / "onnx-cache"
    shutil.rmtree(cache, ignore_errors=True)  # cold: an empty export cache
    log("our app, cold start (empty ONNX export cache); the baseline stays up, idle")
    with launched("ours-cold", ["app.py"], our_env(paths, cache), logs) as app:
        results["cold"] = {"page_s": app.page_s, **first_calls(app.url, texts)}
        results["cold"]["peak_rss_mb"] = vm_hwm_mb(app.proc.pid)
        results["backends"] = app.backends()
        urls = {"ours": app.url, "baseline": baseline.url}
        pids = [app.proc.pid, baseline.proc.pid]
        log("single-request latency, ours and the baseline in turn")
        with other_load(noise, "latency (ours and baseline in turn)", pids):
            results["latency"] = latency_suite(urls, texts, ENDPOINTS, LENGTHS, plan.n, plan.warmup)
        log("throughput on /classify, windows A B B A")
        with other_load(noise, "throughput (ours and baseline in turn)", pids):
            results["throughput"] = throughput_suite(urls, texts["short"], CLIENTS, plan.duration)
        results["peak_rss_after_all_mb"] = vm_hwm_mb(app.proc.pid)
    return results


def run_warm_and_int8(
    paths: dict, texts: dict, work: Path, logs: Path, plan: Plan, noise: dict, baseline: App
) -> dict:
    results: dict = {}
    log("our app, warm start (export cache filled by the previous launch)")
    with launched("ours-warm", ["app.py"], our_env(paths, work / "onnx-cache"), logs) as app:
        results["warm"] = {"page_s": app.page_s, **first_calls(app.url, texts)}
        results["warm"]["peak_rss_mb"] = vm_hwm_mb(app.proc.pid)
        results["backends_warm"] = app.backends()

    log("our app, int8 mode (its own export cache, kept between runs), paired with the baseline")
    with launched("ours-int8", ["app.py"], our_env(paths, work / "onnx-cache-int8", int8=True), logs) as app:
        first_calls(app.url, texts, ("/classify", "/detect"))  # load (and export)
        urls = {"ours int8": app.url, "baseline": baseline.url}
        with other_load(
            noise, "int8 latency (ours int8 and baseline in turn)", [app.proc.pid, baseline.proc.pid]
        ):
            paired = latency_suite(urls, texts, ("/classify", "/detect"), (128,), plan.n, plan.warmup)
        results["int8"], results["int8_baseline"] = paired["ours int8"], paired["baseline"]
        results["int8_rss_mb"] = vm_hwm_mb(app.proc.pid)
        results["backends_int8"] = app.backends()
    return results


def run_apps(paths: dict, texts: dict, work: Path, logs: Path, plan: Plan, noise: dict) -> dict:
    """The baseline starts first and stays up; our app's three launches are paired with it."""
    log("baseline app")
    with launched("baseline", ["benchmarks/baseline_app.py"], baseline_env(paths), logs) as baseline:
        base: dict = {"page_s": baseline.page_s, **first_calls(baseline.url, texts, ("/detect",))}
        ours = run_cold(paths, texts, work, logs, plan, noise, baseline)
        ours.update(run_warm_and_int8(paths, texts, work, logs, plan, noise, baseline))
        base["peak_rss_mb"] = vm_hwm_mb(baseline.proc.pid)
    base["latency"] = ours["latency"].pop("baseline")
    ours["latency"] = ours["latency"]["ours"]
    base["throughput"] = ours["throughput"].pop("baseline")
    ours["throughput"] = ours["throughput"]["ours"]
    return {"ours": ours, "baseline": base}


def run_client_cost(logs: Path, plan: Plan, noise: dict) -> dict:
    """gradio_client vs plain HTTP on a bare one-endpoint Gradio app (client_cost.py)."""
    log("gradio_client's own cost: a bare Gradio app through gradio_client and over plain HTTP")
    argv = [str(BENCH / "client_cost.py"), "--serve"]
    with launched("bare", argv, dict(os.environ), logs) as app:
        with other_load(noise, "client cost (bare app)", [app.proc.pid]):
            result = client_cost.measure(app.url, plan.client_cost_n)
    client_ms, http_ms = result["gradio_client"]["median_ms"], result["http"]["median_ms"]
    log(f"  gradio_client {client_ms:.1f} ms, plain HTTP {http_ms:.1f} ms")
    return result


def run_flops(paths: dict, work: Path, plan: Plan, noise: dict) -> dict:
    log("in-process forward GFLOP/s and GEMM peak")
    argv = [PYTHON, str(BENCH / "flops.py"), paths["base"]["sentiment"], str(work / "flops-onnx")]
    with other_load(noise, "in-process forward", []):
        done = subprocess.run(
            argv + (["--quick"] if plan.quick else []), capture_output=True, text=True, cwd=ROOT
        )
    if done.returncode != 0:
        raise RuntimeError(f"flops.py failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def machine() -> dict:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], capture_output=True, text=True, cwd=ROOT)
        return done.stdout.strip()

    from electra_demo import config

    cpu = cpu_info()
    return {
        "cpu": cpu,
        "cpu_line": cpu_line(cpu),
        "cores": cpu["cores"],
        "python": platform.python_version(),
        "versions": {p: metadata.version(p) for p in ("torch", "transformers", "onnxruntime", "gradio")},
        "gradio_client": metadata.version("gradio_client"),
        "httpx": metadata.version("httpx"),
        "commit": git("rev-parse", "--short", "HEAD"),
        "dirty": git("status", "--porcelain", "--untracked-files=no", "--", "app.py", "electra_demo"),
        "concurrency": getattr(config, "CONCURRENCY", None),
        "queue_max": getattr(config, "QUEUE_MAX_SIZE", None),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a much smaller smoke run")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=Path.home() / ".cache" / "electra-demo" / "bench",
        help="checkpoints, texts, export caches and app logs (default: %(default)s)",
    )
    parser.add_argument("--out", type=Path, default=BENCH / "RESULTS.md", help="default: %(default)s")
    args = parser.parse_args(argv)
    command = " ".join(
        [".venv/bin/python", "benchmarks/bench_app.py", *map(shlex.quote, argv or sys.argv[1:])]
    )
    t_start = time.perf_counter()
    date = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    plan = Plan(args.quick)
    work = args.workdir.resolve()
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)

    log(f"checkpoints in {work}")
    sys.path.insert(0, str(ROOT))
    built = subprocess.run(
        [PYTHON, str(BENCH / "checkpoints.py"), str(work)], capture_output=True, text=True, cwd=ROOT
    )
    if built.returncode != 0:
        raise SystemExit(f"building checkpoints failed:\n{built.stderr[-3000:]}")
    paths = json.loads(built.stdout.strip().splitlines()[-1])
    texts = json.loads(Path(paths["texts"]).read_text())

    results: dict = {"quick": plan.quick, "machine": machine()}
    log(results["machine"]["cpu_line"])
    noise: dict = {}
    results["flops"] = run_flops(paths, work, plan, noise)
    results["client_cost"] = run_client_cost(logs, plan, noise)
    results.update(run_apps(paths, texts, work, logs, plan, noise))
    results["noise"] = noise
    results["run"] = {"command": command, "date": date}
    wall = time.perf_counter() - t_start
    (work / "results.json").write_text(json.dumps(results, indent=1))
    print(write_results(results, command, date, wall, args.out, work))
    log(f"wrote {args.out} ({wall / 60:.1f} min)")


if __name__ == "__main__":
    main()
