"""The /v1 API's speed: /v1/embeddings and /v1/classify against the naive app and Infinity, one run.

    .venv/bin/python benchmarks/bench_v1.py                 # full run, ~12 minutes on 2 cores
    .venv/bin/python benchmarks/bench_v1.py --quick         # smoke run, ~6 minutes
    .venv/bin/python benchmarks/bench_v1.py --ours-url http://127.0.0.1:7860/   # an app already up

In one run, one server at a time (never two together), all on the same electra-base-shaped
random checkpoints (``checkpoints.py``):

1. Infinity (``infinity_emb v2 --engine torch``, its own virtual environment, see
   ``infinity-requirements.txt``) serving the discriminator (embeddings) and the sentiment head
   (classify): ``POST /embeddings`` and ``POST /classify`` at 1 and 16 clients.
2. The naive app (``baseline_app.py``): its Gradio ``/classify`` over plain HTTP at 1 and 16 clients.
3. Our app (``app.py``) in fp32: ``/v1/embeddings`` and ``/v1/classify`` at 1 and 16 clients, then the
   per-request cost of the ``/v1`` path over the in-process service call at 128 tokens.
4. Our app again with ``ELECTRA_DEMO_INT8=1``: the same two routes at 1 and 16 clients.

Every request carries one text of 8-32 tokens ([CLS]/[SEP] included; the 64 texts of
``texts.json``'s ``short``); request bodies are encoded before the clock starts; each client is a
thread with its own kept-alive ``httpx`` connection, sending back to back. Prints the CPU line, a
table with the ratios against the targets, and writes ``v1-results.json`` (and, with ``--out``,
the markdown) in the work dir.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

from common import (  # noqa: E402 - after the path set-up, as a script
    PYTHON,
    ROOT,
    SHARED_NOTE,
    Busy,
    CallFailed,
    GradioHttp,
    body,
    cpu_info,
    cpu_line,
    free_port,
    launched,
    log,
    other_load,
    percentile,
)

CLIENTS = (1, 16)
TARGET_CLASSIFY = 4.0  # /v1/classify req/s over the naive app's /classify, 16 clients
TARGET_EMBED = 2.0  # /v1/embeddings req/s (fp32) over Infinity's, 16 clients
TARGET_OVERHEAD = 0.10  # the /v1 path over the in-process call, 128 tokens
API_KEY = "bench-v1-key"  # a key is set, so the key check is part of every timed request
INFINITY_VENV = Path.home() / ".cache" / "electra-demo" / "infinity-venv"
INFINITY_NAMES = {"embed": "electra-base-discriminator", "classify": "electra-base-sentiment"}


# ---- clients: one kept-alive connection each, bodies encoded before the clock ------------------------
class Caller(Protocol):
    def timed(self, payload: bytes) -> float: ...

    def close(self) -> None: ...


class Refused(CallFailed):
    """The server turned the request away (HTTP 429 or 503): counted apart from failures."""


class JsonRoute:
    """``POST url+path`` with a JSON body on one kept-alive ``httpx`` connection."""

    def __init__(self, url: str, path: str, headers: dict[str, str] | None = None) -> None:
        import httpx

        self.url = url.rstrip("/") + path
        self.headers = {"Content-Type": "application/json", **(headers or {})}
        self.http = httpx.Client(timeout=300.0)

    def close(self) -> None:
        self.http.close()

    def timed(self, payload: bytes) -> float:
        """Seconds from the POST to the whole response body read; nothing is parsed on the clock."""
        import httpx

        start = time.perf_counter()
        try:
            response = self.http.post(self.url, content=payload, headers=self.headers)
            response.read()
        except httpx.HTTPError as error:
            raise CallFailed(f"{self.url}: {type(error).__name__}: {error}") from error
        elapsed = time.perf_counter() - start
        if response.status_code in (429, 503):
            raise Refused(f"{self.url}: HTTP {response.status_code} {response.text[:200]}")
        if response.status_code != 200:
            raise CallFailed(f"{self.url}: HTTP {response.status_code} {response.text[:300]}")
        return elapsed

    def call(self, obj: Any) -> Any:
        """One untimed request (checks, warm-ups): the parsed JSON answer."""
        response = self.http.post(self.url, content=json.dumps(obj).encode(), headers=self.headers)
        if response.status_code != 200:
            raise CallFailed(f"{self.url}: HTTP {response.status_code} {response.text[:300]}")
        return response.json()


class GradioRoute:
    """A Gradio endpoint over plain HTTP (``common.GradioHttp``), as one :class:`Caller`."""

    def __init__(self, url: str, api: str) -> None:
        self.api, self.http = api, GradioHttp(url)

    def close(self) -> None:
        self.http.close()

    def timed(self, payload: bytes) -> float:
        try:
            return self.http.timed(self.api, payload)
        except Busy as error:
            raise Refused(str(error)) from error


@dataclass
class Target:
    """One server's route: a fresh connection per client, and the request bodies to cycle through."""

    label: str
    connect: Callable[[], Caller]
    payloads: list[bytes]


