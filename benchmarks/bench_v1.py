"""The /v1 API's speed: /v1/embeddings and /v1/classify against the naive app and Infinity, one run.

    .venv/bin/python benchmarks/bench_v1.py                 # full run, ~10 minutes on 2 cores
    .venv/bin/python benchmarks/bench_v1.py --quick         # smoke run, ~5 minutes
    .venv/bin/python benchmarks/bench_v1.py --ours-url http://127.0.0.1:7860/   # an app already up

Four servers on the same electra-base-shaped random checkpoints (``checkpoints.py``) are started
and stay up, but only the one being timed runs: the others are SIGSTOPped (an idle Gradio app
wakes ~0.075 core, and on 2 cores that stalls another server's 2-thread forward). Infinity
(``infinity_emb v2 --engine torch``, its own virtual environment, see
``infinity-requirements.txt``) serves the discriminator for ``/embeddings`` and the sentiment head
for ``/classify``; the naive app (``baseline_app.py``) ``/classify`` over Gradio's plain-HTTP
routes; our app (``app.py``) in fp32 and again with ``ELECTRA_DEMO_INT8=1`` ``/v1/embeddings`` and
``/v1/classify``.

The servers of one comparison are timed one at a time, in windows ordered A B C ... C B A at each
client count (1, then 16), so background load that drifts during the run falls on all of them
alike (the machine is shared). Then, on our fp32 app alone, the per-request cost of the ``/v1``
path over the in-process service call at 128 tokens.

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
import signal
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
    App,
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
    pid: int | None = None  # the server's process, resumed for this target's windows


# ---- load ----------------------------------------------------------------------------------------------
@dataclass
class Window:
    latencies: list[float]
    refused: int
    failures: list[str]
    elapsed: float


def window(target: Target, n_clients: int, duration: float) -> Window:
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
    return Window(
        [x for per in latencies for x in per], sum(refused), [x for per in failures for x in per], elapsed
    )


def summarize(windows: Sequence[Window]) -> dict[str, Any]:
    done = [x for w in windows for x in w.latencies]
    failed = [x for w in windows for x in w.failures]
    elapsed = sum(w.elapsed for w in windows)
    return {
        "rps": len(done) / elapsed,
        "p50_ms": 1000 * percentile(done, 50),
        "p99_ms": 1000 * percentile(done, 99),
        "completed": len(done),
        "refused": sum(w.refused for w in windows),
        "errors": len(failed),
        "first_error": failed[0] if failed else "",
        "elapsed_s": elapsed,
        "windows_rps": [len(w.latencies) / w.elapsed for w in windows],
    }


def sequential(target: Target, payloads: Sequence[bytes]) -> None:
    caller = target.connect()
    for payload in payloads:
        caller.timed(payload)
    caller.close()


def rotation(targets: Sequence[Target], plan: Plan, servers: Servers) -> dict[str, dict[str, dict[str, Any]]]:
    """Every target at each client count, in windows ordered A B C ... C B A, each with only its
    own server running (the others SIGSTOPped).

    Untimed warm-up first: every body once per target (so every text length has been seen:
    PyTorch's first forward at a new shape is slow), then, at each client count, a short window
    per target at that count; and 3 requests before each timed window, after its server resumes.
    """
    for target in targets:
        servers.only(target.pid)
        sequential(target, target.payloads)
    out: dict[str, dict[str, dict[str, Any]]] = {t.label: {} for t in targets}
    for n_clients in CLIENTS:
        for target in targets:
            servers.only(target.pid)
            window(target, n_clients, plan.warmup_s)
        got: dict[str, list[Window]] = {t.label: [] for t in targets}
        for target in [*targets, *reversed(targets)]:
            servers.only(target.pid)
            sequential(target, target.payloads[:3])
            got[target.label].append(window(target, n_clients, plan.duration / 2))
        for target in targets:
            out[target.label][str(n_clients)] = x = summarize(got[target.label])
            log(
                f"  {target.label}, {n_clients} clients: {x['rps']:.2f} req/s "
                f"(windows {', '.join(f'{w:.1f}' for w in x['windows_rps'])}), p50 {x['p50_ms']:.0f} ms, "
                f"{x['refused']} refused, {x['errors']} errors"
            )
            if x["first_error"]:
                log(f"    first error: {x['first_error']}")
    return out


@dataclass
class Plan:
    quick: bool
    duration: float = field(init=False)  # per server and client count, in two windows
    warmup_s: float = field(init=False)
    overhead_requests: int = field(init=False)  # of each kind, alternating

    def __post_init__(self) -> None:
        self.duration, self.warmup_s, self.overhead_requests = (
            (6.0, 2.0, 20) if self.quick else (16.0, 4.0, 60)
        )


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
    start-up warm-up (batches of 32 x 512 tokens, minutes on 2 cores) is off: it is warmed up with
    real requests instead, as every server here.
    """
    models = ["--pooling-method", "mean"]
    for slot, name in (("discriminator", INFINITY_NAMES["embed"]), ("sentiment", INFINITY_NAMES["classify"])):
        models += ["--model-id", paths["base"][slot], "--served-model-name", name]
    with infinity_server(venv, models, logs / "infinity.log") as up:
        yield up


@contextlib.contextmanager
def infinity_server(venv: Path, models: list[str], log_path: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    """``infinity_emb v2 --engine torch`` on a free port of 127.0.0.1 with ``models`` (its
    ``--model-id`` arguments and theirs), fp32 on the CPU, no remote code, no telemetry, no
    start-up warm-up; stopped at the end."""
    port = free_port()
    argv = [str(venv / "bin" / "infinity_emb"), "v2", "--engine", "torch", "--device", "cpu"]
    argv += ["--dtype", "float32", "--no-trust-remote-code", *models]
    argv += ["--no-model-warmup", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "DO_NOT_TRACK": "1", "INFINITY_ANONYMOUS_USAGE_STATS": "0"}
    with log_path.open("w") as handle:
        proc = subprocess.Popen(argv, env=env, stdout=handle, stderr=subprocess.STDOUT, cwd="/tmp")
        url = f"http://127.0.0.1:{port}"
        try:
            wait_for(url + "/health", proc, log_path)
            log(f"Infinity: up at {url}")
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


def naive_env(paths: dict) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELECTRA_DEMO_")}
    env.update({f"ELECTRA_DEMO_{slot.upper()}": path for slot, path in paths["base"].items()})
    return env


@dataclass
class Servers:
    """What is up: base URLs (None: not run), the launched processes, our apps' backend lines."""

    ours: str
    ours_int8: str | None = None
    naive: str = ""
    infinity: str | None = None
    pid_of: dict[str, int] = field(default_factory=dict)  # launched ones: ours, ours_int8, naive, infinity
    apps: dict[str, App] = field(default_factory=dict)

    @property
    def pids(self) -> list[int]:
        return list(self.pid_of.values())

    def only(self, pid: int | None) -> None:
        """Resume ``pid`` (and its children) and SIGSTOP every other launched server, so that only
        the server being timed uses the CPU. Idle Gradio apps wake ~0.075 core each, and on 2 cores
        any woken thread stalls a 2-thread forward (Infinity's 16-client rate fell from ~16 to ~6
        req/s with three idle Gradio apps beside it)."""
        for other in self.pids:
            for process in [other, *descendants(other)]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process, signal.SIGCONT if other == pid else signal.SIGSTOP)

    def resume_all(self) -> None:
        for pid in self.pids:
            for process in [pid, *descendants(pid)]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process, signal.SIGCONT)


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(parent, []).append(int(entry.name))
    out, todo = [], list(children.get(pid, []))
    while todo:
        child = todo.pop()
        out.append(child)
        todo.extend(children.get(child, []))
    return out


