"""Fine-tuning speed (issue 13): seconds per 100 training rows at 128 tokens (``full`` and ``head``),
the training process's peak memory, and ``/classify`` p50 over plain HTTP while a run trains vs idle.

    python benchmarks/bench_finetune.py [--workdir DIR] [--rows 80] [--requests 15] [--out FILE.md]
    python benchmarks/bench_finetune.py --direct [--workdir DIR]   # the training child alone
    python benchmarks/bench_finetune.py --task tag|qa [--rows N]   # tagging / QA children alone
    python benchmarks/bench_finetune.py --kinds [--rows 32] [--ways before,after,fp32]  # issue 27

The app runs as ``python app.py`` with the discriminator (the base of the runs) and the sentiment
head on electra-base-shaped random checkpoints (``benchmarks/checkpoints.py``; the other slots
tiny). Each run: one epoch over ``rows`` rows of exactly 128 tokens ([CLS]/[SEP] included; 80%
trained on, 20% held out), batch size 16, submitted to ``/finetune`` like a visitor does. Seconds per
100 rows come from the run's own ``seconds`` (its training loop) over its training rows; peak memory
is the training child's VmHWM (read from /proc while it runs). ``/classify`` (sentiment, a
128-token text) is timed one request at a time, idle before the runs (the baseline, same server)
and while each run is in its training loop. ``--direct`` runs the training child
(``electra_demo.finetune.worker``) without the app (no gradio needed: for a GPU machine).
``--task tag`` and ``--task qa`` time the tagging and QA children the same way
(``benchmarks/bench_finetune_tasks.py``: seconds per 100 sentences / questions, peak memory).
``--kinds`` runs the four kinds' children (classify, tag, QA, Adapt) at their endpoints' defaults
the old way (``before``: the whole batch at once in fp32), the server's way now (``after``:
micro-batches, lean attention, bf16 autocast where the CPU has it, checkpointing when needed) and
with fp32 forced, in one table with the CPU (``bench_finetune_tasks.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from checkpoints import SHAPE, english_words, ensure_all, make_tokenizer, text_of
from common import GradioHttp, body, cpu_line, launched, log, percentile, vm_hwm_mb

DEFAULT_WORKDIR = Path.home() / ".cache" / "electra-demo" / "bench-http"
WORKER = "electra_demo.finetune.worker"
SETTINGS = {"epochs": 1, "learning_rate": 5e-5, "batch_size": 16, "max_length": 128, "eval_fraction": 0.2}


def rows_of_128_tokens(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """``n`` (text, label) rows, each text exactly 128 tokens with [CLS] and [SEP]."""
    tokenizer = make_tokenizer()
    rng = random.Random(seed)
    words = english_words()
    rows = []
    for i in range(n):
        text = text_of(126, rng, words)
        assert len(tokenizer(text)["input_ids"]) == 128
        rows.append((text, "a" if i % 2 else "b"))
    return rows


# ---- through the app ------------------------------------------------------------------------------
def app_env(paths: dict, work: Path) -> dict[str, str]:
    from electra_demo import config

    env = {k: v for k, v in os.environ.items() if not k.startswith("ELECTRA_DEMO_")}
    for name, slot in config.REGISTRY.items():
        env[slot.env_var] = paths["base"].get(name) or paths["tiny"][name]
    env["ELECTRA_DEMO_CACHE"] = str(work / "onnx-cache")  # bench_app's exports, reused
    env["ELECTRA_DEMO_TRAIN_SECONDS"] = "3600"
    env["ELECTRA_DEMO_FT_MAX"] = "2"
    return env


def upload(url: str, path: Path) -> dict[str, Any]:
    import httpx

    with open(path, "rb") as handle:
        reply = httpx.post(
            url + "gradio_api/upload", files={"files": (path.name, handle, "text/csv")}, timeout=60
        )
    reply.raise_for_status()
    return {"path": reply.json()[0], "orig_name": path.name, "meta": {"_type": "gradio.FileData"}}


class Follower(threading.Thread):
    """Submits one /finetune call over plain HTTP and follows its stream (status, then the result)."""

    def __init__(self, url: str, args: list[Any]):
        super().__init__(daemon=True)
        self.url, self.args = url, args
        self.status: dict[str, Any] = {}
        self.result: dict[str, Any] | None = None
        self.error: str | None = None

    def run(self) -> None:
        import httpx

        with httpx.Client(timeout=None) as http:
            posted = http.post(
                self.url + "gradio_api/call/finetune", content=body(self.args), headers=GradioHttp.HEADERS
            )
            posted.raise_for_status()
            event_id = posted.json()["event_id"]
            event = ""
            with http.stream("GET", f"{self.url}gradio_api/call/finetune/{event_id}") as stream:
                for line in stream.iter_lines():
                    if line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:") and event in ("generating", "complete"):
                        outputs = json.loads(line[5:])
                        last = outputs[-1] if isinstance(outputs, list) and outputs else None
                        if event == "complete" and isinstance(last, dict):
                            self.result = last
                        elif isinstance(last, dict) and "status" in last:  # not a heartbeat's skip
                            self.status = last
                    elif line.startswith("data:") and event == "error":
                        self.error = line[5:].strip()


def worker_pid(app_pid: int) -> int | None:
    import psutil

    for child in psutil.Process(app_pid).children(recursive=True):
        try:
            if WORKER in " ".join(child.cmdline()):
                return child.pid
        except psutil.NoSuchProcess:
            continue
    return None


def timed_classify(http: GradioHttp, payload: bytes, n: int) -> list[float]:
    return [http.timed("classify", payload) for _ in range(n)]


def one_run(app, http: GradioHttp, filedata: dict, mode: str, payload: bytes) -> dict[str, Any]:
    args = [
        filedata,
        "text",
        "label",
        "",
        "discriminator",
        mode,
        SETTINGS["epochs"],
        SETTINGS["learning_rate"],
    ]
    args += [SETTINGS["batch_size"], SETTINGS["max_length"], SETTINGS["eval_fraction"], 42]
    follower = Follower(app.url, args)
    follower.start()
    during: list[float] = []
    peak = 0.0
    pid = None
    while follower.is_alive():
        pid = pid or worker_pid(app.proc.pid)
        if pid:
            peak = max(peak, vm_hwm_mb(pid))  # the high-water mark, read until the child ends
        if follower.status.get("status") == "training":  # its training loop runs
            during.append(http.timed("classify", payload))
            time.sleep(0.2)
        else:
            time.sleep(0.1)
    follower.join()
    if follower.result is None:
        raise RuntimeError(f"/finetune {mode} failed: {follower.error}")
    result = follower.result
    return {
        "mode": mode,
        "train_rows": result["rows"]["train"],
        "seconds": result["seconds"],
        "per_100": result["seconds"] / result["rows"]["train"] * 100,
        "peak_rss_mb": peak,
        "during": during,
        "stopped": result["stopped"],
    }


def bench_app(work: Path, rows: int, requests: int) -> dict[str, Any]:
    paths = ensure_all(work)
    data = work / "finetune-rows.csv"
    import csv

    with open(data, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows_of_128_tokens(rows))
    texts = json.loads(Path(paths["texts"]).read_text())
    payload = body(["sentiment", texts["single"]["128"][0], ""])
    logs = work / "logs"
    logs.mkdir(exist_ok=True)
    out: dict[str, Any] = {"runs": []}
    with launched("finetune-app", ["app.py"], app_env(paths, work), logs) as app, GradioHttp(app.url) as http:
        log("warming /classify (the first call loads, and exports when the cache is cold)")
        timed_classify(http, payload, 3)
        out["idle_before"] = timed_classify(http, payload, requests)
        filedata = upload(app.url, data)
        for mode in ("full", "head"):
            log(f"training ({mode}, {rows} rows, 1 epoch)")
            out["runs"].append(one_run(app, http, filedata, mode, payload))
        out["idle_after"] = timed_classify(http, payload, requests)
    shutil.rmtree(work / "finetuned", ignore_errors=True)  # the benchmark's trained models
    return out


def report_app(out: dict[str, Any], command: str, rows: int) -> str:
    idle = out["idle_before"]
    lines = [
        f"CPU: {cpu_line()[5:]}",
        f"Command: `{command}`",
        "",
        f"Idle `/classify` p50 (sentiment, 128 tokens, plain HTTP, n={len(idle)}): "
        f"**{percentile(idle, 50) * 1000:.0f} ms** before the runs, "
        f"{percentile(out['idle_after'], 50) * 1000:.0f} ms after.",
        "",
        "| mode | rows trained (128 tokens, 1 epoch, batch 16) | training loop | s per 100 rows "
        "| peak RSS of the training process | /classify p50 while it trains (n) | vs idle |",
        "|---|---|---|---|---|---|---|",
    ]
    for run in out["runs"]:
        during = run["during"]
        p50 = percentile(during, 50) if during else float("nan")
        lines.append(
            f"| {run['mode']} | {run['train_rows']} | {run['seconds']:.1f} s | **{run['per_100']:.1f} s** | "
            f"{run['peak_rss_mb']:.0f} MB | {p50 * 1000:.0f} ms ({len(during)}) | "
            f"{p50 / percentile(idle, 50):.2f}x |"
        )
    return "\n".join(lines)


# ---- the training child alone --------------------------------------------------------------------
def base_checkpoint(work: Path) -> Path:
    """An electra-base-shaped ElectraForPreTraining (random weights) and its tokenizer."""
    path = work / "base" / "discriminator"
    if (path / "model.safetensors").is_file():
        return path
    import torch
    from transformers import ElectraConfig, ElectraForPreTraining

    torch.manual_seed(0)
    ElectraForPreTraining(ElectraConfig(**SHAPE)).save_pretrained(path)
    make_tokenizer().save_pretrained(path)
    return path


def bench_direct(work: Path, rows: int) -> list[dict[str, Any]]:
    from electra_demo.finetune.data import split

    base = base_checkpoint(work)
    data = rows_of_128_tokens(rows)
    labels = ["a", "b"]
    train, held = split([label for _, label in data], SETTINGS["eval_fraction"], 42)
    runs = []
    for mode in ("full", "head"):
        folder = work / f"direct-{mode}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)

        def part(indices: list[int]) -> dict[str, Any]:
            return {
                "texts": [data[i][0] for i in indices],
                "labels": [labels.index(data[i][1]) for i in indices],
            }

        spec = {
            "model_id": "ft-" + "0" * 16,
            "staging": str(folder / "model"),
            "zip": str(folder / "model.zip"),
            "events": str(folder / "events.jsonl"),
            "base": {
                "slot": "discriminator",
                "source": str(base),
                "revision": None,
                "local_files_only": True,
                "id": "base",
            },
            "labels": labels,
            "train": part(train),
            "eval": part(held),
            "settings": {"base": "discriminator", "mode": mode, "seed": 42, **SETTINGS},
            "public_settings": SETTINGS,
            "rows": {"train": len(train), "eval": len(held), "dropped": 0},
            "time_limit": 3600,
            "threads": max(1, len(os.sched_getaffinity(0)) - 1),
            "card": {
                "base_name": "base",
                "base_id": "base",
                "base_license": "apache-2.0",
                "date": "-",
                "file": "-",
            },
        }
        (folder / "spec.json").write_text(json.dumps(spec))
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", WORKER, str(folder / "spec.json")],
            check=True,
            cwd=Path(__file__).parent.parent,
        )
        wall = time.perf_counter() - started
        events = [json.loads(line) for line in (folder / "events.jsonl").read_text().splitlines()]
        done = events[-1]
        assert done["event"] == "done", done
        result = done["result"]
        runs.append(
            {
                "mode": mode,
                "train_rows": len(train),
                "seconds": result["seconds"],
                "per_100": result["seconds"] / len(train) * 100,
                "peak_rss_mb": done["peak_rss_mb"],
                "wall": wall,
            }
        )
        shutil.rmtree(folder, ignore_errors=True)
    return runs


def device_line() -> str:
    import torch

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else cpu_line()
    return f"{device}; torch {torch.__version__}; {len(os.sched_getaffinity(0))} usable cores"


def report_direct(runs: list[dict[str, Any]], command: str) -> str:
    lines = [
        f"Device: {device_line()}",
        f"Command: `{command}`",
        "",
        "| mode | rows trained (128 tokens, 1 epoch, batch 16) | training loop | s per 100 rows | peak RSS | "
        "child wall time (imports, load, eval, save) |",
        "|---|---|---|---|---|---|",
    ]
    for run in runs:
        lines.append(
            f"| {run['mode']} | {run['train_rows']} | {run['seconds']:.1f} s | **{run['per_100']:.2f} s** | "
            f"{run['peak_rss_mb']:.0f} MB | {run['wall']:.1f} s |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument("--rows", type=int, default=80, help="rows in the file (80%% trained on)")
    parser.add_argument("--requests", type=int, default=15, help="idle /classify requests timed")
    parser.add_argument("--direct", action="store_true", help="the training child alone, no app")
    parser.add_argument("--out", type=Path, help="also write the table (Markdown) here")
    parser.add_argument(
        "--task", choices=("classify", "tag", "qa"), default="classify", help="tag and qa: the child alone"
    )
    parser.add_argument("--kinds", action="store_true", help="all four kinds' children, before and after")
    parser.add_argument("--ways", default="before,after,fp32", help="--kinds: before (old), after, fp32")
    parser.add_argument("--only", default="classify,tag,qa,adapt", help="--kinds: which kinds")
    args = parser.parse_args(argv)
    command = "python " + " ".join(
        ["benchmarks/bench_finetune.py", *(argv if argv is not None else sys.argv[1:])]
    )
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.kinds:
        from bench_finetune_tasks import bench_kinds, report_kinds

        rows = args.rows if args.rows != 80 else 32  # two steps of 16 a run by default
        ways, kinds = args.ways.split(","), args.only.split(",")
        runs = bench_kinds(args.workdir, base_checkpoint(args.workdir), rows, ways, kinds)
        text = report_kinds(runs, device_line(), command)
    elif args.task != "classify":
        from bench_finetune_tasks import bench_task, report_task

        runs = bench_task(args.workdir, base_checkpoint(args.workdir), args.task, args.rows)
        text = report_task(args.task, runs, device_line(), command)
    elif args.direct:
        text = report_direct(bench_direct(args.workdir, args.rows), command)
    else:
        text = report_app(bench_app(args.workdir, args.rows, args.requests), command, args.rows)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
