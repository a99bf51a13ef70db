"""The training child process: ``python -m electra_demo.finetune.worker SPEC.json``.

One process per run, started by :mod:`electra_demo.finetune.jobs`, so that accelerate's and the
Trainer's process-wide state never touch the serving process and the memory goes back when it
ends. It fine-tunes ``AutoModelForSequenceClassification`` from the base slot's checkpoint
(safetensors only, no remote code) with transformers' ``Trainer``; a callback appends progress
to a JSON-lines file the server reads, and stops the run on SIGTERM (cancel), when the server
process is gone, or at the time limit (the model trained so far is then evaluated and kept).
Then: held-out metrics, ``save_pretrained`` into the store's staging folder (with the tokenizer,
``training_args.json`` and a ``README.md`` model card) and the zip to download.

Events (one JSON object a line): ``training`` (max_steps), ``progress`` (step, epoch, loss,
elapsed, remaining), ``evaluating``, ``saving``, then one of ``done`` (the run's JSON),
``cancelled`` or ``error`` (a message for the visitor).
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

from .card import model_card
from .metrics import classification_metrics

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


def _callback(events: Events, stop: Stop, history: list[dict[str, Any]]):
    from transformers import TrainerCallback

    class Progress(TrainerCallback):
        """Writes each step's loss with the time spent and left; stops when told to."""

        start = time.monotonic()

        def on_train_begin(self, args, state, control, **kwargs):
            self.start = time.monotonic()
            events.write(event="training", max_steps=state.max_steps)

        def on_step_end(self, args, state, control, **kwargs):
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


def _encode(tokenizer: Any, part: dict[str, Any], max_length: int) -> list[dict[str, Any]]:
    pairs = part.get("pairs")
    rows = []
    for i, text in enumerate(part["texts"]):
        encoded = tokenizer(
            text,
            pairs[i] if pairs else None,
            truncation=True,
            max_length=max_length,
            split_special_tokens=True,
        )
        rows.append({**encoded, "labels": part["labels"][i]})
    return rows


def _load(spec: dict[str, Any]) -> tuple[Any, Any]:
    import transformers

    base = spec["base"]
    labels = spec["labels"]
    kwargs = {
        "revision": base["revision"],
        "trust_remote_code": False,
        "local_files_only": base["local_files_only"],
    }
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(base["source"], **kwargs)
        model = transformers.AutoModelForSequenceClassification.from_pretrained(
            base["source"],
            num_labels=len(labels),
            id2label=dict(enumerate(labels)),
            label2id={label: i for i, label in enumerate(labels)},
            problem_type="single_label_classification",
            ignore_mismatched_sizes=True,  # a base with another head (e.g. emotion's 6 classes)
            use_safetensors=True,
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
    return tokenizer, model


def train(spec: dict[str, Any], events: Events, stop: Stop) -> dict[str, Any]:
    import torch
    import transformers

    torch.set_num_threads(int(spec["threads"]))
    transformers.logging.set_verbosity_error()
    settings = spec["settings"]
    transformers.set_seed(settings["seed"])  # the new head's initial weights too
    tokenizer, model = _load(spec)
    if stop.cancelled:
        raise Cancelled
    train_rows = _encode(tokenizer, spec["train"], settings["max_length"])
    eval_rows = _encode(tokenizer, spec["eval"], settings["max_length"])
    args = transformers.TrainingArguments(
        output_dir=str(Path(spec["events"]).parent / "trainer"),
        num_train_epochs=settings["epochs"],
        learning_rate=settings["learning_rate"],
        per_device_train_batch_size=settings["batch_size"],
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
    trainer = transformers.Trainer(
        model=model,
        args=args,
        train_dataset=train_rows,
        data_collator=transformers.DataCollatorWithPadding(tokenizer),
        callbacks=[_callback(events, stop, history)],
    )
    trainer.remove_callback(transformers.PrinterCallback)  # progress goes to the events file
    started = time.monotonic()
    trainer.train()
    seconds = time.monotonic() - started
    if stop.cancelled:
        raise Cancelled
    events.write(event="evaluating")
    logits = trainer.predict(eval_rows).predictions
    predicted = logits.argmax(axis=-1).tolist()
    result = {
        "model_id": spec["model_id"],
        "base": settings["base"],
        "mode": settings["mode"],
        "labels": spec["labels"],
        "rows": spec["rows"],
        "settings": spec["public_settings"],
        "metrics": classification_metrics(spec["eval"]["labels"], predicted, spec["labels"]),
        "history": history,
        "seconds": round(seconds, 3),
        "stopped": stop.reason,
    }
    events.write(event="saving")
    _save(trainer, tokenizer, spec, result)
    return result


def _save(trainer: Any, tokenizer: Any, spec: dict[str, Any], result: dict[str, Any]) -> None:
    """The checkpoint into the staging folder, then the zip (``<model_id>/...``) to download."""
    folder = Path(spec["staging"])
    model = trainer.model
    model.config.__dict__.pop(RANDOM_WEIGHTS_MARK, None)  # it was trained: not "meaningless" any more
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    trainer_args = json.loads(trainer.args.to_json_string())
    for private in ("output_dir", "logging_dir"):  # server paths
        trainer_args.pop(private, None)
    arguments = {"electra_demo": {k: result[k] for k in ("base", "mode", "labels", "rows", "settings")}}
    arguments["training_arguments"] = trainer_args
    (folder / "training_args.json").write_text(json.dumps(arguments, indent=2))
    (folder / "README.md").write_text(model_card(result, spec["card"]), encoding="utf-8")
    zip_path = Path(spec["zip"])
    partial = zip_path.with_suffix(".partial")
    with zipfile.ZipFile(partial, "w") as archive:
        for path in sorted(folder.iterdir()):
            packed = zipfile.ZIP_STORED if path.suffix == ".safetensors" else zipfile.ZIP_DEFLATED
            archive.write(path, f"{spec['model_id']}/{path.name}", compress_type=packed)
    partial.rename(zip_path)


def main(argv: list[str] | None = None) -> int:
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


if __name__ == "__main__":
    sys.exit(main())
