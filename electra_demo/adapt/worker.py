"""The adapting child: ``python -m electra_demo.adapt.worker SPEC.json``.

It continues ELECTRA's own pre-training (:mod:`.objective`) of the registry's generator and
discriminator on the visitor's texts, in its own process, speaking the Fine-tune children's events
protocol (:mod:`electra_demo.finetune.worker_common`: ``started``, ``evaluating``, ``training``,
``progress`` with step, loss, mlm_loss, rtd_loss and remaining, ``evaluating``, ``saving``, then
``done``, ``cancelled`` or ``error``). SIGTERM stops it at the next step (nothing is kept); the
time limit stops the training and keeps what it learnt. The held-out texts are corrupted once by
the original generator (:mod:`.evaluate`) and scored before and after.

Saved into the store's staging folder: the discriminator at its top (what ``/detect`` loads),
``generator/`` beside it, ``README.md`` (the model card) and ``training_args.json``; the zip holds
``<id>/discriminator/``, ``<id>/generator/``, those files and ``heldout.jsonl`` (the corrupted
held-out texts with both discriminators' scores: the visitor's texts, in their zip only).
"""

from __future__ import annotations

import json
import random
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

from electra_demo.adapt import GENERATOR, evaluate, objective
from electra_demo.adapt.card import model_card
from electra_demo.finetune.worker_common import (
    Cancelled,
    Events,
    Stop,
    lean_attention,
    main,
    memory_plan,
    prepare,
    trim_heap,
)

HELDOUT = "heldout.jsonl"  # the corrupted held-out texts and both discriminators' scores (zip only)
EXTRAS = ("README.md", "training_args.json")  # beside the two checkpoints
WEIGHT_DECAY = 0.01
WARMUP = 0.1  # of the steps
CLIP = 1.0


def load_pair(spec: dict[str, Any]) -> tuple[Any, Any, Any]:
    """The tokenizer, the generator (``ElectraForMaskedLM``) and the discriminator
    (``ElectraForPreTraining``), safetensors only, no remote code."""
    import transformers

    loaded = []
    for part, cls in ((spec["generator"], "ElectraForMaskedLM"), (spec["base"], "ElectraForPreTraining")):
        kwargs = {
            "revision": part["revision"],
            "local_files_only": part["local_files_only"],
            "trust_remote_code": False,
        }
        try:
            model = getattr(transformers, cls).from_pretrained(part["source"], use_safetensors=True, **kwargs)
        except Exception as error:
            first = str(error).strip().splitlines()[0][:300] if str(error).strip() else ""
            raise RuntimeError(
                f"The {part['slot']} model could not be loaded for adapting from '{part['id']}' "
                f"({type(error).__name__}: {first})."
            ) from error
        loaded.append(model)
    base = spec["base"]
    tokenizer = transformers.AutoTokenizer.from_pretrained(
        base["source"],
        revision=base["revision"],
        local_files_only=base["local_files_only"],
        trust_remote_code=False,
    )
    return tokenizer, *loaded


def _batches(count: int, size: int, seed: int):
    """Training text indices, ``size`` a step, through seeded shuffles of every text (epochs)."""
    rng = random.Random(seed)
    order: list[int] = []
    while True:
        while len(order) < size:
            epoch = list(range(count))
            rng.shuffle(epoch)
            order += epoch
        yield order[:size]
        order = order[size:]


def fit(models: tuple[Any, Any, Any], encoded: list[list[int]], spec: dict, events: Events, stop: Stop):
    """The training loop; returns ``(history, seconds)``. :class:`Cancelled` when cancelled."""
    import torch
    import transformers

    tokenizer, generator, discriminator = models
    settings, memory = spec["settings"], memory_plan(spec)
    steps, seed = settings["steps"], settings["seed"]
    optimizer = torch.optim.AdamW(
        objective.parameter_groups([discriminator, generator], WEIGHT_DECAY),
        lr=settings["learning_rate"],
        fused=bool(memory),  # one kernel for all tensors (as the Trainer): faster, no temporary copies
    )
    schedule = transformers.get_linear_schedule_with_warmup(optimizer, int(steps * WARMUP), steps)
    device = next(discriminator.parameters()).device
    sampler = torch.Generator(device=device).manual_seed(seed)
    special, history = tokenizer.all_special_ids, []
    micro = memory.get("micro_batch", settings["batch_size"])
    generator.train(), discriminator.train()
    events.write(event="training", max_steps=steps)
    start, cpu = time.monotonic(), time.process_time()
    batches = _batches(len(encoded), settings["batch_size"], seed)
    for step in range(1, steps + 1):
        rows = next(batches)
        batch = objective.pad([encoded[i] for i in rows], tokenizer.pad_token_id, special)
        masked = objective.choose_masks(
            batch, settings["mask_fraction"], [objective.mask_seed(seed, step, i) for i in range(len(rows))]
        )
        optimizer.zero_grad(set_to_none=True)
        parts = objective.split(batch, masked, micro)
        mlm, rtd = _accumulate(models, parts, device, sampler, memory.get("precision") == "bf16")
        torch.nn.utils.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]], CLIP)
        optimizer.step()
        schedule.step()
        entry = {"step": step, "loss": mlm + objective.RTD_WEIGHT * rtd, "mlm_loss": mlm, "rtd_loss": rtd}
        history.append(entry)
        elapsed = time.monotonic() - start
        halt = stop.should_stop(elapsed)
        remaining = 0.0 if halt else elapsed / step * (steps - step)
        epoch = round(step * settings["batch_size"] / len(encoded), 4)
        events.write(
            event="progress", **entry, epoch=epoch, max_steps=steps, elapsed=elapsed, remaining=remaining
        )
        if halt:
            break
    if stop.cancelled:
        raise Cancelled
    events.write(event="trained", cpu_seconds=round(time.process_time() - cpu, 3))
    return history, time.monotonic() - start


