"""fp32, bf16 and int8 side by side (issue 27): how far each is from fp32, and how fast the app
serves in each, beside the naive app, on electra-base-shaped random weights over plain HTTP.

```bash
.venv/bin/python benchmarks/bench_precision.py            # ~15 min on 2 cores (exports the first time)
.venv/bin/python benchmarks/bench_precision.py --quick    # smoke run: 2 s windows, 4 requests
```

1. **Agreement**, in process: the app's service in fp32 (ONNX Runtime, the default CPU backend),
   bf16 (``ELECTRA_DEMO_PRECISION=bf16``: OpenVINO on the export) and int8 (ONNX Runtime's dynamic
   quantisation) on the same inputs: the largest difference from fp32 per endpoint (probabilities
   and scores; embeddings per component), and how many decisions changed (flags of tokens more
   than 0.05 from the threshold, argmax labels, best answer spans).
2. **Speed**: the naive app (``baseline_app.py``) stays up while ours is launched once per
   precision (``app.py``, same checkpoints and export cache); page ``/detect`` one request at a
   time at 128 tokens (each request to both apps, the order flipping), then 16 clients: page
   ``/detect`` at 32 tokens and ``/v1/classify`` (the naive app's page ``/classify``) in windows
   ours, naive, naive, ours, and ``/v1/embeddings`` (no naive counterpart; Infinity is
   ``bench_v1.py``'s). The app not being timed is SIGSTOPped during windows (``bench_v1.py``
   explains why). The CPU line (flags included) heads the table.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import checkpoints
import common
from bench_app import baseline_env, our_env, request_args
from bench_v1 import (
    INFINITY_VENV,
    GradioRoute,
    JsonRoute,
    Target,
    descendants,
    infinity_embed,
    infinity_launched,
    infinity_versions,
    summarize,
    window,
)
from common import SHARED_NOTE, GradioHttp, body, cpu_line, launched, log

PRECISIONS = ("fp32", "bf16", "int8")
AWAY = 0.05


# ---- agreement, in process ----------------------------------------------------------------------
def service_for(paths: dict, cache: Path, precision: str):
    from electra_demo.service import ModelService

    env = {k: v for k, v in our_env(paths, cache).items() if k.startswith("ELECTRA_DEMO_")}
    return ModelService(environ={**env, "ELECTRA_DEMO_PRECISION": precision})


def compare(kind: str, ours: Any, reference: Any) -> tuple[float, int, int]:
    """(largest difference, decisions compared, decisions changed) for one result pair."""
    if kind == "embeddings":
        return float(np.max(np.abs(ours - reference))), 0, 0
    if kind in ("detect", "corrupt"):
        a, b = ours["tokens"], reference["tokens"]
        diff = max(abs(x["probability"] - y["probability"]) for x, y in zip(a, b, strict=True))
        clear = [(x, y) for x, y in zip(a, b, strict=True) if abs(y["probability"] - 0.5) > AWAY]
        return diff, len(clear), sum(x["replaced"] != y["replaced"] for x, y in clear)
    if kind == "classify":
        scores = {x["label"]: x["score"] for x in ours["labels"]}
        diff = max(abs(scores[y["label"]] - y["score"]) for y in reference["labels"])
        return diff, 1, int(ours["labels"][0]["label"] != reference["labels"][0]["label"])
    if kind == "tag":
        spans = {(e["start"], e["end"], e["label"]): e["score"] for e in ours["entities"]}
        same = [
            abs(spans[k] - e["score"])
            for e in reference["entities"]
            if (k := (e["start"], e["end"], e["label"])) in spans
        ]
        changed = len(spans) + len(reference["entities"]) - 2 * len(same)
        return max(same, default=0.0), len(reference["entities"]), changed
    scores = {(a["start"], a["end"]): a["score"] for a in ours["answers"]}  # answer
    same = [
        abs(scores[k] - a["score"]) for a in reference["answers"] if (k := (a["start"], a["end"])) in scores
    ]
    best = (ours["answers"][0]["start"], ours["answers"][0]["end"]) if ours["answers"] else None
    ref_best = (
        (reference["answers"][0]["start"], reference["answers"][0]["end"]) if reference["answers"] else None
    )
    return max(same, default=0.0), 1, int(best != ref_best)


def calls(texts: dict) -> dict[str, Callable[[Any], list[Any]]]:
    """Each endpoint's inputs as calls on a service (built before any clock: none runs here)."""
    long, short = texts["single"]["128"], texts["short"][:8]
    qa = texts["qa"]["128"]
    return {
        "detect": lambda s: [s.detect(t).to_json() for t in long],
        "corrupt": lambda s: [s.corrupt(t, 0.15, 3).to_json() for t in long[:2]],
        "classify": lambda s: [s.classify("sentiment", t).to_json() for t in short],
        "tag": lambda s: [s.tag(t, "simple").to_json() for t in long[:2]],
        "answer": lambda s: [s.answer(q, c, top_k=3).to_json() for q, c in qa],
        "embeddings": lambda s: [s.embed("discriminator", short).vectors],
    }


