"""Fine-tuning and Adapt runs as the tests start and watch them: the endpoints' arguments in order,
the settings that learn the generated files (``tests/helpers/data.py``) in seconds, the training
children, waiting on a streamed run, a worker's spec by hand, and a stand-in training child."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import psutil
from gradio_client import handle_file

WORKER = "electra_demo.finetune.worker"  # every training child's module starts so

# The tiny checkpoints are random: a high learning rate; each trains in about a second.
CUE_SETTINGS = {"epochs": 4, "learning_rate": 5e-3, "batch_size": 8, "max_length": 32, "seed": 42}
TAG_SETTINGS = dict(CUE_SETTINGS)  # the same settings learn the tagging file
LONG = {"epochs": 20, "batch_size": 1, "max_length": 16, "learning_rate": 1e-4}  # minutes of steps
# Settings of the Adapt runs that must learn
LEARN = {"steps": 60, "learning_rate": 2e-3, "batch_size": 16, "max_length": 32, "mask_fraction": 0.15}
KEYS = ("base", "mode", "epochs", "learning_rate", "batch_size", "max_length", "eval_fraction", "seed")


def endpoint_settings(**settings: Any) -> list:
    """The training endpoints' settings in order (base, mode, epochs, learning_rate, batch_size,
    max_length, eval_fraction, seed): their defaults, with ``settings`` in place."""
    s = {"base": "discriminator", "mode": "full", "epochs": 3, "learning_rate": 5e-5, "batch_size": 16}
    s.update({"max_length": 128, "eval_fraction": 0.2, "seed": 42, **settings})
    return [s[k] for k in KEYS]


def finetune_args(path: Path, **settings: Any) -> list:
    """/finetune's arguments in order (file, text_column, label_column, pair_column, then the
    settings of :func:`endpoint_settings`)."""
    return [handle_file(str(path)), "text", "label", "", *endpoint_settings(**settings)]


def tag_args(path: Path, **settings: Any) -> list:
    """/finetune_tag's arguments in order (file, then the settings of :func:`endpoint_settings`)."""
    return [handle_file(str(path)), *endpoint_settings(**settings)]


def workers() -> list[psutil.Process]:
    """Training children of this process (the test runs the server in-process)."""
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if WORKER in " ".join(child.cmdline()):
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


def wait_for(job, predicate, timeout: float = 240.0) -> dict:
    """The first streamed JSON (last output) of ``job`` that satisfies ``predicate``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for outputs in job.outputs():
            shown = outputs[-1] if isinstance(outputs, (list, tuple)) else None
            if isinstance(shown, dict) and predicate(shown):
                return shown
        if job.done():
            raise AssertionError(f"the job ended first: {job.result()}")
        time.sleep(0.1)
    raise AssertionError(f"nothing matched within {timeout} s; outputs: {job.outputs()[-3:]}")


def worker_spec(tiny_dir: Path, work: Path, texts: list[str], n_eval: int, **settings: Any) -> dict[str, Any]:
    """An Adapt worker's spec, as :class:`electra_demo.finetune.child.Child` writes it."""

    def part(slot: str) -> dict[str, Any]:
        return {
            "slot": slot,
            "source": str(tiny_dir / slot),
            "revision": None,
            "local_files_only": True,
            "id": slot,
        }

    full = {**LEARN, "eval_fraction": 0.2, "seed": 42, **settings, "base": "discriminator", "mode": "adapt"}
    work.mkdir(parents=True, exist_ok=True)
    return {
        "model_id": "ad-" + "0123456789ab" + work.name[-4:].encode().hex()[:4],
        "staging": str(work / "staging"),
        "zip": str(work / "model.zip"),
        "events": str(work / "events.jsonl"),
        "base": part("discriminator"),
        "generator": part("generator"),
        "task": "adapt",
        "train": {"texts": texts[n_eval:]},
        "eval": {"texts": texts[:n_eval]},
        "settings": full,
        "public_settings": {k: v for k, v in full.items() if k not in ("base", "mode")},
        "rows": {"train": len(texts) - n_eval, "eval": n_eval, "dropped": 0},
        "time_limit": 600,
        "threads": 1,
        "card": {
            "base_name": "tiny discriminator",
            "base_id": "a local checkpoint",
            "base_license": "apache-2.0",
            "date": "2026-01-01 00:00",
            "file": "texts.txt",
            "random_base": True,
        },
    }


# Stands in for `python -m <worker> SPEC`: reads the spec, says it started and trains, then
# - with the setting seed 1, fails naming the module it was started as and the run's task;
# - else says it made one step and waits for the file named like the run's uploaded file to appear
#   (the queue tests give an absolute path; a bare file name never appears) or for SIGTERM
#   (cancelled), and ends as that file says: "done", "error", or "die" (exit 3 without a word).
#   A file named "stubborn" notes each SIGTERM and carries on: only SIGKILL stops it.
STUB_CHILD = """
import json, os, signal, sys, time
from pathlib import Path
spec = json.loads(Path(sys.argv[3]).read_text())
events = open(spec["events"], "a")
def say(**event):
    events.write(json.dumps(event) + "\\n"); events.flush()
signal.signal(signal.SIGTERM, lambda *a: (say(event="cancelled"), sys.exit(0)))
release = Path(spec["card"]["file"])
if release.name == "stubborn":  # notes each SIGTERM and carries on: only SIGKILL stops it
    signal.signal(signal.SIGTERM, lambda *a: Path(str(release) + ".sigterm").write_text("got it"))
say(event="started", pid=os.getpid())
say(event="training", max_steps=4)
if spec["settings"]["seed"] == 1:
    say(event="error", message=f"started as {sys.argv[2]} for task {spec['task']}")
    sys.exit(1)
say(event="progress", step=1, epoch=0.25, loss=0.7, max_steps=4, elapsed=0.1, remaining=0.3)
while not (release.is_absolute() and release.exists()):
    time.sleep(0.02)
how = release.read_text()
if how == "die":
    sys.exit(3)
if how == "error":
    say(event="error", message="the base model could not be loaded")
    sys.exit(1)
os.makedirs(spec["staging"])
Path(spec["staging"], "config.json").write_text("{}")
Path(spec["zip"]).write_bytes(b"zip")
metrics = {"accuracy": 1.0, "macro_f1": 1.0, "per_class": {}, "confusion": {"labels": [], "matrix": []}}
result = {"model_id": spec["model_id"], "base": "discriminator", "mode": "full", "labels": spec["labels"],
          "rows": spec["rows"], "settings": spec["public_settings"], "metrics": metrics,
          "history": [{"step": 1, "epoch": 0.25, "loss": 0.7}], "seconds": 0.1, "stopped": "completed"}
say(event="done", result=result, peak_rss_mb=1.0)
"""


def stub_python(folder: Path) -> str:
    """A stand-in interpreter in ``folder`` (for ``Trainings(python=...)``): whatever module it is
    asked to run, it runs :data:`STUB_CHILD`."""
    fake = folder / "fake-python"
    fake.write_text(f"#!{sys.executable}\n{STUB_CHILD}")
    fake.chmod(0o755)
    return str(fake)
