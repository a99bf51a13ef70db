"""Scale-out on Ray: /v1 req/s with 1 and 2 Serve replicas vs one process, and batch_ray vs the Batch tab.

    .venv/bin/python benchmarks/bench_ray.py            # full run, ~10 minutes on 2 shared cores
    .venv/bin/python benchmarks/bench_ray.py --quick    # smoke run, ~5 minutes

Serving (electra-base-shaped random checkpoints, ``checkpoints.py``; ONNX Runtime fp32, the default
CPU path): ``POST /v1/detect`` with one short text (8-32 tokens, the 64 ``short`` texts) per
request, 16 and 64 clients (threads with their own kept-alive ``httpx`` connection, back to back,
bodies encoded before the clock; ``bench_v1.window``). The baseline is ``python app.py``: the same
API in one process. It is launched first and stays up, SIGSTOPped outside its own windows; then
``python -m electra_demo.serve_ray`` runs with 1 replica (2 CPUs for it) and with 2 replicas (1
CPU each: Ray gives a replica ``OMP_NUM_THREADS`` = its CPUs, so both set-ups use the 2 cores), on
a local Ray limited to 2 CPUs. At each client count the windows run Ray, baseline, baseline, Ray,
so drifting background load falls on both alike. Ray is not stopped during the baseline's windows
(stopping a raylet trips its health checks): its idle processes are in the noise gauge.

Batch: 10,000 short rows (the same 64 texts, repeated) through ``/detect``'s task on the tiny
checkpoints: ``python -m electra_demo.batch_ray`` with 1 and 2 actors vs the Batch tab's own path in
process (``electra_demo.batch.run_job``, 2 threads). Tiny, because electra-base on this CPU
serves about 30 rows/s (RESULTS.md, ``/v1`` section): 10,000 rows would take over 5 minutes per
path. A second, model-bound comparison runs ``--base-rows`` rows (default 200) on the base-shaped
discriminator. batch_ray's own summary gives rows/s without Ray's start-up; the wall time of the
whole command (Python, Ray, actors, models) is reported beside it.

Prints the CPU line and markdown tables; writes ``ray-results.json`` in the work dir.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

from bench_v1 import API_KEY, AUTH, JsonRoute, Target, build, descendants, our_env, summarize, window  # noqa: E402
from common import PYTHON, ROOT, SHARED_NOTE, cpu_line, free_port, launched, log, other_load  # noqa: E402

CLIENTS = (16, 64)
REPLICAS = (1, 2)


@dataclass(frozen=True)
class Plan:
    quick: bool

    @property
    def window_s(self) -> float:
        return 3.0 if self.quick else 8.0


# ---- serving ---------------------------------------------------------------------------------------
def detect_bodies(texts: list[str]) -> list[bytes]:
    return [json.dumps({"input": text}).encode() for text in texts]


def paused(pid: int, stop: bool) -> None:
    for process in [pid, *descendants(pid)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process, signal.SIGSTOP if stop else signal.SIGCONT)


@contextlib.contextmanager
def serve_ray(replicas: int, env: dict[str, str], logs: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    """``python -m electra_demo.serve_ray`` with ``replicas`` replicas sharing 2 CPUs; its URL."""
    port = free_port()
    argv = [PYTHON, "-m", "electra_demo.serve_ray", "--replicas", str(replicas), "--port", str(port)]
    argv += ["--replica-cpus", str(2 / replicas), "--num-cpus", "2", "--object-store-mb", "256"]
    log_path = logs / f"serve-ray-{replicas}.log"
    with log_path.open("w") as handle:
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT)
    started = time.perf_counter()
    try:
        while "serve_ray: the /v1 API on" not in log_path.read_text(errors="replace"):
            if proc.poll() is not None or time.perf_counter() - started > 300:
                raise RuntimeError(f"serve_ray did not start; see {log_path}")
            time.sleep(0.25)
        log(f"serve_ray with {replicas} replica(s) up after {time.perf_counter() - started:.1f} s")
        yield f"http://127.0.0.1:{port}", proc
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            for pid in [proc.pid, *descendants(proc.pid)]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            proc.wait()


def warm(url: str, payloads: list[bytes], replicas: int) -> None:
    """Requests until every replica has answered (each loads its model on its first request)."""
    import httpx

    seen: set[str] = set()
    with httpx.Client(timeout=300) as client:
        for i in range(400):
            body = payloads[i % len(payloads)]
            reply = client.post(
                url + "/v1/detect", content=body, headers={**AUTH, "Content-Type": "application/json"}
            )
            reply.raise_for_status()
            seen.add(reply.headers.get("x-electra-replica", "app"))
            if len(seen) >= replicas and i >= 8 * replicas:
                return
    raise RuntimeError(f"only {len(seen)} of {replicas} replicas answered")


def turns(ray: Target, baseline: Target, app_pid: int, clients: int, plan: Plan) -> dict[str, Any]:
    """Windows Ray, baseline, baseline, Ray at ``clients`` clients; the baseline runs only in its own."""
    windows: dict[str, list] = {"ray": [], "baseline": []}
    for which in ("ray", "baseline", "baseline", "ray"):
        paused(app_pid, which != "baseline")
        windows[which].append(window(baseline if which == "baseline" else ray, clients, plan.window_s))
    paused(app_pid, True)
    return {name: summarize(ws) for name, ws in windows.items()}


def serving(env: dict[str, str], short: list[str], plan: Plan, logs: Path, noise: dict) -> dict[str, Any]:
    payloads = detect_bodies(short)
    out: dict[str, Any] = {}
    with launched("app-v1", ["app.py"], env, logs) as app:
        baseline = Target("app.py", lambda: JsonRoute(app.url, "/v1/detect", AUTH), payloads)
        warm(app.url.rstrip("/"), payloads, 1)
        paused(app.proc.pid, True)
        try:
            for replicas in REPLICAS:
                with serve_ray(replicas, env, logs) as (url, proc):
                    warm(url, payloads, replicas)
                    ray = Target(
                        f"{replicas} replicas", lambda u=url: JsonRoute(u, "/v1/detect", AUTH), payloads
                    )
                    for clients in CLIENTS:
                        key = f"{replicas}r-{clients}c"
                        with other_load(noise, key, [proc.pid, app.proc.pid, *descendants(proc.pid)]):
                            out[key] = turns(ray, baseline, app.proc.pid, clients, plan)
                        ray_rps, base_rps = out[key]["ray"]["rps"], out[key]["baseline"]["rps"]
                        log(f"{key}: Ray {ray_rps:.1f} req/s, one process {base_rps:.1f}")
        finally:
            paused(app.proc.pid, False)
    return out


# ---- batch -------------------------------------------------------------------------------------------
def write_rows(path: Path, texts: list[str], rows: int) -> None:
    import csv

    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text"])
        writer.writerows([texts[i % len(texts)]] for i in range(rows))


def in_process(env: dict[str, str], path: Path) -> dict[str, Any]:
    """The Batch tab's path: read, plan and run_job in this process (the model loaded before)."""
    from electra_demo.batch import plan_job, run_job
    from electra_demo.service import ModelService
    from electra_demo.text.tables import Table

    service = ModelService(environ=env)
    service.detect("warm up the model", 0.5)  # loads it (and exports it for the actors)
    texts = path.read_text(encoding="utf-8").splitlines()[1:]
    job = plan_job(Table(["text"], [{"text": t} for t in texts]), "detect")
    started = time.perf_counter()
    records = run_job(job, service)
    elapsed = time.perf_counter() - started
    return {
        "rows": len(records),
        "errors": sum("error" in r for r in records),
        "rows_s": len(records) / elapsed,
    }


