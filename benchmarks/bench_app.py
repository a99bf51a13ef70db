"""End-to-end benchmark of the demo against a naive transformers baseline, in one run.

    .venv/bin/python benchmarks/bench_app.py            # full run, ~10 minutes on 2 cores
    .venv/bin/python benchmarks/bench_app.py --quick    # smoke run, ~4 minutes

Steps (see benchmarks/README.md): build electra-base-shaped random checkpoints (cached in the
work dir); in-process forward GFLOP/s vs the GEMM peak; launch our app (fresh ONNX export cache:
cold start; same cache again: warm start; int8 mode) and the baseline, one after the other, and
drive them over HTTP with gradio_client. Prints a markdown table and writes benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
PYTHON = sys.executable
LENGTHS = (32, 128, 384)
CLIENTS = (1, 4, 16)
ENDPOINTS = ("/detect", "/classify", "/answer")

TARGET_SINGLE = 1.6  # baseline / ours, one 128-token request
TARGET_RPS = 3.0  # ours / baseline requests per second, 16 clients, short texts
TARGET_PEAK = 0.75  # batched forward / measured GEMM peak
TARGET_INT8 = 2.0  # baseline / ours-int8, 128 tokens
NOISY_CORES = 0.25  # other processes' CPU use (cores) above which the report warns


# ---- small helpers ------------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile, q in [0, 100] (numpy's default)."""
    data = sorted(values)
    if not data:
        return float("nan")
    k = (len(data) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (k - lo)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _cpu_ticks(pid: str, children: bool) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    # after the command name: utime, stime, cutime, cstime are fields 12-15 (0-based 11-14)
    return sum(int(x) for x in fields[11 : 15 if children else 13])


@contextlib.contextmanager
def other_load(into: dict, key: str, pids: list[int]) -> Iterator[None]:
    """Record how many cores *other* processes kept busy (and steal) while the block ran.

    Busy time of the whole machine (/proc/stat) minus this process (and its waited children)
    and the app under test: a noise gauge, since the machine is shared.
    """

    def machine_ticks() -> tuple[int, int]:
        values = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        idle = values[3] + values[4]
        steal = values[7] if len(values) > 7 else 0
        return sum(values[:8]) - idle - steal, steal

    def own() -> int:
        return _cpu_ticks("self", True) + sum(_cpu_ticks(str(p), False) for p in pids)

    hz = os.sysconf("SC_CLK_TCK")
    busy0, steal0 = machine_ticks()
    own0, t0 = own(), time.perf_counter()
    try:
        yield
    finally:
        busy1, steal1 = machine_ticks()
        elapsed = time.perf_counter() - t0
        into[key] = {
            "other_cores": max(0.0, (busy1 - busy0 - (own() - own0)) / hz / elapsed),
            "steal_cores": (steal1 - steal0) / hz / elapsed,
            "loadavg_1m": float(Path("/proc/loadavg").read_text().split()[0]),
        }


@dataclass
class App:
    name: str
    proc: subprocess.Popen
    url: str
    log_path: Path
    started: float
    page_s: float = float("nan")

    def backends(self) -> list[str]:
        """The app's own log lines saying which backend each slot runs on."""
        text = self.log_path.read_text(errors="replace")
        return [line.split(":", 2)[-1].strip() for line in text.splitlines() if " runs on " in line]


@contextlib.contextmanager
def launched(name: str, argv: list[str], env: dict[str, str], logs: Path) -> Iterator[App]:
    """Start an app, wait for HTTP 200 on /, yield it, stop it."""
    port = free_port()
    log_path = logs / f"{name}.log"
    handle = log_path.open("w")
    started = time.perf_counter()
    proc = subprocess.Popen(
        [PYTHON, *argv, "--port", str(port)], cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT
    )
    app = App(name, proc, f"http://127.0.0.1:{port}/", log_path, started)
    try:
        deadline = started + 300
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}; see {log_path}")
            try:
                with urllib.request.urlopen(app.url, timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.perf_counter() > deadline:
                raise RuntimeError(f"{name} did not serve / within 300 s; see {log_path}")
            time.sleep(0.05)
        app.page_s = time.perf_counter() - started
        log(f"{name}: page up after {app.page_s:.1f} s at {app.url}")
        yield app
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        handle.close()


def client_for(url: str):
    from gradio_client import Client

    return Client(url, verbose=False, download_files=False)


# ---- requests ---------------------------------------------------------------------------------------
def request_args(endpoint: str, length: int, texts: dict, i: int) -> tuple:
    if endpoint == "/answer":
        question, context = texts["qa"][str(length)][i % len(texts["qa"][str(length)])]
        return (question, context, 3, 15, True, 384, 128)
    text = texts["single"][str(length)][i % len(texts["single"][str(length)])]
    return (text, 0.5) if endpoint == "/detect" else ("sentiment", text, "")


def timed(client, endpoint: str, args: tuple) -> float:
    t0 = time.perf_counter()
    client.predict(*args, api_name=endpoint)
    return time.perf_counter() - t0


def latency_suite(
    url: str, texts: dict, endpoints, lengths, n: int, warmup: int
) -> dict[str, dict[str, dict[str, float]]]:
    client = client_for(url)
    out: dict[str, dict[str, dict[str, float]]] = {}
    for endpoint in endpoints:
        for length in lengths:
            for i in range(warmup):
                timed(client, endpoint, request_args(endpoint, length, texts, i))
            samples = [timed(client, endpoint, request_args(endpoint, length, texts, i)) for i in range(n)]
            out.setdefault(endpoint, {})[str(length)] = {
                "median_ms": 1000 * statistics.median(samples),
                "p90_ms": 1000 * percentile(samples, 90),
                "n": n,
            }
            log(f"  {endpoint} {length} tok: median {out[endpoint][str(length)]['median_ms']:.0f} ms")
    return out


def throughput_level(url: str, short: list[str], n_clients: int, duration: float) -> dict:
    """``n_clients`` threads, each with its own Client, send /classify back to back."""
    clients = [client_for(url) for _ in range(n_clients)]
    latencies: list[list[float]] = [[] for _ in range(n_clients)]
    errors: list[list[str]] = [[] for _ in range(n_clients)]
    barrier = threading.Barrier(n_clients + 1)
    stop_at = [0.0]

    def worker(k: int) -> None:
        client, i = clients[k], k * 7
        barrier.wait()
        while time.perf_counter() < stop_at[0]:
            text = short[i % len(short)]
            i += 1
            t0 = time.perf_counter()
            try:
                client.predict("sentiment", text, "", api_name="/classify")
                latencies[k].append(time.perf_counter() - t0)
            except Exception as error:  # noqa: BLE001 - counted and reported
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
    done = [x for per in latencies for x in per]
    failed = [x for per in errors for x in per]
    return {
        "rps": len(done) / elapsed,
        "p50_ms": 1000 * percentile(done, 50),
        "p99_ms": 1000 * percentile(done, 99),
        "completed": len(done),
        "errors": len(failed),
        "first_error": failed[0] if failed else "",
        "elapsed_s": elapsed,
    }


def throughput_suite(url: str, short: list[str], clients_list, duration: float) -> dict[str, dict]:
    out = {}
    for n_clients in clients_list:
        out[str(n_clients)] = level = throughput_level(url, short, n_clients, duration)
        log(f"  {n_clients} clients: {level['rps']:.2f} req/s, {level['errors']} errors")
    return out


# ---- phases -----------------------------------------------------------------------------------------
@dataclass
class Plan:
    quick: bool
    n: int = field(init=False)
    warmup: int = field(init=False)
    duration: float = field(init=False)

    def __post_init__(self):
        self.n, self.warmup, self.duration = (3, 1, 4.0) if self.quick else (12, 2, 15.0)


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


def run_ours(paths: dict, texts: dict, work: Path, logs: Path, plan: Plan, noise: dict) -> dict:
    results: dict = {}
    cache = work / "onnx-cache"
    shutil.rmtree(cache, ignore_errors=True)  # cold: an empty export cache
    log("our app, cold start (empty ONNX export cache)")
    with launched("ours-cold", ["app.py"], our_env(paths, cache), logs) as app:
        client = client_for(app.url)
        cold = {"page_s": app.page_s}
        for endpoint in ENDPOINTS:
            cold[f"first{endpoint}_s"] = timed(client, endpoint, request_args(endpoint, 128, texts, 0))
            log(f"  first {endpoint}: {cold[f'first{endpoint}_s']:.1f} s")
        cold["peak_rss_mb"] = vm_hwm_mb(app.proc.pid)
        results["cold"] = cold
        results["backends"] = app.backends()
        log("our app: single-request latency")
        with other_load(noise, "ours latency", [app.proc.pid]):
            results["latency"] = latency_suite(app.url, texts, ENDPOINTS, LENGTHS, plan.n, plan.warmup)
        log("our app: throughput on /classify")
        with other_load(noise, "ours throughput", [app.proc.pid]):
            results["throughput"] = throughput_suite(app.url, texts["short"], CLIENTS, plan.duration)
        results["peak_rss_after_all_mb"] = vm_hwm_mb(app.proc.pid)

    log("our app, warm start (export cache filled by the previous launch)")
    with launched("ours-warm", ["app.py"], our_env(paths, cache), logs) as app:
        client = client_for(app.url)
        warm = {"page_s": app.page_s}
        for endpoint in ENDPOINTS:
            warm[f"first{endpoint}_s"] = timed(client, endpoint, request_args(endpoint, 128, texts, 0))
            log(f"  first {endpoint}: {warm[f'first{endpoint}_s']:.1f} s")
        warm["peak_rss_mb"] = vm_hwm_mb(app.proc.pid)
        results["warm"] = warm
        results["backends_warm"] = app.backends()

    log("our app, int8 mode (its own export cache, kept between runs)")
    with launched("ours-int8", ["app.py"], our_env(paths, work / "onnx-cache-int8", int8=True), logs) as app:
        client = client_for(app.url)
        for endpoint in ("/classify", "/detect"):
            timed(client, endpoint, request_args(endpoint, 128, texts, 0))  # load (and export)
        with other_load(noise, "ours int8 latency", [app.proc.pid]):
            results["int8"] = latency_suite(
                app.url, texts, ("/classify", "/detect"), (128,), plan.n, plan.warmup
            )
        results["int8_rss_mb"] = vm_hwm_mb(app.proc.pid)
        results["backends_int8"] = app.backends()
    return results


def run_baseline(paths: dict, texts: dict, logs: Path, plan: Plan, noise: dict) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELECTRA_DEMO_")}
    env.update({f"ELECTRA_DEMO_{slot.upper()}": path for slot, path in paths["base"].items()})
    log("baseline app")
    with launched("baseline", ["benchmarks/baseline_app.py"], env, logs) as app:
        results: dict = {"page_s": app.page_s}
        client = client_for(app.url)
        results["first/detect_s"] = timed(client, "/detect", request_args("/detect", 128, texts, 0))
        log("baseline: single-request latency")
        with other_load(noise, "baseline latency", [app.proc.pid]):
            results["latency"] = latency_suite(app.url, texts, ENDPOINTS, LENGTHS, plan.n, plan.warmup)
        log("baseline: throughput on /classify")
        with other_load(noise, "baseline throughput", [app.proc.pid]):
            results["throughput"] = throughput_suite(app.url, texts["short"], CLIENTS, plan.duration)
        results["peak_rss_mb"] = vm_hwm_mb(app.proc.pid)
    return results


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


# ---- report -----------------------------------------------------------------------------------------
def machine() -> dict:
    cpu, family = "unknown", "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name") and cpu == "unknown":
            cpu = line.split(":", 1)[1].strip()
        if line.startswith("cpu family") and family == "?":
            family = line.split(":", 1)[1].strip()
    cpu = f"{cpu} (cpu family {family})"
    flags = Path("/proc/cpuinfo").read_text()
    isa = [
        f
        for f in ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile")
        if f" {f}" in flags
    ]

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], capture_output=True, text=True, cwd=ROOT)
        return done.stdout.strip()

    from electra_demo import config

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "isa": " ".join(isa),
        "python": platform.python_version(),
        "versions": {p: metadata.version(p) for p in ("torch", "transformers", "onnxruntime", "gradio")},
        "gradio_client": metadata.version("gradio_client"),
        "commit": git("rev-parse", "--short", "HEAD"),
        "dirty": git("status", "--porcelain", "--untracked-files=no", "--", "app.py", "electra_demo"),
        "concurrency": getattr(config, "CONCURRENCY", None),
        "queue_max": getattr(config, "QUEUE_MAX_SIZE", None),
    }