# ---- load ----------------------------------------------------------------------------------------------
def load_level(target: Target, n_clients: int, duration: float) -> dict[str, Any]:
    """``n_clients`` threads, each with its own connection, send back to back for ``duration`` s."""
    callers = [target.connect() for _ in range(n_clients)]
    latencies: list[list[float]] = [[] for _ in range(n_clients)]
    failures: list[list[str]] = [[] for _ in range(n_clients)]
    refused = [0] * n_clients
    barrier = threading.Barrier(n_clients + 1)
    stop_at = [0.0]

    def worker(k: int) -> None:
        caller, i, payloads = callers[k], k * 7, target.payloads
        barrier.wait()
        while time.perf_counter() < stop_at[0]:
            payload = payloads[i % len(payloads)]
            i += 1
            try:
                latencies[k].append(caller.timed(payload))
            except Refused:
                refused[k] += 1
            except CallFailed as error:
                failures[k].append(str(error)[:300])

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(n_clients)]
    for thread in threads:
        thread.start()
    stop_at[0] = time.perf_counter() + duration
    start = time.perf_counter()
    barrier.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    for caller in callers:
        caller.close()
    done = [x for per in latencies for x in per]
    failed = [x for per in failures for x in per]
    return {
        "rps": len(done) / elapsed,
        "p50_ms": 1000 * percentile(done, 50),
        "p99_ms": 1000 * percentile(done, 99),
        "completed": len(done),
        "refused": sum(refused),
        "errors": len(failed),
        "first_error": failed[0] if failed else "",
        "elapsed_s": elapsed,
    }


def throughput(target: Target, plan: Plan) -> dict[str, dict[str, Any]]:
    """Each client count in turn, after an untimed warm-up: every body once (so every text length
    has been seen: PyTorch's first forward at a new shape is slow), then a window at that count."""
    caller = target.connect()
    for payload in target.payloads:
        caller.timed(payload)
    caller.close()
    out = {}
    for n_clients in CLIENTS:
        load_level(target, n_clients, plan.warmup_s)
        out[str(n_clients)] = level = load_level(target, n_clients, plan.duration)
        log(
            f"  {target.label}, {n_clients} clients: {level['rps']:.2f} req/s, p50 {level['p50_ms']:.0f} ms, "
            f"{level['refused']} refused, {level['errors']} errors"
        )
        if level["first_error"]:
            log(f"    first error: {level['first_error']}")
    return out


@dataclass
class Plan:
    quick: bool
    duration: float = field(init=False)
    warmup_s: float = field(init=False)
    overhead_rounds: int = field(init=False)

    def __post_init__(self) -> None:
        self.duration, self.warmup_s, self.overhead_rounds = (4.0, 2.0, 4) if self.quick else (15.0, 5.0, 10)