SHAPES = {"tag": "tiny (no base-shaped tagger here)", "corrupt": "tiny generator, base discriminator"}


def agreement(paths: dict, texts: dict, cache: Path) -> dict[str, dict[str, Any]]:
    """{endpoint: {precision: {"max_diff", "compared", "changed"}}} against fp32."""
    results: dict[str, dict[str, list[Any]]] = {}
    for precision in PRECISIONS:
        service = service_for(paths, cache, precision)
        started = time.perf_counter()
        results[precision] = {name: call(service) for name, call in calls(texts).items()}
        backends = {service.card(n)["backend"] for n in ("discriminator", "sentiment", "qa")}
        log(
            f"agreement: {precision} in {time.perf_counter() - started:.0f} s ({'; '.join(sorted(backends))})"
        )
        del service
    out: dict[str, dict[str, Any]] = {}
    for name, reference in results["fp32"].items():
        for precision in ("bf16", "int8"):
            rows = [compare(name, a, b) for a, b in zip(results[precision][name], reference, strict=True)]
            out.setdefault(name, {})[precision] = {
                "max_diff": max(r[0] for r in rows),
                "compared": sum(r[1] for r in rows),
                "changed": sum(r[2] for r in rows),
            }
    return out


# ---- the forward alone, in process --------------------------------------------------------------------
def runners(paths: dict, cache: Path) -> dict[str, Any]:
    """The sentiment model's forward on each runtime measured for bf16 (and fp32/int8 beside it):
    the app's exports from the agreement phase, and PyTorch in fp32 and with weights cast to bf16."""
    import torch
    import transformers

    from electra_demo.runtime import backends, export_cache

    source = paths["base"]["sentiment"]
    fingerprint = export_cache.checkpoint_fingerprint(source, None)
    folder = lambda p: export_cache.export_folder(cache, fingerprint, "sequence-classification", p)  # noqa: E731
    model = transformers.AutoModelForSequenceClassification.from_pretrained(source).eval()
    out = {
        f"ONNX Runtime {p}": backends.open_export(folder(p), "sequence-classification", p)
        for p in ("fp32", "int8")
    }
    out["OpenVINO bf16"] = backends.open_export(folder("bf16"), "sequence-classification", "bf16")
    out["PyTorch fp32"] = backends.TorchRunner(model, "sequence-classification")
    cast = transformers.AutoModelForSequenceClassification.from_pretrained(
        source, dtype=torch.bfloat16
    ).eval()
    out["PyTorch bf16 (weights cast)"] = backends.TorchRunner(cast, "sequence-classification")
    return out


def forward(paths: dict, cache: Path, rounds: int) -> dict[str, dict[str, float]]:
    """Median ms per forward at 1x128, 8x128 and 16x32 tokens, the runtimes in turn each round."""
    found = runners(paths, cache)
    rng = np.random.default_rng(0)
    out: dict[str, dict[str, float]] = {name: {} for name in found}
    for rows, tokens in ((1, 128), (8, 128), (16, 32)):
        ids = rng.integers(1000, 30000, size=(rows, tokens))
        inputs = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
        samples: dict[str, list[float]] = {name: [] for name in found}
        for runner in found.values():
            runner(inputs)  # warm-up
        for _ in range(rounds):
            for name, runner in found.items():
                started = time.perf_counter()
                runner(inputs)
                samples[name].append(time.perf_counter() - started)
        for name, values in samples.items():
            out[name][f"{rows}x{tokens}"] = 1000 * statistics.median(values)
        log(
            f"forward {rows}x{tokens}: "
            + ", ".join(f"{n} {out[n][f'{rows}x{tokens}']:.0f} ms" for n in found)
        )
    return out


