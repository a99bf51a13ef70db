"""What every training child shares: the events file, stopping, loading the base, the Trainer's
arguments, saving the checkpoint and its zip, and ``main``.

A child is ``python -m electra_demo.finetune.<worker> SPEC.json`` (:data:`electra_demo.trained.kinds.KINDS`
names the module per task), started by :mod:`electra_demo.finetune.child`; its module calls
:func:`main` with its own ``train(spec, events, stop) -> result``. One process per run, so that
accelerate's and the Trainer's process-wide state never touch the serving process and the memory
goes back when it ends. A callback appends progress to a JSON-lines file the server reads, and
stops the run on SIGTERM (cancel), when the server process is gone, or at the time limit (the
model trained so far is then evaluated and kept). Then: held-out metrics, ``save_pretrained``
into the store's staging folder (with the tokenizer, ``training_args.json`` and a ``README.md``
model card) and the zip to download.

Events (one JSON object a line): ``training`` (max_steps), ``progress`` (step, epoch, loss,
elapsed, remaining), ``trained`` (the CPU seconds of the training loop, for the benchmarks),
``evaluating``, ``saving``, then one of ``done`` (the run's JSON), ``cancelled`` or ``error`` (a
message for the visitor).
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import signal
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

RANDOM_WEIGHTS_MARK = "electra_demo_random_weights"


class Cancelled(Exception):
    """The run was cancelled (SIGTERM) or the server went away: nothing is saved."""


class Events:
    """Appends one JSON object a line, flushed at once (the server tails the file)."""

    def __init__(self, path: str | Path):
        self.handle = open(path, "a", encoding="utf-8")  # open for the process's life

    def write(self, **event: Any) -> None:
        self.handle.write(json.dumps(event) + "\n")
        self.handle.flush()


class Stop:
    """Why training should stop: cancel (a signal), the server gone, or the time limit."""

    def __init__(self, time_limit: float):
        self.time_limit = time_limit
        self.cancelled = False
        self.reason = "completed"
        self.parent = os.getppid()

    def cancel(self, *_: Any) -> None:
        self.cancelled = True

    def should_stop(self, elapsed: float) -> bool:
        if self.cancelled or os.getppid() != self.parent:
            self.cancelled = True
            return True
        if elapsed >= self.time_limit:
            self.reason = "time_limit"
            return True
        return False


def callback(events: Events, stop: Stop, history: list[dict[str, Any]]):
    from transformers import TrainerCallback

    class Progress(TrainerCallback):
        """Writes each step's loss with the time spent and left; stops when told to."""

        start = time.monotonic()

        def on_train_begin(self, args, state, control, **kwargs):
            self.start = time.monotonic()
            events.write(event="training", max_steps=state.max_steps)

        def on_substep_end(self, args, state, control, **kwargs):
            trim_heap()  # between micro-batches

        def on_step_end(self, args, state, control, **kwargs):
            trim_heap()
            if stop.should_stop(time.monotonic() - self.start):
                control.should_training_stop = True

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not logs or "loss" not in logs:
                return
            elapsed = time.monotonic() - self.start
            step = state.global_step
            entry = {"step": step, "epoch": round(float(state.epoch or 0), 4), "loss": float(logs["loss"])}
            history.append(entry)
            remaining = elapsed / max(step, 1) * max(state.max_steps - step, 0)
            if stop.reason == "time_limit" or stop.cancelled:
                remaining = 0.0
            events.write(
                event="progress", **entry, max_steps=state.max_steps, elapsed=elapsed, remaining=remaining
            )

    return Progress()


def trim_heap() -> None:
    """Give the C heap's free pages back to the system (glibc's ``malloc_trim``), between
    micro-batches and after each step: the blocks a micro-batch frees lie between the ones that
    live on (the gradients, the optimizer's state) and would otherwise stay resident, some 100 to
    300 MB on electra-base."""
    global _LIBC
    if _LIBC is None:
        try:
            _LIBC = ctypes.CDLL("libc.so.6")
        except OSError:  # not glibc
            _LIBC = False
    if _LIBC:
        _LIBC.malloc_trim(0)