def start_servers(stack: contextlib.ExitStack, args: argparse.Namespace, paths: dict, logs: Path) -> Servers:
    """Launch (one after the other) every server the run needs; each stays up until the stack closes."""
    work = args.workdir.resolve()

    def ours(name: str, url: str | None, int8: bool) -> str:
        if url:
            return url
        env = our_env(paths, work / ("onnx-cache-int8" if int8 else "onnx-cache"), int8)
        app = stack.enter_context(launched(name, ["app.py"], env, logs))
        servers.apps[name] = app
        servers.pid_of["ours_int8" if int8 else "ours"] = app.proc.pid
        return app.url

    servers = Servers(ours="")
    servers.ours = ours("ours-v1", args.ours_url, False)
    if not args.skip_int8:
        servers.ours_int8 = ours("ours-v1-int8", args.ours_int8_url, True)
    naive = stack.enter_context(
        launched("baseline-v1", ["benchmarks/baseline_app.py"], naive_env(paths), logs)
    )
    servers.naive, servers.pid_of["naive"] = naive.url, naive.proc.pid
    venv = args.infinity_venv.expanduser()
    if (venv / "bin" / "infinity_emb").is_file():
        servers.infinity, proc = stack.enter_context(infinity_launched(venv, paths, logs))
        servers.pid_of["infinity"] = proc.pid
    else:
        print(INSTALL.format(venv=venv), file=sys.stderr)
    return servers