# ---- speed, over HTTP ----------------------------------------------------------------------------------
def signal_tree(pid: int, signum: int) -> None:
    for process in [pid, *descendants(pid)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process, signum)


@contextlib.contextmanager
def stopped(pid: int) -> Iterator[None]:
    """``pid`` and its children SIGSTOPped meanwhile (an idle server's wake-ups stall a 2-core forward)."""
    signal_tree(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        signal_tree(pid, signal.SIGCONT)


@contextlib.contextmanager
def resumed(pid: int | None) -> Iterator[None]:
    """The opposite: a server kept stopped between its windows runs meanwhile (``None``: nothing)."""
    if pid is None:
        yield
        return
    signal_tree(pid, signal.SIGCONT)
    try:
        yield
    finally:
        signal_tree(pid, signal.SIGSTOP)


def single(ours: str, naive: str, texts: dict, n: int) -> dict[str, float]:
    """Page /detect at 128 tokens, one request at a time, to both apps in turn: medians in ms."""
    payloads = [body(request_args("/detect", 128, texts, i)) for i in range(n + 2)]
    connections = {"ours": GradioHttp(ours), "naive": GradioHttp(naive)}
    samples: dict[str, list[float]] = {"ours": [], "naive": []}
    for i, payload in enumerate(payloads):
        for name in ("ours", "naive") if i % 2 == 0 else ("naive", "ours"):
            elapsed = connections[name].timed("/detect", payload)
            if i >= 2:  # two warm-ups
                samples[name].append(elapsed)
    for connection in connections.values():
        connection.close()
    return {name: 1000 * statistics.median(values) for name, values in samples.items()}


def in_turn(
    a: Target, b: Target | None, seconds: float, parked: int | None = None
) -> dict[str, dict[str, Any]]:
    """16 clients in windows a, b, b, a (the other app stopped meanwhile): requests/s each.
    ``parked``: b's server, kept stopped outside this comparison (Infinity), resumed for b's windows."""
    windows: dict[str, list[Any]] = {a.label: []}
    order = [a, b, b, a] if b is not None else [a, a]
    for target in order:
        other = b if target is a else a
        with contextlib.ExitStack() as stack:
            if target is b:
                stack.enter_context(resumed(parked))
            if other is not None and other.pid and not (other is b and parked):
                stack.enter_context(stopped(other.pid))
            windows.setdefault(target.label, []).append(window(target, 16, seconds))
    return {label: summarize(found) for label, found in windows.items()}


def speed(
    app_url: str,
    app_pid: int,
    naive: Any,
    infinity: tuple[str, int] | None,
    texts: dict,
    args: argparse.Namespace,
) -> dict[str, Any]:
    detect32 = [body(request_args("/detect", 32, texts, i)) for i in range(4)]
    short = texts["short"]
    classify_naive = [body(("sentiment", t, "")) for t in short]
    headers = {"Authorization": "Bearer bench-key"}

    def ours_json(path: str, make: Callable[[str], dict]) -> Target:
        payloads = [json.dumps(make(t)).encode() for t in short]
        return Target("ours", lambda: JsonRoute(app_url, path, headers), payloads, app_pid)

    naive_pid = naive.proc.pid
    out: dict[str, Any] = {"detect_1x128_ms": single(app_url, naive.url, texts, args.requests)}
    out["detect_16x32"] = in_turn(
        Target("ours", lambda: GradioRoute(app_url, "/detect"), detect32, app_pid),
        Target("naive", lambda: GradioRoute(naive.url, "/detect"), detect32, naive_pid),
        args.seconds,
    )
    out["classify_16"] = in_turn(
        ours_json("/v1/classify", lambda t: {"model": "sentiment", "input": t}),
        Target("naive", lambda: GradioRoute(naive.url, "/classify"), classify_naive, naive_pid),
        args.seconds,
    )
    embed = ours_json("/v1/embeddings", lambda t: {"model": "discriminator", "input": t})
    peer = None
    if infinity is not None:
        payloads = [json.dumps(infinity_embed(t)).encode() for t in short]
        peer = Target("infinity", lambda: JsonRoute(infinity[0], "/embeddings"), payloads, infinity[1])
    with stopped(naive_pid):
        out["embeddings_16"] = in_turn(embed, peer, args.seconds, parked=infinity[1] if infinity else None)
    return out


def served_by(lines: list[str]) -> str:
    """The runtime that served the discriminator, from the app's log lines (the last one wins:
    "runs on", or "switched to" once an export replaced PyTorch)."""
    found = []
    for line in lines:
        for verb in ("runs on ", "switched to "):
            head = "discriminator (pretraining) " + verb
            if line.startswith(head):
                found.append(line.removeprefix(head).split(",")[0])
    return found[-1] if found else "?"


def warm(url: str, texts: dict) -> None:
    """Every timed route once (loads its model, at the precision's export, cached in process 1)."""
    import httpx

    GradioHttp(url).call("/detect", request_args("/detect", 32, texts, 0))
    headers = {"Authorization": "Bearer bench-key"}
    for path, model in (("/v1/classify", "sentiment"), ("/v1/embeddings", "discriminator")):
        reply = httpx.post(
            url + path.lstrip("/"), json={"model": model, "input": "warm"}, headers=headers, timeout=600
        )
        assert reply.status_code == 200, reply.text
        log(f"  {path}: x-precision {reply.headers.get('x-precision')}")


@contextlib.contextmanager
def peer(paths: dict, logs: Path, venv: Path) -> Iterator[tuple[str, int] | None]:
    """Infinity (``bench_v1.py``'s launch: its own venv, fp32, mean pooling) warmed up with real
    requests, then kept stopped except during its own windows; ``None`` when its venv is missing."""
    if not (venv / "bin" / "infinity_emb").is_file():
        log(f"Infinity: no venv at {venv} (see benchmarks/infinity-requirements.txt); not compared")
        yield None
        return
    import httpx

    with infinity_launched(venv, paths, logs) as (url, proc):
        for text in ("warm", "warm up the peer " * 8):
            reply = httpx.post(url + "/embeddings", json=infinity_embed(text), timeout=600)
            assert reply.status_code == 200, reply.text
        signal_tree(proc.pid, signal.SIGSTOP)
        try:
            yield url, proc.pid
        finally:
            signal_tree(proc.pid, signal.SIGCONT)


def runs(paths: dict, cache: Path, args: argparse.Namespace) -> list[tuple[str, str, dict[str, str]]]:
    """(row label, app.py to launch, its environment): ours in each precision, then with
    ``--before`` an earlier tree in fp32 (the issue's "today", for "not slower on a CPU without
    bf16"), with an export cache of its own."""
    out = []
    for precision in PRECISIONS:
        env = {**our_env(paths, cache), "ELECTRA_DEMO_PRECISION": precision}
        out.append((precision, "app.py", env))
    if args.before:
        env = {**our_env(paths, args.workdir / "before-cache"), "ELECTRA_DEMO_PRECISION": "fp32"}
        out.append((f"fp32 before ({args.before.name})", str(args.before.resolve() / "app.py"), env))
    for _, _, env in out:
        env.update(ELECTRA_DEMO_API_KEYS="bench-key", ELECTRA_DEMO_RATE_LIMIT="100000000")
        env["ELECTRA_DEMO_PRELOAD"] = "discriminator,sentiment"  # nothing else loads (or exports) meanwhile
    return out


def speeds(paths: dict, cache: Path, texts: dict, args: argparse.Namespace) -> dict[str, Any]:
    """The naive app and Infinity up throughout; ours launched once per precision, timed in turn."""
    out: dict[str, Any] = {}
    logs = args.workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with (
        launched("naive", ["benchmarks/baseline_app.py"], baseline_env(paths), logs) as naive,
        peer(paths, logs, args.infinity_venv.expanduser()) as infinity,
    ):
        for label, app_py, env in runs(paths, cache, args):
            name = "ours-" + label.replace(" ", "-").replace("(", "").replace(")", "")
            tree = (
                Path(app_py).parent if app_py != "app.py" else common.ROOT
            )  # its children import from there
            with launched(name, [app_py], env, logs, cwd=tree) as app:
                warm(app.url, texts)
                if app_py != "app.py":  # an earlier tree, its own export cache: wait for its exports
                    common.served_by(app, ["discriminator", "sentiment"])  # (those warm() asked for)
                out[label] = speed(app.url, app.proc.pid, naive, infinity, texts, args)
                out[label]["backend"] = served_by(app.backends())
            log(f"{label}: /detect 1x128 ms {out[label]['detect_1x128_ms']}")
    return out


# ---- report ----------------------------------------------------------------------------------------------
def render(r: dict[str, Any], command: str) -> str:
    lines = [
        "## Precision: fp32 / bf16 / int8 (issue 27)",
        "",
        f"`{command}` on {r['date']}. {r['cpu']}. {SHARED_NOTE}.",
        "",
        "Largest difference from fp32 on the same inputs (probabilities and scores; embeddings: per",
        "component of the unit vector), and decisions changed of those compared (token flags more than",
        "0.05 from the threshold, argmax labels, entity spans, best answer span):",
        "",
        "| endpoint | weights | bf16 max diff | bf16 changed | int8 max diff | int8 changed |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in r["agreement"].items():
        cells = [
            f"{row[p]['max_diff']:.4f} | {row[p]['changed']} of {row[p]['compared']}"
            for p in ("bf16", "int8")
        ]
        lines.append(f"| /{name} | {SHAPES.get(name, 'base-shaped')} | {cells[0]} | {cells[1]} |")
    lines += [
        "",
        "The forward alone, in process (sentiment head, 2 threads; median ms, runtimes in turn):",
        "",
    ]
    shapes = list(next(iter(r["forward"].values())))
    lines += ["| runtime | " + " | ".join(shapes) + " |", "|---" * (len(shapes) + 1) + "|"]
    for name, row in r["forward"].items():
        lines.append(f"| {name} | " + " | ".join(f"{row[s]:.0f}" for s in shapes) + " |")
    if not r["speed"]:
        return "\n".join(lines) + "\n"
    lines += ["", "Speed over plain HTTP (ours in each precision; the naive app timed in turn with it):", ""]
    lines += [f"Infinity: {r.get('infinity')}.", ""]
    lines += [
        "| precision | backend | /detect 1x128 ms (naive) | ratio | /detect 16x32 req/s (naive) | ratio "
        "| /v1/classify 16 req/s (naive /classify) | ratio "
        "| /v1/embeddings 16 req/s (Infinity fp32) | ratio |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for precision, s in r["speed"].items():
        one = s["detect_1x128_ms"]
        cells = [f"{one['ours']:.0f} ({one['naive']:.0f}) | {one['naive'] / one['ours']:.2f}x"]
        for key in ("detect_16x32", "classify_16"):
            ours, naive = s[key]["ours"]["rps"], s[key]["naive"]["rps"]
            cells.append(f"{ours:.1f} ({naive:.1f}) | {ours / naive:.2f}x")
        embeddings = s["embeddings_16"]
        ours = embeddings["ours"]["rps"]
        if "infinity" in embeddings:
            theirs = embeddings["infinity"]["rps"]
            cells.append(f"{ours:.1f} ({theirs:.1f}) | {ours / theirs:.2f}x")
        else:
            cells.append(f"{ours:.1f} (not run) | -")
        lines.append(f"| {precision} | {s['backend']} | {' | '.join(cells)} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("~/.cache/electra-demo/bench").expanduser())
    parser.add_argument("--seconds", type=float, default=6.0, help="each throughput window")
    parser.add_argument("--requests", type=int, default=10, help="timed one-at-a-time requests per app")
    parser.add_argument("--quick", action="store_true", help="2 s windows, 4 requests")
    parser.add_argument("--out", type=Path, help="also write the markdown here")
    parser.add_argument("--skip-speed", action="store_true", help="agreement and the forward only")
    parser.add_argument("--before", type=Path, help="an earlier tree (git archive), timed in fp32 too")
    parser.add_argument("--infinity-venv", type=Path, default=INFINITY_VENV, help="Infinity's own venv")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.requests = 2.0, 4
    command = "python benchmarks/bench_precision.py " + " ".join(argv if argv is not None else sys.argv[1:])
    print(cpu_line(), flush=True)
    paths = checkpoints.ensure_all(args.workdir)
    texts = json.loads(Path(paths["texts"]).read_text())
    cache = args.workdir / "precision-cache"
    r: dict[str, Any] = {
        "cpu": cpu_line(),
        "infinity": infinity_versions(args.infinity_venv.expanduser()),
        "date": time.strftime("%Y-%m-%d"),
        "agreement": agreement(paths, texts, cache),
    }
    r["forward"] = forward(paths, cache, 3 if args.quick else 8)
    r["speed"] = {} if args.skip_speed else speeds(paths, cache, texts, args)
    (args.workdir / "precision-results.json").write_text(json.dumps(r, indent=1, default=str))
    table = render(r, command)
    print(table)
    if args.out:
        args.out.write_text(table)


if __name__ == "__main__":
    main()