_LIBC: Any = None


def load_base(spec: dict[str, Any], auto_class: str, **head: Any) -> tuple[Any, Any]:
    """The base slot's tokenizer and its model as ``transformers.<auto_class>`` with a new head
    (``head``: its config arguments); the encoder frozen in head mode."""
    import transformers

    base = spec["base"]
    kwargs = {
        "revision": base["revision"],
        "trust_remote_code": False,
        "local_files_only": base["local_files_only"],
    }
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(base["source"], **kwargs)
        model = getattr(transformers, auto_class).from_pretrained(
            base["source"],
            ignore_mismatched_sizes=True,  # a base with another head (e.g. emotion's 6 classes)
            use_safetensors=True,
            **head,
            **kwargs,
        )
    except Exception as error:
        first = str(error).strip().splitlines()[0][:300] if str(error).strip() else ""
        reason = f"{type(error).__name__}: {first}"
        raise RuntimeError(
            f"The base model {base['slot']} could not be loaded for training from '{base['id']}' ({reason})."
        ) from error
    if spec["settings"]["mode"] == "head":
        for parameter in model.base_model.parameters():
            parameter.requires_grad_(False)
    if memory_plan(spec).get("lean_attention"):
        lean_attention(model)
    return tokenizer, model


def memory_plan(spec: dict[str, Any]) -> dict[str, Any]:
    """The server's :class:`~electra_demo.finetune.memory.MemoryPlan` of the run; empty when the
    spec has none (the old way: the whole batch at once, fp32, every activation kept; the
    benchmarks' baseline)."""
    return spec.get("memory") or {}


def lean_attention(*models: Any) -> None:
    """PyTorch's fused attention (``sdpa``) with no attention-probability dropout, which its CPU
    kernel lacks (with dropout, ``sdpa`` falls back to the matrices of plain attention); the
    models' configs keep their dropout value, which inference ignores."""
    for model in models:
        model.set_attn_implementation("sdpa")
        for module in model.modules():
            if type(module).__name__.endswith("SelfAttention") and hasattr(module, "dropout"):
                module.dropout.p = 0.0


def prepare(spec: dict[str, Any]) -> None:
    """Threads, quiet logging and the seed (the new head's initial weights too)."""
    import torch
    import transformers

    torch.set_num_threads(int(spec["threads"]))
    transformers.logging.set_verbosity_error()
    transformers.set_seed(spec["settings"]["seed"])


def trainer(spec: dict[str, Any], model: Any, rows: list, collator: Any, events: Events, stop: Stop):
    """transformers' ``Trainer`` with the run's settings, its progress going to the events file;
    returns ``(trainer, history)``."""
    import torch
    import transformers

    settings, memory = spec["settings"], memory_plan(spec)
    args = transformers.TrainingArguments(
        output_dir=str(Path(spec["events"]).parent / "trainer"),
        num_train_epochs=settings["epochs"],
        learning_rate=settings["learning_rate"],
        per_device_train_batch_size=memory.get("micro_batch", settings["batch_size"]),
        gradient_accumulation_steps=memory.get("accumulation", 1),
        activation_checkpointing=memory.get("checkpointing", False),
        activation_checkpointing_kwargs={"use_reentrant": False},
        bf16=memory.get("precision") == "bf16",  # autocast on the CPU; weights and Adam stay fp32
        per_device_eval_batch_size=max(settings["batch_size"], 32),
        logging_strategy="steps",
        logging_steps=1,
        save_strategy="no",
        eval_strategy="no",
        report_to="none",
        disable_tqdm=True,
        seed=settings["seed"],
        data_seed=settings["seed"],
        dataloader_num_workers=0,
        use_cpu=not torch.cuda.is_available(),
    )
    history: list[dict[str, Any]] = []
    built = transformers.Trainer(
        model=model,
        args=args,
        train_dataset=rows,
        data_collator=collator,
        callbacks=[callback(events, stop, history)],
    )
    built.remove_callback(transformers.PrinterCallback)  # progress goes to the events file
    # ELECTRA's heads take **kwargs but average their own loss: without this, the Trainer would not
    # divide each micro-batch's loss by the accumulation steps
    built.model_accepts_loss_kwargs = False
    return built, history


