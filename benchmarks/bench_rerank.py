"""/v1/rerank's speed against Infinity's /rerank (and the naive server), one run.

    .venv/bin/python benchmarks/bench_rerank.py             # full run, ~15 minutes on 2 cores
    .venv/bin/python benchmarks/bench_rerank.py --quick     # smoke run: short windows

Every request is one query (8-12 tokens) and 20 passages of 32-64 tokens each (counts checked with
the tokenizer), 8 such requests cycled; bodies are encoded before the clock starts. The servers
run the same electra-base-shaped cross-encoder with random weights (one label, written here into
the work dir beside ``checkpoints.py``'s models): our app (``app.py``, its default backend, its
micro-batcher) on ``/v1/rerank``; Infinity (``infinity_emb v2 --engine torch``, fp32, its own
virtual environment from ``infinity-requirements.txt``) on ``/rerank``, when installed; and, with
``--naive``, ``baseline_rerank.py`` (one transformers forward per request, no batching across
requests) on ``/rerank``. Only the server being timed runs (the others are SIGSTOPped), in windows
ordered A B ... B A at 1 client, then at 16, after an untimed warm-up (``bench_v1.rotation``).
Before timing, every server's scores for one request are checked against ours.

Prints the CPU line and the tables, and writes ``rerank-results.json`` (and, with ``--out``, the
markdown) in the work dir.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import random
import re
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

import bench_v1  # noqa: E402 - after the path set-up, as a script (it sets HF_HUB_OFFLINE)
import checkpoints  # noqa: E402
from bench_v1 import JsonRoute, Servers, Target, bodies, rotation  # noqa: E402
from common import SHARED_NOTE, cpu_line, launched, log, other_load  # noqa: E402

PASSAGES = 20
PASSAGE_TOKENS = (32, 64)
QUERY_TOKENS = (8, 12)
REQUESTS = 8
TARGET = 1.5  # /v1/rerank req/s over Infinity's /rerank, 16 clients
API_KEY = bench_v1.API_KEY
AUTH = {"Authorization": f"Bearer {API_KEY}"}
INFINITY_NAME = "electra-base-rerank"
OURS, INFINITY, NAIVE = "ours fp32 /v1/rerank", "Infinity fp32 /rerank", "naive server /rerank"
DEFAULT = "ours {precision} (the CPU's default) /v1/rerank"


@dataclass
class Plan:
    """Window lengths: a request reads 20 pairs (~1,000 tokens), so windows are long."""

    quick: bool

    @property
    def duration(self) -> float:  # per server and client count, in two windows
        return 24.0 if self.quick else 80.0

    @property
    def warmup_s(self) -> float:
        return 4.0 if self.quick else 10.0


# ---- the model and the requests --------------------------------------------------------------------
def build_reranker(work: Path) -> str:
    """An electra-base-shaped cross-encoder (one label) with random weights, once."""
    path = work / "base" / "rerank"
    if (path / "model.safetensors").is_file() and (path / "tokenizer_config.json").is_file():
        return str(path)
    import torch
    from transformers import ElectraConfig, ElectraForSequenceClassification

    torch.manual_seed(7)
    cfg = ElectraConfig(**checkpoints.SHAPE, num_labels=1)
    cfg.electra_demo_random_weights = True  # the app says plainly: random weights
    ElectraForSequenceClassification(cfg).eval().save_pretrained(path, safe_serialization=True)
    checkpoints.make_tokenizer().save_pretrained(path)
    log(f"wrote {path}")
    return str(path)


def requests(seed: int = 0) -> list[dict[str, Any]]:
    """``REQUESTS`` queries, each with ``PASSAGES`` passages of 32-64 tokens (checked)."""
    tokenizer, rng, words = checkpoints.make_tokenizer(), random.Random(seed), checkpoints.english_words()

    def tokens(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    out = []
    for _ in range(REQUESTS):
        query = checkpoints.text_of(rng.randint(*QUERY_TOKENS), rng, words).rstrip(".") + "?"
        passages = [checkpoints.text_of(rng.randint(*PASSAGE_TOKENS), rng, words) for _ in range(PASSAGES)]
        assert all(PASSAGE_TOKENS[0] <= tokens(p) <= PASSAGE_TOKENS[1] for p in passages)
        out.append({"query": query, "documents": passages})
    return out


# ---- the servers -------------------------------------------------------------------------------------
def our_env(paths: dict, model: str, cache: Path, precision: str) -> dict[str, str]:
    env = bench_v1.our_env(paths, cache, int8=False)
    env["ELECTRA_DEMO_RERANK"] = model
    env["ELECTRA_DEMO_PRELOAD"] = "rerank"  # the warm-up loads (and exports) the timed slot only
    env["ELECTRA_DEMO_PRECISION"] = precision
    return env


def default_precision() -> str:
    """What our app serves in on this CPU when not told (``auto``): fp32, or bf16 where the CPU
    multiplies bf16 natively (an app without the setting: fp32)."""
    try:
        from electra_demo.runtime.precision import decide
    except ImportError:
        return "fp32"
    return decide("auto")


def start_servers(stack: contextlib.ExitStack, args: argparse.Namespace, paths: dict, model: str) -> Servers:
    work = args.workdir.resolve()
    logs = work / "logs"
    servers = Servers(ours="")
    for precision in dict.fromkeys(["fp32", default_precision()]):
        env = our_env(paths, model, work / "onnx-cache", precision)
        app = stack.enter_context(launched(f"ours-rerank-{precision}", ["app.py"], env, logs))
        servers.apps[precision] = app
        servers.pid_of[f"ours-{precision}"] = app.proc.pid
    servers.ours = servers.apps["fp32"].url
    venv = args.infinity_venv.expanduser()
    if (venv / "bin" / "infinity_emb").is_file():
        models = ["--model-id", model, "--served-model-name", INFINITY_NAME]
        up = bench_v1.infinity_server(venv, models, logs / "infinity-rerank.log")
        servers.infinity, proc = stack.enter_context(up)
        servers.pid_of["infinity"] = proc.pid
    else:
        print(bench_v1.INSTALL.format(venv=venv), file=sys.stderr)
    if args.naive or not servers.infinity:
        naive_env = {**bench_v1.naive_env(paths), "ELECTRA_DEMO_RERANK": model}
        naive = stack.enter_context(
            launched("naive-rerank", ["benchmarks/baseline_rerank.py"], naive_env, logs)
        )
        servers.naive, servers.pid_of["naive"] = naive.url, naive.proc.pid
    return servers


# ---- checks, targets, measurement -------------------------------------------------------------------
def ours_body(request: dict[str, Any]) -> dict[str, Any]:
    return {"model": "rerank", **request}


def infinity_body(request: dict[str, Any]) -> dict[str, Any]:
    return {"model": INFINITY_NAME, **request}


def ours_label(precision: str) -> str:
    return OURS if precision == "fp32" else DEFAULT.format(precision=precision)


def targets(servers: Servers, reqs: list[dict[str, Any]]) -> list[Target]:
    out = []
    for precision, app in servers.apps.items():
        connect = lambda url=app.url: JsonRoute(url, "/v1/rerank", AUTH)  # noqa: E731
        pid = servers.pid_of[f"ours-{precision}"]
        out.append(Target(ours_label(precision), connect, bodies(ours_body, reqs), pid))
    if servers.infinity:
        connect = lambda: JsonRoute(servers.infinity, "/rerank")  # noqa: E731
        out.append(Target(INFINITY, connect, bodies(infinity_body, reqs), servers.pid_of["infinity"]))
    if servers.naive:
        connect = lambda: JsonRoute(servers.naive, "/rerank")  # noqa: E731
        out.append(Target(NAIVE, connect, bodies(infinity_body, reqs), servers.pid_of["naive"]))
    return out


def scores(
    url: str, path: str, body: dict[str, Any], headers: dict[str, str] | None = None
) -> dict[int, float]:
    route = JsonRoute(url, path, headers)
    try:
        return {r["index"]: r["relevance_score"] for r in route.call(body)["results"]}
    finally:
        route.close()


def check_all(servers: Servers, request: dict[str, Any]) -> dict[str, float]:
    """One untimed request per server (which also loads the model, and starts our exports): the
    same relevance scores as ours in fp32, document by document (bf16 within 1e-2); the largest
    difference per server."""
    servers.resume_all()
    ours = scores(servers.ours, "/v1/rerank", ours_body(request), AUTH)
    assert len(ours) == PASSAGES, ours
    others = {ours_label(p): (app.url, "/v1/rerank", ours_body, AUTH) for p, app in servers.apps.items()}
    others |= {INFINITY: (servers.infinity, "/rerank", infinity_body, {})}
    others |= {NAIVE: (servers.naive, "/rerank", infinity_body, {})}
    differences = {}
    for label, (url, path, make, headers) in others.items():
        if url:
            theirs = scores(url, path, make(request), headers)
            differences[label] = max(abs(ours[i] - theirs[i]) for i in ours)
            if differences[label] > (1e-3 if "fp32" in label else 1e-2):
                raise RuntimeError(f"{label}: scores differ from ours by {differences[label]:.2g}")
    log(f"scores checked against ours in fp32: largest differences {differences}")
    return differences


EXPORTED = re.compile(r"rerank \(sequence-classification\) (?:runs on|switched to) (?!PyTorch)[^\n]*")


def wait_exported(app: Any, limit_s: float = 900.0) -> str:
    """Our app serves a slot from PyTorch while its background export runs (at the lowest
    priority): wait until it switched, so that its exported backend is what is timed."""
    deadline = time.perf_counter() + limit_s
    while True:
        found = EXPORTED.search(app.log_path.read_text(errors="replace"))
        if found:
            log(f"ours: {found.group(0)}")
            return found.group(0)
        if time.perf_counter() > deadline:
            raise RuntimeError(f"the rerank slot did not switch from PyTorch within {limit_s:.0f} s")
        time.sleep(1.0)


def measure(servers: Servers, reqs: list[dict[str, Any]], plan: Plan) -> dict[str, Any]:
    r: dict[str, Any] = {"noise": {}, "window_s": plan.duration / 2}
    r["checked"] = check_all(servers, reqs[0])
    r["backends"] = {}
    for precision, app in servers.apps.items():
        servers.only(servers.pid_of[f"ours-{precision}"])  # its export alone
        r["backends"][precision] = wait_exported(app)
    servers.resume_all()
    chosen = targets(servers, reqs)
    r["labels"] = [t.label for t in chosen]
    with other_load(r["noise"], "rerank", servers.pids):
        r["load"] = rotation(chosen, plan, servers)
    return r


# ---- report ------------------------------------------------------------------------------------------
def render(r: dict[str, Any], wall_s: float) -> str:
    load = r["load"]
    rows = [
        "| server and route | clients | req/s | per window | p50 ms | p99 ms | done | refused | errors |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for label in r["labels"]:
        for clients, x in load[label].items():
            windows = " / ".join(f"{w:.2f}" for w in x["windows_rps"])
            rows.append(
                f"| {label} | {clients} | {x['rps']:.2f} | {windows} | {x['p50_ms']:.0f} | {x['p99_ms']:.0f} "
                f"| {x['completed']} | {x['refused']} | {x['errors']} |"
            )
    targets_rows = ["| target | measured | verdict |", "|---|---|---|"]
    ours = [label for label in r["labels"] if label.startswith("ours")]
    for other in (INFINITY, NAIVE):
        if other not in load:
            continue
        for label in ours:
            a, b = load[label]["16"]["rps"], load[other]["16"]["rps"]
            judged = label == OURS and other == INFINITY
            verdict = ("**met**" if a / b >= TARGET else "**not met**") if judged else "-"
            goal = f">= {TARGET}x " if judged else "(reported) vs "
            targets_rows.append(
                f"| {label}, 16 clients, {goal}{other} req/s | {a / b:.2f}x ({a:.2f} vs {b:.2f} req/s) "
                f"| {verdict} |"
            )
        p50 = ", ".join(f"{label}: {load[label]['1']['p50_ms']:.0f} ms" for label in [*ours, other])
        targets_rows.append(f"| 1 client p50 (reported) | {p50} | - |")
    lines = [
        *bench_v1.header(r, wall_s),
        "Our backends: " + "; ".join(r["backends"].values()) + ".",
        "",
        f"Note: {SHARED_NOTE}; the noise line says how busy.",
        "",
        "#### Targets",
        "",
        *targets_rows,
        "",
        f"#### Requests/s and latency: a query and {PASSAGES} passages of {PASSAGE_TOKENS[0]}-"
        f"{PASSAGE_TOKENS[1]} tokens a request",
        "",
        "Each client is a thread with its own kept-alive httpx connection, sending back to back; the "
        f"servers took turns in windows of {r['window_s']:.0f} s (A B ... B A) after an untimed warm-up; "
        "only the server being timed ran. Scores were checked equal across servers first (largest "
        f"difference {max(r['checked'].values(), default=0.0):.1g}).",
        "",
        *rows,
        "",
        "Noise (CPU kept busy by other processes meanwhile): "
        + "; ".join(
            f"{k}: {x['other_cores']:.2f} cores, load average {x['loadavg_1m']:.2f}"
            for k, x in r["noise"].items()
        )
        + ".",
    ]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = bench_v1.common_parser(__doc__.splitlines()[0], "rerank-results.json")
    parser.add_argument(
        "--naive", action="store_true", help="time the naive server too (always without Infinity)"
    )
    parser.add_argument("--out", type=Path, help="also write the markdown section to this file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    raw = argv if argv is not None else sys.argv[1:]
    command = " ".join([".venv/bin/python", "benchmarks/bench_rerank.py", *map(shlex.quote, raw)])
    started = time.perf_counter()
    work = args.workdir.resolve()
    (work / "logs").mkdir(parents=True, exist_ok=True)
    log(cpu_line())
    paths, _texts = bench_v1.build(work)
    model = build_reranker(work)
    reqs = requests()
    date = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    with contextlib.ExitStack() as stack:
        servers = start_servers(stack, args, paths, model)
        stack.callback(servers.resume_all)  # before any is stopped: a stopped process ignores SIGTERM
        r = measure(servers, reqs, Plan(args.quick))
        venv = args.infinity_venv.expanduser()
        r["infinity_line"] = bench_v1.infinity_line(servers, venv, "", "; the naive server stands in")
    r.update(quick=args.quick, machine=bench_v1.machine(), run={"command": command, "date": date})
    wall = time.perf_counter() - started
    (work / "rerank-results.json").write_text(json.dumps(r, indent=1))
    table = render(r, wall)
    print(table)
    if args.out:
        args.out.write_text(table)
    log(f"done in {wall / 60:.1f} min; raw numbers in {work / 'rerank-results.json'}")


if __name__ == "__main__":
    main()