def _accumulate(models: tuple[Any, Any, Any], parts: list, device: Any, sampler: Any, bf16: bool):
    """Forward and backward every micro-batch of a step (in bf16 autocast when ``bf16``), each
    loss weighted by its share, so the gradients add up to the whole batch's; the batch's MLM and
    replaced-token losses."""
    import torch

    mlm_total = rtd_total = 0.0
    for part in parts:
        here = objective.Part(part.batch.to(device), part.masked.to(device), part.share_mlm, part.share_rtd)
        mlm, rtd = objective.backward(
            models, here, sampler, lambda: torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)
        )
        mlm_total += mlm
        rtd_total += rtd
        trim_heap()
    return mlm_total, rtd_total


def score(models: tuple[Any, Any, Any], heldout: list, batch_size: int) -> tuple[dict, list]:
    """The held-out figures of these models, and the discriminator's probabilities."""
    tokenizer, generator, discriminator = models
    size = max(batch_size, 32)
    probabilities = evaluate.discriminator_probabilities(discriminator, tokenizer, heldout, size)
    guesses = evaluate.generator_guesses(generator, tokenizer, heldout, size)
    return evaluate.figures(heldout, probabilities, guesses), probabilities


def train(spec: dict[str, Any], events: Events, stop: Stop) -> dict[str, Any]:
    import torch

    prepare(spec)
    settings = spec["settings"]
    tokenizer, generator, discriminator = load_pair(spec)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    models = (tokenizer, generator.to(device), discriminator.to(device))
    memory = memory_plan(spec)
    if memory.get("lean_attention"):
        lean_attention(generator, discriminator)
    if memory.get("checkpointing"):
        for model in (generator, discriminator):
            model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    if stop.cancelled:
        raise Cancelled
    events.write(event="evaluating")
    length, fraction, seed = settings["max_length"], settings["mask_fraction"], settings["seed"]
    heldout = evaluate.corrupt_heldout(
        generator, tokenizer, objective.encode(tokenizer, spec["eval"]["texts"], length), fraction, seed, 32
    )
    before, before_probabilities = score(models, heldout, settings["batch_size"])
    tied = objective.tie_embeddings(generator, discriminator)
    history, seconds = fit(
        models, objective.encode(tokenizer, spec["train"]["texts"], length), spec, events, stop
    )
    events.write(event="evaluating")
    after, after_probabilities = score(models, heldout, settings["batch_size"])
    result = {
        "model_id": spec["model_id"],
        "rows": spec["rows"],
        "settings": spec["public_settings"],
        "before": before,
        "after": after,
        "history": history,
        "seconds": round(seconds, 3),
        "stopped": stop.reason,
    }
    events.write(event="saving")
    records = [
        {
            "text": text,
            "tokens": tokenizer.convert_ids_to_tokens(h.corrupted),
            **h.to_json(),
            "before": [round(p, 6) for p in b],
            "after": [round(p, 6) for p in a],
        }
        for text, h, b, a in zip(
            spec["eval"]["texts"], heldout, before_probabilities, after_probabilities, strict=True
        )
    ]
    save(models, spec, result, records, tied)
    if torch.cuda.is_available():  # for benchmarks/bench_adapt.py (the server ignores this event)
        events.write(event="memory", cuda_peak_mb=round(torch.cuda.max_memory_allocated() / 2**20, 1))
    return result


def save(models: tuple[Any, Any, Any], spec: dict, result: dict, records: list[dict], tied: bool) -> None:
    """Both checkpoints and the card into the staging folder, then the zip, which also holds the
    held-out texts (the visitor's own texts go into their zip only, never into the store)."""
    tokenizer, generator, discriminator = models
    folder = Path(spec["staging"])
    discriminator.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    generator.save_pretrained(folder / GENERATOR)
    tokenizer.save_pretrained(folder / GENERATOR)
    facts = {k: result[k] for k in ("rows", "settings", "before", "after", "seconds", "stopped")}
    arguments = {"electra_demo": {**facts, "task": "adapt", "tied_embeddings": tied}}
    (folder / "training_args.json").write_text(json.dumps(arguments, indent=2))
    (folder / "README.md").write_text(model_card(result, {**spec["card"], "tied": tied}), encoding="utf-8")
    zip_path = Path(spec["zip"])
    partial = zip_path.with_suffix(".partial")
    root = spec["model_id"]
    with zipfile.ZipFile(partial, "w") as archive:
        for path in sorted(folder.rglob("*")):
            if not path.is_file():
                continue
            relative = path.relative_to(folder)
            if relative.parts[0] == GENERATOR or relative.name in EXTRAS:
                name = f"{root}/{relative.as_posix()}"
            else:
                name = f"{root}/discriminator/{relative.as_posix()}"
            packed = zipfile.ZIP_STORED if path.suffix == ".safetensors" else zipfile.ZIP_DEFLATED
            archive.write(path, name, compress_type=packed)
        lines = "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
        archive.writestr(f"{root}/{HELDOUT}", lines, compress_type=zipfile.ZIP_DEFLATED)
    partial.rename(zip_path)


if __name__ == "__main__":
    sys.exit(main(train))