# ---- the servers ---------------------------------------------------------------------------------------
def bodies(make: Callable[[str], Any], texts: Sequence[str]) -> list[bytes]:
    return [json.dumps(make(text)).encode() for text in texts]


def infinity_versions(venv: Path) -> dict[str, str]:
    code = (
        "import json; from importlib import metadata as m; print(json.dumps({p: m.version(p) for p in "
        "('infinity_emb', 'torch', 'transformers', 'sentence-transformers')}))"
    )
    done = subprocess.run([str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True)
    return json.loads(done.stdout) if done.returncode == 0 else {"error": done.stderr[-300:]}


@contextlib.contextmanager
def infinity_launched(venv: Path, paths: dict, logs: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    """``infinity_emb v2 --engine torch`` on 127.0.0.1 with our discriminator and sentiment checkpoints.

    fp32 on the CPU, mean pooling (as ``/v1/embeddings``), remote code off, no telemetry; its own
    start-up warm-up (batches of 32 x 512 tokens, minutes on 2 cores) is off: each level is warmed
    up with real requests instead, as for every server here.
    """
    port = free_port()
    argv = [str(venv / "bin" / "infinity_emb"), "v2", "--engine", "torch", "--device", "cpu"]
    argv += ["--dtype", "float32", "--pooling-method", "mean", "--no-trust-remote-code"]
    argv += ["--no-model-warmup", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    for slot, name in (("discriminator", INFINITY_NAMES["embed"]), ("sentiment", INFINITY_NAMES["classify"])):
        argv += ["--model-id", paths["base"][slot], "--served-model-name", name]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "DO_NOT_TRACK": "1", "INFINITY_ANONYMOUS_USAGE_STATS": "0"}
    log_path = logs / "infinity.log"
    with log_path.open("w") as handle:
        proc = subprocess.Popen(argv, env=env, stdout=handle, stderr=subprocess.STDOUT, cwd="/tmp")
        url = f"http://127.0.0.1:{port}"
        try:
            wait_for(url + "/health", proc, log_path)
            yield url, proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_for(url: str, proc: subprocess.Popen, log_path: Path, limit_s: float = 300.0) -> None:
    deadline = time.perf_counter() + limit_s
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited with {proc.returncode}; see {log_path}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if time.perf_counter() > deadline:
            raise RuntimeError(f"{url} did not answer 200 within {limit_s:.0f} s; see {log_path}")
        time.sleep(0.1)


def run_infinity(venv: Path, paths: dict, short: list[str], logs: Path, plan: Plan, noise: dict) -> dict:
    log(f"Infinity ({venv})")
    embed_body = bodies(lambda t: {"model": INFINITY_NAMES["embed"], "input": [t]}, short)
    classify_body = bodies(lambda t: {"model": INFINITY_NAMES["classify"], "input": [t]}, short)
    with infinity_launched(venv, paths, logs) as (url, proc):
        check = JsonRoute(url, "/embeddings")
        vector = check.call({"model": INFINITY_NAMES["embed"], "input": [short[0]]})["data"][0]["embedding"]
        check.close()
        if len(vector) != 768:
            raise RuntimeError(f"Infinity's embedding has {len(vector)} dimensions; expected 768")
        results: dict[str, Any] = {"versions": infinity_versions(venv)}
        with other_load(noise, "Infinity", [proc.pid]):
            results["embeddings"] = throughput(
                Target("Infinity /embeddings", lambda: JsonRoute(url, "/embeddings"), embed_body), plan
            )
            results["classify"] = throughput(
                Target("Infinity /classify", lambda: JsonRoute(url, "/classify"), classify_body), plan
            )
    return results


def run_baseline(paths: dict, short: list[str], logs: Path, plan: Plan, noise: dict) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELECTRA_DEMO_")}
    env.update({f"ELECTRA_DEMO_{slot.upper()}": path for slot, path in paths["base"].items()})
    payloads = [body(["sentiment", text, ""]) for text in short]
    log("naive app")
    with launched("baseline-v1", ["benchmarks/baseline_app.py"], env, logs) as app:
        with GradioHttp(app.url) as http:
            answer = http.call("/classify", ["sentiment", short[0], ""])[0]
        if "labels" not in answer:
            raise RuntimeError(f"the naive app's /classify gave {answer!r}; expected its labels")
        with other_load(noise, "naive app", [app.proc.pid]):
            target = Target("naive /classify", lambda: GradioRoute(app.url, "/classify"), payloads)
            return {"classify": throughput(target, plan)}


def our_env(paths: dict, cache: Path, int8: bool) -> dict[str, str]:
    """Every slot pointed at the work dir; a key set; the rate limit far above what the run sends."""
    from electra_demo import config

    env = {k: v for k, v in os.environ.items() if not k.startswith("ELECTRA_DEMO_")}
    for name, slot in config.REGISTRY.items():
        env[slot.env_var] = paths["base"].get(name) or paths["tiny"][name]
    env.update(
        ELECTRA_DEMO_CACHE=str(cache),
        ELECTRA_DEMO_BACKEND="auto",
        ELECTRA_DEMO_API_KEYS=API_KEY,
        ELECTRA_DEMO_RATE_LIMIT="100000000",
    )
    if int8:
        env["ELECTRA_DEMO_INT8"] = "1"
    return env


def our_targets(url: str, short: list[str]) -> dict[str, Target]:
    auth = {"Authorization": f"Bearer {API_KEY}"}
    embed = bodies(lambda t: {"model": "discriminator", "input": t, "encoding_format": "float"}, short)
    classify = bodies(lambda t: {"model": "sentiment", "input": t}, short)
    return {
        "embeddings": Target("/v1/embeddings", lambda: JsonRoute(url, "/v1/embeddings", auth), embed),
        "classify": Target("/v1/classify", lambda: JsonRoute(url, "/v1/classify", auth), classify),
    }


def check_ours(url: str, text: str) -> None:
    """One untimed request per route: the answers have the documented shape."""
    auth = {"Authorization": f"Bearer {API_KEY}"}
    route = JsonRoute(url, "/v1/embeddings", auth)
    vector = route.call({"model": "discriminator", "input": text, "encoding_format": "float"})
    route.close()
    if len(vector["data"][0]["embedding"]) != 768:
        raise RuntimeError(f"/v1/embeddings gave {len(vector['data'][0]['embedding'])} dimensions")
    route = JsonRoute(url, "/v1/classify", auth)
    labels = route.call({"model": "sentiment", "input": text})["data"][0]["labels"]
    route.close()
    if len(labels) != 2:
        raise RuntimeError(f"/v1/classify gave {labels!r}; expected two labels")


@contextlib.contextmanager
def ours_up(
    name: str, env: dict[str, str], logs: Path, url: str | None
) -> Iterator[tuple[str, list[int], Any]]:
    """Our app: the one at ``url`` when given, else ``app.py`` launched with ``env``."""
    if url:
        yield url, [], None
        return
    with launched(name, ["app.py"], env, logs) as app:
        yield app.url, [app.proc.pid], app


def run_ours(
    paths: dict, texts: dict, logs: Path, plan: Plan, noise: dict, *, int8: bool, url: str | None, work: Path
) -> dict:
    name = "ours-v1-int8" if int8 else "ours-v1"
    env = our_env(paths, work / ("onnx-cache-int8" if int8 else "onnx-cache"), int8)
    log(f"our app ({'int8' if int8 else 'fp32'}){' at ' + url if url else ''}")
    with ours_up(name, env, logs, url) as (base, pids, app):
        check_ours(base, texts["short"][0])  # loads both models (and exports them if not cached)
        results: dict[str, Any] = {}
        targets = our_targets(base, texts["short"])
        with other_load(noise, f"ours {'int8' if int8 else 'fp32'}", pids):
            for key, target in targets.items():
                results[key] = throughput(target, plan)
        if not int8:
            with other_load(noise, "ours fp32, /v1 path vs in-process", pids):
                results["overhead"] = overhead(base, env, texts["single"]["128"], plan)
        if app is not None:
            results["backends"] = app.backends()
    return results


# ---- the /v1 path vs the in-process call -----------------------------------------------------------------
def overhead(url: str, env: dict[str, str], texts: list[str], plan: Plan) -> dict[str, dict[str, float]]:
    """Median time of one 128-token request over ``/v1`` (one client, idle server) against the same
    work called in this process on a service over the same checkpoints: ``embed.run`` (the task the
    route calls) and ``service.classify``. Rounds of 5 HTTP then 5 in-process calls alternate, so
    drifting load on the shared machine falls on both."""
    from electra_demo.service import ModelService
    from electra_demo.tasks import embed

    service = ModelService(environ=env)
    auth = {"Authorization": f"Bearer {API_KEY}"}
    cases = {
        "/v1/embeddings": (
            JsonRoute(url, "/v1/embeddings", auth),
            bodies(lambda t: {"model": "discriminator", "input": t, "encoding_format": "float"}, texts),
            lambda t: embed.run(service, "discriminator", t),
        ),
        "/v1/classify": (
            JsonRoute(url, "/v1/classify", auth),
            bodies(lambda t: {"model": "sentiment", "input": t}, texts),
            lambda t: service.classify("sentiment", t),
        ),
    }
    out = {}
    for name, (route, payloads, local) in cases.items():
        for i in range(3):  # warm-up: loads the in-process model, first shapes on both sides
            route.timed(payloads[i % len(payloads)])
            local(texts[i % len(texts)])
        http_s: list[float] = []
        local_s: list[float] = []
        for _ in range(plan.overhead_rounds):
            for i in range(5):
                http_s.append(route.timed(payloads[i % len(payloads)]))
            for i in range(5):
                start = time.perf_counter()
                local(texts[i % len(texts)])
                local_s.append(time.perf_counter() - start)
        route.close()
        h, c = statistics.median(http_s), statistics.median(local_s)
        cost = (h - c) / c
        out[name] = {"http_ms": 1000 * h, "inproc_ms": 1000 * c, "overhead": cost, "n": len(http_s)}
        log(f"  {name} at 128 tokens: HTTP {1000 * h:.1f} ms, in-process {1000 * c:.1f} ms, {cost:+.1%}")
    return out


# ---- report ----------------------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], capture_output=True, text=True, cwd=ROOT).stdout.strip()

    return {
        "cpu": cpu_info(),
        "cpu_line": cpu_line(),
        "python": platform.python_version(),
        "versions": {
            p: metadata.version(p) for p in ("torch", "transformers", "onnxruntime", "fastapi", "httpx")
        },
        "commit": git("rev-parse", "--short", "HEAD"),
        "dirty": git("status", "--porcelain", "--untracked-files=no", "--", "app.py", "electra_demo"),
    }


def verdict(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def rps16(suite: dict | None) -> float:
    return suite["16"]["rps"] if suite else float("nan")


def target_rows(r: dict) -> list[str]:
    ours, int8, base, inf = r["ours"], r.get("ours_int8"), r["baseline"], r.get("infinity")
    rows = ["| target | measured | verdict |", "|---|---|---|"]
    x = rps16(ours["classify"]) / rps16(base["classify"])
    rows.append(
        f"| `/v1/classify`, 16 clients, >= {TARGET_CLASSIFY:.0f}x the naive app's `/classify` req/s "
        f"| {x:.2f}x ({rps16(ours['classify']):.1f} vs {rps16(base['classify']):.1f}) "
        f"| {verdict(x >= TARGET_CLASSIFY)} |"
    )
    if inf:
        x = rps16(ours["embeddings"]) / rps16(inf["embeddings"])
        rows.append(
            f"| `/v1/embeddings` fp32, 16 clients, >= {TARGET_EMBED:.0f}x Infinity's req/s "
            f"| {x:.2f}x ({rps16(ours['embeddings']):.1f} vs {rps16(inf['embeddings']):.1f}) "
            f"| {verdict(x >= TARGET_EMBED)} |"
        )
        if int8:
            x = rps16(int8["embeddings"]) / rps16(inf["embeddings"])
            rows.append(
                f"| `/v1/embeddings` int8 (reported), 16 clients, vs Infinity's fp32 req/s "
                f"| {x:.2f}x ({rps16(int8['embeddings']):.1f} vs {rps16(inf['embeddings']):.1f}) | - |"
            )
    for route, o in ours.get("overhead", {}).items():
        rows.append(
            f"| `{route}` path over the in-process call, 128 tokens, <= {TARGET_OVERHEAD:.0%} "
            f"| {o['overhead']:+.1%} ({o['http_ms']:.1f} vs {o['inproc_ms']:.1f} ms) "
            f"| {verdict(o['overhead'] <= TARGET_OVERHEAD)} |"
        )
    return rows


def load_rows(r: dict) -> list[str]:
    rows = [
        "| server | route | clients | req/s | p50 ms | p99 ms | completed | refused | errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    suites = [
        ("ours fp32", "/v1/embeddings", r["ours"]["embeddings"]),
        ("ours int8", "/v1/embeddings", (r.get("ours_int8") or {}).get("embeddings")),
        ("Infinity fp32", "/embeddings", (r.get("infinity") or {}).get("embeddings")),
        ("ours fp32", "/v1/classify", r["ours"]["classify"]),
        ("ours int8", "/v1/classify", (r.get("ours_int8") or {}).get("classify")),
        ("Infinity fp32", "/classify", (r.get("infinity") or {}).get("classify")),
        ("naive app", "/classify (Gradio, plain HTTP)", r["baseline"]["classify"]),
    ]
    for server, route, suite in suites:
        for c in CLIENTS if suite else ():
            x = suite[str(c)]
            rows.append(
                f"| {server} | {route} | {c} | {x['rps']:.2f} | {x['p50_ms']:.0f} | {x['p99_ms']:.0f} "
                f"| {x['completed']} | {x['refused']} | {x['errors']} |"
            )
    return rows


def render(r: dict, wall_s: float) -> str:
    m, v = r["machine"], r["machine"]["versions"]
    inf = r.get("infinity")
    lines = [
        f"Date: {r['run']['date']}  ",
        f"Command: `{r['run']['command']}`  ",
        f"Wall time: {wall_s / 60:.1f} min" + (" (quick smoke run: short windows)" if r["quick"] else ""),
        "",
        f"{m['cpu_line']}. Python {m['python']}, torch {v['torch']}, transformers {v['transformers']}, "
        f"onnxruntime {v['onnxruntime']}, fastapi {v['fastapi']}, httpx {v['httpx']} (client). Code: "
        f"{m['commit']}{' + uncommitted changes in app.py/electra_demo' if m['dirty'] else ''}.",
        "",
        (
            "Infinity: "
            + ", ".join(f"{k} {x}" for k, x in inf["versions"].items())
            + " (`infinity_emb v2 --engine torch --device cpu --dtype float32 --pooling-method mean "
            "--no-model-warmup`, its own venv)."
            if inf
            else "Infinity: not run (" + r.get("infinity_skipped", "no venv") + ")."
        ),
        "",
        f"Our backends: {'; '.join(r['ours'].get('backends', [])) or 'not logged (app given by URL)'}.",
        f"int8: {'; '.join((r.get('ours_int8') or {}).get('backends', [])) or 'not run or not logged'}.",
        "",
        f"Note: {SHARED_NOTE}; the noise table says how busy.",
        "",
        "### Targets",
        "",
        *target_rows(r),
        "",
        "### Requests/s and latency, one 8-32-token text a request",
        "",
        f"Each client is a thread with its own kept-alive httpx connection, back to back for "
        f"~{r['ours']['classify']['1']['elapsed_s']:.0f} s after an untimed warm-up at the same count. "
        "'refused' = HTTP 429/503.",
        "",
        *load_rows(r),
        "",
        "### Noise: CPU kept busy by other processes while each server was measured",
        "",
        "| phase | other processes (cores) | steal (cores) | load average 1 min |",
        "|---|---:|---:|---:|",
        *(
            f"| {phase} | {x['other_cores']:.2f} | {x['steal_cores']:.2f} | {x['loadavg_1m']:.2f} |"
            for phase, x in r["noise"].items()
        ),
    ]
    return "\n".join(lines) + "\n"


# ---- main ----------------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short windows: a smoke run")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=Path.home() / ".cache" / "electra-demo" / "bench",
        help="checkpoints, texts, export caches, logs, v1-results.json (default: %(default)s)",
    )
    parser.add_argument(
        "--infinity-venv",
        type=Path,
        default=INFINITY_VENV,
        help="the virtual environment with infinity-emb 0.0.78 (default: %(default)s); "
        "where it is missing, Infinity is skipped and the install commands are printed",
    )
    parser.add_argument("--ours-url", help="time our app already running here instead of launching it")
    parser.add_argument("--ours-int8-url", help="likewise for the int8 run (launched when not given)")
    parser.add_argument("--skip-int8", action="store_true", help="no int8 run")
    parser.add_argument("--out", type=Path, help="also write the markdown section to this file")
    return parser.parse_args(argv)


def build(work: Path) -> tuple[dict, dict]:
    done = subprocess.run(
        [PYTHON, str(BENCH / "checkpoints.py"), str(work)], capture_output=True, text=True, cwd=ROOT
    )
    if done.returncode != 0:
        raise SystemExit(f"building checkpoints failed:\n{done.stderr[-3000:]}")
    paths = json.loads(done.stdout.strip().splitlines()[-1])
    return paths, json.loads(Path(paths["texts"]).read_text())


INSTALL = """\
Infinity is not installed at {venv}; to compare with it:
    python3.11 -m venv {venv}
    {venv}/bin/pip install -r benchmarks/infinity-requirements.txt"""


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    raw = argv if argv is not None else sys.argv[1:]
    command = " ".join([".venv/bin/python", "benchmarks/bench_v1.py", *map(shlex.quote, raw)])
    t_start = time.perf_counter()
    plan = Plan(args.quick)
    work = args.workdir.resolve()
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log(cpu_line())
    paths, texts = build(work)
    date = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    r: dict[str, Any] = {"quick": plan.quick, "machine": machine(), "run": {"command": command, "date": date}}
    noise: dict = {}
    venv = args.infinity_venv.expanduser()
    if (venv / "bin" / "infinity_emb").is_file():
        r["infinity"] = run_infinity(venv, paths, texts["short"], logs, plan, noise)
    else:
        print(INSTALL.format(venv=venv), file=sys.stderr)
        r["infinity_skipped"] = f"no {venv / 'bin' / 'infinity_emb'}"
    r["baseline"] = run_baseline(paths, texts["short"], logs, plan, noise)
    r["ours"] = run_ours(paths, texts, logs, plan, noise, int8=False, url=args.ours_url, work=work)
    if not args.skip_int8:
        r["ours_int8"] = run_ours(
            paths, texts, logs, plan, noise, int8=True, url=args.ours_int8_url, work=work
        )
    r["noise"] = noise
    wall = time.perf_counter() - t_start
    (work / "v1-results.json").write_text(json.dumps(r, indent=1))
    table = render(r, wall)
    print(table)
    if args.out:
        args.out.write_text(table)
    log(f"done in {wall / 60:.1f} min; raw numbers in {work / 'v1-results.json'}")


if __name__ == "__main__":
    main()