def fit(built: Any, stop: Stop, events: Events) -> float:
    """Train; the seconds it took. :class:`Cancelled` when it was cancelled."""
    started, cpu = time.monotonic(), time.process_time()
    built.train()
    if stop.cancelled:
        raise Cancelled
    events.write(event="trained", cpu_seconds=round(time.process_time() - cpu, 3))
    return time.monotonic() - started


def result_head(spec: dict[str, Any], seconds: float, stop: Stop, history: list) -> dict[str, Any]:
    """The run's JSON but its metrics: the same keys for every task."""
    settings = spec["settings"]
    return {
        "model_id": spec["model_id"],
        "base": settings["base"],
        "mode": settings["mode"],
        "task": spec["task"],
        "labels": spec["labels"],
        "rows": spec["rows"],
        "settings": spec["public_settings"],
        "metrics": None,
        "history": history,
        "seconds": round(seconds, 3),
        "stopped": stop.reason,
    }


def save(built: Any, tokenizer: Any, spec: dict[str, Any], result: dict[str, Any], card: str) -> None:
    """The checkpoint into the staging folder, then the zip (``<model_id>/...``) to download."""
    folder = Path(spec["staging"])
    model = built.model
    model.config.__dict__.pop(RANDOM_WEIGHTS_MARK, None)  # it was trained: not "meaningless" any more
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    trainer_args = json.loads(built.args.to_json_string())
    for private in ("output_dir", "logging_dir"):  # server paths
        trainer_args.pop(private, None)
    facts = ("base", "mode", "task", "labels", "rows", "settings")
    arguments = {"electra_demo": {k: result[k] for k in facts}, "training_arguments": trainer_args}
    (folder / "training_args.json").write_text(json.dumps(arguments, indent=2))
    (folder / "README.md").write_text(card, encoding="utf-8")
    zip_path = Path(spec["zip"])
    partial = zip_path.with_suffix(".partial")
    with zipfile.ZipFile(partial, "w") as archive:
        for path in sorted(folder.iterdir()):
            packed = zipfile.ZIP_STORED if path.suffix == ".safetensors" else zipfile.ZIP_DEFLATED
            archive.write(path, f"{spec['model_id']}/{path.name}", compress_type=packed)
    partial.rename(zip_path)


Train = Callable[[dict[str, Any], Events, Stop], dict[str, Any]]


def main(train: Train, argv: list[str] | None = None) -> int:
    """Run ``train`` on the spec file named by ``argv[0]``, writing the events."""
    argv = sys.argv[1:] if argv is None else argv
    spec = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    events = Events(spec["events"])
    stop = Stop(float(spec["time_limit"]))
    signal.signal(signal.SIGTERM, stop.cancel)
    signal.signal(signal.SIGINT, stop.cancel)
    events.write(event="started", pid=os.getpid())
    try:
        result = train(spec, events, stop)
    except Cancelled:
        events.write(event="cancelled")
        return 0
    except Exception as error:  # noqa: BLE001 - reported to the visitor as a message
        message = str(error).strip().splitlines()[0][:500] if str(error).strip() else type(error).__name__
        if isinstance(error, MemoryError) or "out of memory" in message.lower():
            message = "The training ran out of memory; try a smaller batch size or maximum length."
        events.write(event="error", message=message, kind=type(error).__name__)
        return 1
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    events.write(event="done", result=result, peak_rss_mb=round(peak, 1))
    return 0