def batch_ray(env: dict[str, str], path: Path, actors: int, logs: Path) -> dict[str, Any]:
    out = path.with_suffix(f".ray{actors}.jsonl")
    argv = [PYTHON, "-m", "electra_demo.batch_ray", str(path), str(out), "--task", "detect"]
    argv += [
        "--actors",
        str(actors),
        "--actor-cpus",
        str(2 / actors),
        "--num-cpus",
        "2",
        "--object-store-mb",
        "256",
    ]
    started = time.perf_counter()
    log_path = logs / f"batch-ray-{path.stem}-{actors}.log"
    with log_path.open("w") as handle:
        done = subprocess.run(
            argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=handle, text=True, check=False
        )
    wall = time.perf_counter() - started
    match = re.search(r"batch_ray: (\d+) rows, (\d+) errors, ([\d.]+) rows/s", done.stdout)
    if done.returncode != 0 or match is None:
        raise RuntimeError(f"batch_ray failed ({done.returncode}); see {log_path}: {done.stdout[-500:]}")
    out.unlink(missing_ok=True)  # tens of MB of records: the tests check their content
    rows = int(match.group(1))
    return {
        "rows": rows,
        "errors": int(match.group(2)),
        "rows_s": float(match.group(3)),
        "wall_s": wall,
        "wall_rows_s": rows / wall,
    }