def verdict(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def render(r: dict, command: str, date: str, wall_s: float) -> str:
    m, ours, base, fl = r["machine"], r["ours"], r["baseline"], r["flops"]
    lines: list[str] = []
    add = lines.append
    v = m["versions"]
    add(f"Date: {date}  ")
    add(f"Command: `{command}`  ")
    add(
        f"Wall time: {wall_s / 60:.1f} min"
        + (" (quick smoke run: few requests, short windows)" if r["quick"] else "")
    )
    add("")
    dirty = " + uncommitted changes in app.py/electra_demo" if m["dirty"] else ""
    add(
        f"Machine: {m['cpu']}, {m['cores']} cores ({m['isa']}). Python {m['python']}, torch {v['torch']}, "
        f"transformers {v['transformers']}, onnxruntime {v['onnxruntime']}, gradio {v['gradio']} "
        f"(gradio_client {m['gradio_client']}). Code: {m['commit']}{dirty}; our queue: "
        f"default_concurrency_limit={m['concurrency']}, max_size={m['queue_max']}."
    )
    add("")
    busiest = max((x["other_cores"] for x in r.get("noise", {}).values()), default=0.0)
    if busiest > NOISY_CORES:
        add(
            f"**Warning: other processes kept up to {busiest:.1f} of the {m['cores']} cores busy during "
            "this run (see Noise below): the figures and ratios are distorted by contention; rerun on "
            "a quiet machine before drawing conclusions.**"
        )
        add("")
    add(f"Our backends (from the app's log): {'; '.join(ours['backends']) or 'none logged'}.")
    add("")

    # targets
    lat_o, lat_b = ours["latency"], base["latency"]

    def ratio(endpoint: str, length: int) -> float:
        return lat_b[endpoint][str(length)]["median_ms"] / lat_o[endpoint][str(length)]["median_ms"]

    rps16 = ours["throughput"]["16"]["rps"] / base["throughput"]["16"]["rps"]
    peak = max(fl["gemm"]["ort_gflops"], fl["gemm"]["torch_gflops"])
    ort_share = fl["ort_gflops"] / peak
    int8 = {
        e: lat_b[e]["128"]["median_ms"] / ours["int8"][e]["128"]["median_ms"]
        for e in ("/classify", "/detect")
    }
    add("## Targets")
    add("")
    add("| target | measured | verdict |")
    add("|---|---|---|")
    for endpoint in ENDPOINTS:
        x = ratio(endpoint, 128)
        add(
            f"| single 128-token request {endpoint} >= {TARGET_SINGLE}x faster than baseline | "
            f"{x:.2f}x | {verdict(x >= TARGET_SINGLE)} |"
        )
    add(
        f"| >= {TARGET_RPS}x baseline requests/s, 16 clients, short texts (/classify) | {rps16:.2f}x | "
        f"{verdict(rps16 >= TARGET_RPS)} |"
    )
    add(
        f"| batched forward (ONNX Runtime, 8 x 128) >= {TARGET_PEAK:.0%} of measured GEMM peak "
        f"({peak:.0f} GFLOP/s) | {ort_share:.0%} | {verdict(ort_share >= TARGET_PEAK)} |"
    )
    for endpoint, x in int8.items():
        add(
            f"| int8 {endpoint} at 128 tokens >= {TARGET_INT8}x faster than baseline | {x:.2f}x | "
            f"{verdict(x >= TARGET_INT8)} |"
        )
    add("")

    add("## a. Single-request latency over HTTP (ms; tokens include [CLS]/[SEP])")
    add("")
    n = lat_o[ENDPOINTS[0]][str(LENGTHS[0])]["n"]
    add(f"{n} requests each after warm-ups, one client, one request at a time.")
    add("")
    add("| endpoint | tokens | ours median | ours p90 | baseline median | baseline p90 | baseline/ours |")
    add("|---|---:|---:|---:|---:|---:|---:|")
    for endpoint in ENDPOINTS:
        for length in LENGTHS:
            o, b = lat_o[endpoint][str(length)], lat_b[endpoint][str(length)]
            add(
                f"| {endpoint} | {length} | {o['median_ms']:.0f} | {o['p90_ms']:.0f} | "
                f"{b['median_ms']:.0f} | "
                f"{b['p90_ms']:.0f} | {ratio(endpoint, length):.2f}x |"
            )
    add("")

    add("## b. Throughput on /classify, short texts (8-32 tokens), concurrent clients")
    add("")
    dur = ours["throughput"]["1"]["elapsed_s"]
    add(f"Each client is a thread with its own gradio_client.Client, requests back to back for ~{dur:.0f} s.")
    add("")
    add(
        "| clients | ours req/s | ours p50 ms | ours p99 ms | ours errors | baseline req/s | baseline p50 ms "
        "| baseline p99 ms | baseline errors | ours/baseline req/s |"
    )
    add("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for c in CLIENTS:
        o, b = ours["throughput"][str(c)], base["throughput"][str(c)]
        add(
            f"| {c} | {o['rps']:.2f} | {o['p50_ms']:.0f} | {o['p99_ms']:.0f} | {o['errors']} | "
            f"{b['rps']:.2f} | "
            f"{b['p50_ms']:.0f} | {b['p99_ms']:.0f} | {b['errors']} | {o['rps'] / b['rps']:.2f}x |"
        )
    errors = [
        f"{who} {c} clients: {t[str(c)]['first_error']}"
        for who, t in (("ours", ours["throughput"]), ("baseline", base["throughput"]))
        for c in CLIENTS
        if t[str(c)]["errors"]
    ]
    if errors:
        add("")
        add("First error seen: " + "; ".join(errors))
    add("")

    add(f"## c. In-process forward, batch {fl['batch']} x {fl['seq']} tokens ({fl['threads']} threads)")
    add("")
    add(
        f"FLOPs per forward: {fl['gflop_per_forward']:.1f} GFLOP "
        f"({fl['gflop_per_sequence']:.2f} per sequence: "
        "2 x 85.0 M encoder weights x 128 tokens + 4 x 128^2 x 768 x 12 for attention; see flops.py). "
        f"GEMM peak, 2048^3 float32, best of runs: ONNX Runtime {fl['gemm']['ort_gflops']:.0f} GFLOP/s, "
        f"torch.matmul {fl['gemm']['torch_gflops']:.0f} GFLOP/s; machine peak = the higher, {peak:.0f}."
    )
    add("")
    add(
        "| backend | forward s (best / median) | GFLOP/s (best) | % of own engine's GEMM peak "
        "| % of machine peak |"
    )
    add("|---|---:|---:|---:|---:|")
    for name, key, own in (
        ("ONNX Runtime fp32", "ort", "ort_gflops"),
        ("PyTorch fp32", "torch", "torch_gflops"),
    ):
        g = fl[f"{key}_gflops"]
        add(
            f"| {name} | {fl[f'{key}_forward_s']:.2f} / {fl[f'{key}_forward_median_s']:.2f} | {g:.0f} | "
            f"{g / fl['gemm'][own]:.0%} | {g / peak:.0%} |"
        )
    add("")

    add("## d. Start-up and memory (our app unless named)")
    add("")
    c, w = ours["cold"], ours["warm"]
    add("| | empty export cache (cold) | filled cache (warm) |")
    add("|---|---:|---:|")
    add(f"| launch to first page (HTTP 200 on /) | {c['page_s']:.1f} s | {w['page_s']:.1f} s |")
    for endpoint in ENDPOINTS:
        add(
            f"| first {endpoint}, 128 tokens (loads its model; cold: exports it too) | "
            f"{c[f'first{endpoint}_s']:.1f} s | {w[f'first{endpoint}_s']:.1f} s |"
        )
    add(
        f"| peak RSS (VmHWM) after /detect, /classify, /answer | {c['peak_rss_mb']:.0f} MB | "
        f"{w['peak_rss_mb']:.0f} MB |"
    )
    add("")
    add(
        f"Baseline: first page after {base['page_s']:.1f} s (it loads its three models before serving), "
        f"first /detect {base['first/detect_s'] * 1000:.0f} ms, peak RSS {base['peak_rss_mb']:.0f} MB. "
        f"Our cold-start process after the whole benchmark: peak RSS {ours['peak_rss_after_all_mb']:.0f} MB; "
        f"int8 mode (two models loaded): {ours['int8_rss_mb']:.0f} MB."
    )
    add("")

    add("## Noise: CPU kept busy by other processes while each phase ran")
    add("")
    add(
        "| phase | other processes (cores, of " + str(m["cores"]) + ") | steal (cores) | load average 1 min |"
    )
    add("|---|---:|---:|---:|")
    for phase, x in r["noise"].items():
        add(f"| {phase} | {x['other_cores']:.2f} | {x['steal_cores']:.2f} | {x['loadavg_1m']:.2f} |")
    add("")

    add("## e. int8 mode (ELECTRA_DEMO_INT8=1), 128 tokens, one request at a time")
    add("")
    add(f"Backends: {'; '.join(ours['backends_int8']) or 'none logged'}.")
    add("")
    add(
        "| endpoint | ours int8 median | ours int8 p90 | ours fp32 median | baseline median | baseline/int8 |"
    )
    add("|---|---:|---:|---:|---:|---:|")
    for endpoint in ("/classify", "/detect"):
        i8 = ours["int8"][endpoint]["128"]
        add(
            f"| {endpoint} | {i8['median_ms']:.0f} | {i8['p90_ms']:.0f} | "
            f"{lat_o[endpoint]['128']['median_ms']:.0f} | "
            f"{lat_b[endpoint]['128']['median_ms']:.0f} | {int8[endpoint]:.2f}x |"
        )
    add("")
    return "\n".join(lines)


HOW_TO_READ = """\
## How to read this

- Every ratio compares numbers taken in this one run on this machine; the machine is shared and
  noisy, so absolute milliseconds move between runs more than the ratios do.
- All models are electra-base-shaped with **random weights** (marked in their config.json): speed
  and memory are those of the real checkpoints, outputs are meaningless.
- The HTTP figures include Gradio's queue, JSON and the client (which runs on the same 2 cores as
  the server, so client overhead is part of every figure, for both apps alike). The baseline
  returns one JSON output; ours also renders highlights, tables and summaries.
- "ours" runs ONNX Runtime fp32 by default on a CPU (the backend lines say what was used; a
  "fallback" line means ONNX failed and PyTorch served). The baseline is PyTorch fp32 eager, one
  request at a time (Gradio's default queue).
- Cold start = empty ONNX export cache, so the first request of each model also exports and
  optimises it; warm start reuses the cache. Peak RSS is VmHWM, the process's high-water mark.
- In c, the percentage is the share of the GEMM peak the whole forward achieves, by the FLOP
  formula in flops.py (linear layers + attention matmuls, encoder only).
"""


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
    sys.path.insert(0, str(BENCH))
    sys.path.insert(0, str(ROOT))
    built = subprocess.run(
        [PYTHON, str(BENCH / "checkpoints.py"), str(work)], capture_output=True, text=True, cwd=ROOT
    )
    if built.returncode != 0:
        raise SystemExit(f"building checkpoints failed:\n{built.stderr[-3000:]}")
    paths = json.loads(built.stdout.strip().splitlines()[-1])
    texts = json.loads(Path(paths["texts"]).read_text())

    results: dict = {"quick": plan.quick, "machine": machine()}
    noise: dict = {}
    results["flops"] = run_flops(paths, work, plan, noise)
    results["ours"] = run_ours(paths, texts, work, logs, plan, noise)
    results["baseline"] = run_baseline(paths, texts, logs, plan, noise)
    results["noise"] = noise
    results["run"] = {"command": command, "date": date}
    wall = time.perf_counter() - t_start
    (work / "results.json").write_text(json.dumps(results, indent=1))

    table = render(results, command, date, wall)
    print(table)
    args.out.write_text(
        "# Benchmark results: the demo vs a naive transformers baseline\n\n"
        + table
        + "\n"
        + HOW_TO_READ
        + f"\nRaw numbers: `{work / 'results.json'}`; app logs: `{logs}`.\n"
    )
    log(f"wrote {args.out} ({wall / 60:.1f} min)")


if __name__ == "__main__":
    main()