# ---- checks and targets ----------------------------------------------------------------------------------
AUTH = {"Authorization": f"Bearer {API_KEY}"}
OURS_EMBED, OURS_CLASSIFY = "ours fp32 /v1/embeddings", "ours fp32 /v1/classify"
INT8_EMBED, INT8_CLASSIFY = "ours int8 /v1/embeddings", "ours int8 /v1/classify"
INF_EMBED, INF_CLASSIFY = "Infinity fp32 /embeddings", "Infinity fp32 /classify"
NAIVE_CLASSIFY = "naive app /classify (Gradio, plain HTTP)"


def ours_embed(text: str) -> dict[str, Any]:
    return {"model": "discriminator", "input": text, "encoding_format": "float"}


def ours_classify(text: str) -> dict[str, Any]:
    return {"model": "sentiment", "input": text}


def infinity_embed(text: str) -> dict[str, Any]:
    return {"model": INFINITY_NAMES["embed"], "input": [text]}


def infinity_classify(text: str) -> dict[str, Any]:
    return {"model": INFINITY_NAMES["classify"], "input": [text]}


def embedding_ok(answer: Any) -> bool:
    return len(answer["data"][0]["embedding"]) == 768


def check_all(servers: Servers, text: str) -> None:
    """One untimed request per route (which also loads, and if need be exports, every model): the
    answers have the documented shape."""
    checks = [
        (servers.ours, "/v1/embeddings", ours_embed, AUTH, embedding_ok),
        (servers.ours, "/v1/classify", ours_classify, AUTH, lambda a: len(a["data"][0]["labels"]) == 2),
        (servers.ours_int8, "/v1/embeddings", ours_embed, AUTH, embedding_ok),
        (servers.ours_int8, "/v1/classify", ours_classify, AUTH, lambda a: len(a["data"][0]["labels"]) == 2),
        (servers.infinity, "/embeddings", infinity_embed, {}, embedding_ok),
        (servers.infinity, "/classify", infinity_classify, {}, lambda a: len(a["data"][0]) == 2),
    ]
    for url, path, make, headers, ok in checks:
        if url:
            route = JsonRoute(url, path, headers)
            answer = route.call(make(text))
            route.close()
            if not ok(answer):
                raise RuntimeError(f"{url}{path} answered {str(answer)[:300]}; not the expected shape")
    with GradioHttp(servers.naive) as http:
        answer = http.call("/classify", ["sentiment", text, ""])[0]
    if "labels" not in answer:
        raise RuntimeError(f"the naive app's /classify gave {answer!r}; expected its labels")


def json_target(
    label: str, url: str, path: str, make: Callable[[str], Any], texts: list[str], headers: dict[str, str]
) -> Target:
    return Target(label, lambda: JsonRoute(url, path, headers), bodies(make, texts))


def groups(servers: Servers, short: list[str]) -> dict[str, list[Target]]:
    """The targets of each comparison, in the order they take turns: embeddings (ours fp32, ours
    int8, Infinity) and classify (ours fp32, the naive app, ours int8, Infinity)."""
    embed: list[Target] = []
    classify: list[Target] = []
    for url, role, label_e, label_c in (
        (servers.ours, "ours", OURS_EMBED, OURS_CLASSIFY),
        (servers.ours_int8, "ours_int8", INT8_EMBED, INT8_CLASSIFY),
    ):
        if url:
            embed.append(json_target(label_e, url, "/v1/embeddings", ours_embed, short, AUTH))
            classify.append(json_target(label_c, url, "/v1/classify", ours_classify, short, AUTH))
            embed[-1].pid = classify[-1].pid = servers.pid_of.get(role)
    naive = [body(["sentiment", text, ""]) for text in short]
    pid = servers.pid_of.get("naive")
    classify.insert(1, Target(NAIVE_CLASSIFY, lambda: GradioRoute(servers.naive, "/classify"), naive, pid))
    if servers.infinity:
        embed.append(json_target(INF_EMBED, servers.infinity, "/embeddings", infinity_embed, short, {}))
        classify.append(
            json_target(INF_CLASSIFY, servers.infinity, "/classify", infinity_classify, short, {})
        )
        embed[-1].pid = classify[-1].pid = servers.pid_of.get("infinity")
    return {"embeddings": embed, "classify": classify}