def batching(
    paths: dict, short: list[str], work: Path, args: argparse.Namespace, logs: Path, noise: dict
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, rows, model in (
        ("tiny", args.rows, paths["tiny"]["discriminator"]),
        ("base", args.base_rows, paths["base"]["discriminator"]),
    ):
        env = {**our_env(paths, work / "onnx-cache", int8=False), "ELECTRA_DEMO_DISCRIMINATOR": model}
        data = work / f"ray-{name}-{rows}.csv"
        write_rows(data, short, rows)
        with other_load(noise, f"batch {name}", []):
            result = {"in_process": in_process(env, data)}
            log(f"batch {name}, {rows} rows: in process {result['in_process']['rows_s']:.1f} rows/s")
            for actors in (1, 2) if name == "tiny" else (2,):
                result[f"ray_{actors}"] = batch_ray(env, data, actors, logs)
                rate = result[f"ray_{actors}"]["rows_s"]
                log(f"batch {name}: batch_ray {actors} actor(s) {rate:.1f} rows/s")
        out[name] = {"rows": rows, **result}
    return out


# ---- report ------------------------------------------------------------------------------------------
def render(r: dict[str, Any]) -> str:
    lines = [
        "## Scale-out on Ray: Serve replicas and batch_ray (`bench_ray.py`)",
        "",
        f"`{r['command']}`, {r['date']}, {r['wall_min']:.1f} min. {r['cpu']}.",
        f"Ray 2.60.0, a local Ray on loopback limited to 2 CPUs. {SHARED_NOTE}.",
        "",
        "### /v1/detect, one short text a request (electra-base-shaped, ONNX Runtime fp32)",
        "",
        "| set-up | clients | req/s | p50 ms | p99 ms | errors | app.py, same turns: req/s | ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key, both in r["serving"].items():
        replicas, clients = (part[:-1] for part in key.split("-"))
        ray, base = both["ray"], both["baseline"]
        cells = [
            f"Ray Serve, {replicas} replica(s)",
            clients,
            f"{ray['rps']:.1f}",
            f"{ray['p50_ms']:.0f}",
            f"{ray['p99_ms']:.0f}",
            str(ray["errors"] + ray["refused"]),
            f"{base['rps']:.1f}",
            f"{ray['rps'] / base['rps']:.2f}x",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "### Batch: detect, rows/s",
        "",
        "| checkpoints | rows | path | rows/s | whole command: rows/s (wall s) | errors |",
        "|---|---|---|---|---|---|",
    ]
    for name, result in r["batch"].items():
        for path, row in result.items():
            if path == "rows":
                continue
            label = (
                "Batch tab's path, in process" if path == "in_process" else f"batch_ray, {path[-1]} actor(s)"
            )
            whole = f"{row['wall_rows_s']:.1f} ({row['wall_s']:.0f} s)" if "wall_s" in row else "-"
            lines.append(
                f"| {name} | {result['rows']:,} | {label} | {row['rows_s']:.1f} | {whole} | {row['errors']} |"
            )
    noise = ", ".join(f"{k} {v['other_cores']:.2f}" for k, v in r["noise"].items())
    lines += ["", f"Noise (cores other processes kept busy during each phase): {noise}."]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 s windows, 2,000 tiny rows, 100 base rows")
    parser.add_argument("--workdir", type=Path, default=Path.home() / ".cache" / "electra-demo" / "bench")
    parser.add_argument("--rows", type=int, default=None, help="tiny rows (default 10,000)")
    parser.add_argument("--base-rows", type=int, default=None, help="electra-base-shaped rows (default 200)")
    parser.add_argument("--skip-serving", action="store_true")
    parser.add_argument("--skip-batch", action="store_true")
    args = parser.parse_args(argv)
    args.rows = args.rows or (2000 if args.quick else 10_000)
    args.base_rows = args.base_rows or (100 if args.quick else 200)
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    raw = argv if argv is not None else sys.argv[1:]
    started = time.perf_counter()
    work = args.workdir.resolve()
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log(cpu_line())
    paths, texts = build(work)
    env = {**our_env(paths, work / "onnx-cache", int8=False), "RAY_USAGE_STATS_ENABLED": "0"}
    r: dict[str, Any] = {
        "noise": {},
        "serving": {},
        "batch": {},
        "cpu": cpu_line(),
        "api_key_set": bool(API_KEY),
    }
    if not args.skip_serving:
        r["serving"] = serving(env, texts["short"], Plan(args.quick), logs, r["noise"])
    if not args.skip_batch:
        r["batch"] = batching(paths, texts["short"], work, args, logs, r["noise"])
    r["command"] = " ".join([".venv/bin/python", "benchmarks/bench_ray.py", *map(shlex.quote, raw)])
    r["date"] = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    r["wall_min"] = (time.perf_counter() - started) / 60
    (work / "ray-results.json").write_text(json.dumps(r, indent=1))
    print(render(r))


if __name__ == "__main__":
    main()