# ---- the /v1 path vs the in-process call -----------------------------------------------------------------
def overhead(url: str, env: dict[str, str], texts: list[str], plan: Plan) -> tuple[dict[str, dict], Any]:
    """Median time of one 128-token request over ``/v1`` (one client, idle server) against the same
    work called in this process on a service over the same checkpoints: ``embed.run`` (the task the
    route calls) and ``service.classify``. HTTP requests and in-process calls alternate one by one,
    so drifting load on the shared machine falls on both."""
    from electra_demo.service import ModelService
    from electra_demo.tasks import embed

    service = ModelService(environ=env)
    cases = {
        "/v1/embeddings": (
            JsonRoute(url, "/v1/embeddings", AUTH),
            bodies(ours_embed, texts),
            lambda t: embed.run(service, "discriminator", t),
        ),
        "/v1/classify": (
            JsonRoute(url, "/v1/classify", AUTH),
            bodies(ours_classify, texts),
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
        for i in range(plan.overhead_requests):
            http_s.append(route.timed(payloads[i % len(payloads)]))
            start = time.perf_counter()
            local(texts[i % len(texts)])
            local_s.append(time.perf_counter() - start)
        route.close()
        h, c = statistics.median(http_s), statistics.median(local_s)
        cost = (h - c) / c
        out[name] = {"http_ms": 1000 * h, "inproc_ms": 1000 * c, "overhead": cost, "n": len(http_s)}
        log(f"  {name} at 128 tokens: HTTP {1000 * h:.1f} ms, in-process {1000 * c:.1f} ms, {cost:+.1%}")
    return out, service


def forward_ceiling(service: Any, texts: list[str], repeats: int = 2) -> dict[str, float]:
    """In-process rows/s of the sentiment model's runner alone (no HTTP, no batcher thread) on the
    short texts: one at a time, and in length-sorted padded batches of 8 (the micro-batcher's
    ``max_rows``) and of 16. The most any server can reach on this CPU with that forward."""
    from electra_demo.runtime.batching import pad_rows, run_rows

    loaded = service.load("sentiment")
    run, pad_id = loaded.batcher._run, loaded.batcher.pad_id
    encoded = [loaded.tokenizer(text) for text in texts]
    rows = [(e["input_ids"], e["token_type_ids"]) for e in encoded]
    passes: dict[str, Callable[[], Any]] = {
        "1": lambda: [run(pad_rows([row], pad_id)) for row in rows],
        "8": lambda: run_rows(run, rows, False, pad_id, 8, 8 * 512),
        "16": lambda: run_rows(run, rows, False, pad_id, 16, 16 * 512),
    }
    out = {}
    for batch in ("1", "8", "16", "1", "8", "16")[: 3 * repeats]:
        start = time.perf_counter()
        passes[batch]()
        out[batch] = max(out.get(batch, 0.0), len(rows) / (time.perf_counter() - start))
    log("  forward alone, rows/s: " + ", ".join(f"batch {b}: {x:.1f}" for b, x in out.items()))
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


def rps16(r: dict, label: str) -> float:
    level = r["load"].get(label, {}).get("16")
    return level["rps"] if level else float("nan")


def target_rows(r: dict) -> list[str]:
    rows = ["| target | measured | verdict |", "|---|---|---|"]

    def ratio(ours: str, other: str) -> tuple[float, str]:
        a, b = rps16(r, ours), rps16(r, other)
        return a / b, f"{a / b:.2f}x ({a:.1f} vs {b:.1f} req/s)"

    x, shown = ratio(OURS_CLASSIFY, NAIVE_CLASSIFY)
    rows.append(
        f"| `/v1/classify`, 16 clients, >= {TARGET_CLASSIFY:.0f}x the naive app's `/classify` req/s "
        f"| {shown} | {verdict(x >= TARGET_CLASSIFY)} |"
    )
    if INF_EMBED in r["load"]:
        x, shown = ratio(OURS_EMBED, INF_EMBED)
        rows.append(
            f"| `/v1/embeddings` fp32, 16 clients, >= {TARGET_EMBED:.0f}x Infinity's req/s "
            f"| {shown} | {verdict(x >= TARGET_EMBED)} |"
        )
        if INT8_EMBED in r["load"]:
            rows.append(
                "| `/v1/embeddings` int8 (reported), 16 clients, vs Infinity's fp32 req/s "
                f"| {ratio(INT8_EMBED, INF_EMBED)[1]} | - |"
            )
    if INT8_CLASSIFY in r["load"]:
        rows.append(
            "| `/v1/classify` int8 (reported), 16 clients, vs the naive app's req/s "
            f"| {ratio(INT8_CLASSIFY, NAIVE_CLASSIFY)[1]} | - |"
        )
    for route, o in r.get("overhead", {}).items():
        rows.append(
            f"| `{route}` path over the in-process call, 128 tokens, <= {TARGET_OVERHEAD:.0%} "
            f"| {o['overhead']:+.1%} ({o['http_ms']:.1f} vs {o['inproc_ms']:.1f} ms) "
            f"| {verdict(o['overhead'] <= TARGET_OVERHEAD)} |"
        )
    return rows


def load_rows(r: dict) -> list[str]:
    rows = [
        "| server and route | clients | req/s | per window | p50 ms | p99 ms | done | refused | errors |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for group in r["groups"].values():
        for label in group:
            for c, x in r["load"][label].items():
                windows = " / ".join(f"{w:.1f}" for w in x["windows_rps"])
                rows.append(
                    f"| {label} | {c} | {x['rps']:.2f} | {windows} | {x['p50_ms']:.0f} | {x['p99_ms']:.0f} "
                    f"| {x['completed']} | {x['refused']} | {x['errors']} |"
                )
    return rows


def overhead_rows(r: dict) -> list[str]:
    rows = [
        "| route | over HTTP, median ms | in-process, median ms | cost of the /v1 path | requests each |",
        "|---|---:|---:|---:|---:|",
    ]
    for route, o in r.get("overhead", {}).items():
        rows.append(
            f"| `{route}` | {o['http_ms']:.1f} | {o['inproc_ms']:.1f} | {o['overhead']:+.1%} | {o['n']} |"
        )
    return rows


def header(r: dict, wall_s: float) -> list[str]:
    """A run's first lines: when, the command, how long, the machine and versions, Infinity's."""
    m, v = r["machine"], r["machine"]["versions"]
    return [
        f"Date: {r['run']['date']}  ",
        f"Command: `{r['run']['command']}`  ",
        f"Wall time: {wall_s / 60:.1f} min" + (" (quick smoke run: short windows)" if r["quick"] else ""),
        "",
        f"{m['cpu_line']}. Python {m['python']}, torch {v['torch']}, transformers {v['transformers']}, "
        f"onnxruntime {v['onnxruntime']}, fastapi {v['fastapi']}, httpx {v['httpx']} (client). Code: "
        f"{m['commit']}{' + uncommitted changes in app.py/electra_demo' if m['dirty'] else ''}.",
        "",
        r["infinity_line"],
        "",
    ]


def render(r: dict, wall_s: float) -> str:
    lines = [
        *header(r, wall_s),
        f"Our backends: {'; '.join(r['backends'].get('ours-v1', [])) or 'not logged (app given by URL)'}.  ",
        f"int8: {'; '.join(r['backends'].get('ours-v1-int8', [])) or 'not run or not logged'}.",
        "",
        f"Note: {SHARED_NOTE}; the noise table says how busy.",
        "",
        "### Targets",
        "",
        *target_rows(r),
        "",
        "### Requests/s and latency, one 8-32-token text a request",
        "",
        "Each client is a thread with its own kept-alive httpx connection, sending back to back. Per "
        f"comparison and client count the servers took turns in windows of {r['window_s']:.0f} s, ordered "
        "A B C ... C B A (one figure per window in the table), after an untimed warm-up. "
        "'refused' = HTTP 429/503.",
        "",
        *load_rows(r),
        "",
        "### The /v1 path vs the in-process call, 128 tokens, one client, idle server",
        "",
        *overhead_rows(r),
        "",
        "### The forward alone, in process: the ceiling for any server on this CPU",
        "",
        "Rows/s of the sentiment model's runner (ONNX Runtime fp32, as our app; no HTTP, no batcher "
        "thread) over the same 64 texts of 8-32 tokens, best of 2 passes:",
        "",
        "| one at a time | length-sorted batches of 8 (the micro-batcher's max_rows) | batches of 16 |",
        "|---:|---:|---:|",
        "| " + " | ".join(f"{r['forward'][b]:.1f}" for b in ("1", "8", "16")) + " |",
        "",
        "### Noise: CPU kept busy by other processes while each comparison ran",
        "",
        "| phase | other processes (cores) | steal (cores) | load average 1 min |",
        "|---|---:|---:|---:|",
        *(
            f"| {phase} | {x['other_cores']:.2f} | {x['steal_cores']:.2f} | {x['loadavg_1m']:.2f} |"
            for phase, x in r["noise"].items()
        ),
    ]
    return "\n".join(lines) + "\n"


def infinity_line(
    servers: Servers, venv: Path, flags: str = "--pooling-method mean ", instead: str = ""
) -> str:
    if not servers.infinity:
        return f"Infinity: not run (no {venv / 'bin' / 'infinity_emb'}){instead}."
    versions = ", ".join(f"{k} {x}" for k, x in infinity_versions(venv).items())
    return (
        f"Infinity: {versions} (`infinity_emb v2 --engine torch --device cpu --dtype float32 "
        f"{flags}--no-model-warmup`, its own venv, default batch size 32)."
    )


# ---- main ----------------------------------------------------------------------------------------------
def common_parser(description: str, results: str) -> argparse.ArgumentParser:
    """The options every /v1 benchmark takes: --quick, --workdir, --infinity-venv (and --out, last)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="short windows: a smoke run")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=Path.home() / ".cache" / "electra-demo" / "bench",
        help=f"checkpoints, texts, export caches, logs, {results} (default: %(default)s)",
    )
    parser.add_argument(
        "--infinity-venv",
        type=Path,
        default=INFINITY_VENV,
        help="the virtual environment with infinity-emb 0.0.78 (default: %(default)s); "
        "where it is missing, Infinity is skipped and the install commands are printed",
    )
    return parser


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = common_parser(__doc__.splitlines()[0], "v1-results.json")
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


def measure(servers: Servers, texts: dict, plan: Plan, args: argparse.Namespace, paths: dict) -> dict:
    r: dict[str, Any] = {"load": {}, "groups": {}, "noise": {}, "window_s": plan.duration / 2}
    check_all(servers, texts["short"][0])
    for name, targets in groups(servers, texts["short"]).items():
        log(f"{name}: {', '.join(t.label for t in targets)}")
        r["groups"][name] = [t.label for t in targets]
        with other_load(r["noise"], name, servers.pids):
            r["load"].update(rotation(targets, plan, servers))
    work = args.workdir.resolve()
    log("our fp32 app alone: the /v1 path vs the in-process call at 128 tokens; then the forward alone")
    servers.only(servers.pid_of.get("ours"))
    with other_load(r["noise"], "/v1 path vs in-process", servers.pids):
        env = our_env(paths, work / "onnx-cache", int8=False)
        r["overhead"], service = overhead(servers.ours, env, texts["single"]["128"], plan)
    servers.only(None)  # every server stopped
    with other_load(r["noise"], "forward alone (in-process)", servers.pids):
        r["forward"] = forward_ceiling(service, texts["short"])
    r["backends"] = {name: app.backends() for name, app in servers.apps.items()}
    r["infinity_line"] = infinity_line(servers, args.infinity_venv.expanduser())
    return r


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
    with contextlib.ExitStack() as stack:
        servers = start_servers(stack, args, paths, logs)
        stack.callback(servers.resume_all)  # before any is stopped: a stopped process ignores SIGTERM
        r = measure(servers, texts, plan, args, paths)
    r.update(quick=plan.quick, machine=machine(), run={"command": command, "date": date})
    wall = time.perf_counter() - t_start
    (work / "v1-results.json").write_text(json.dumps(r, indent=1))
    table = render(r, wall)
    print(table)
    if args.out:
        args.out.write_text(table)
    log(f"done in {wall / 60:.1f} min; raw numbers in {work / 'v1-results.json'}")


if __name__ == "__main__":
    main()
