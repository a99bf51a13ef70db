"""Shared by the Adapt tests: a corpus with strong regularities, and the worker's spec by hand.

The corpus: sentences from three templates over a few subjects, verbs, objects and places, all
whole words of the tiny tokenizer's vocabulary (its training sentences), so the original random
generator's samples (any token) stand out once the discriminator has learnt the templates.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

SUBJECTS = ["the chef", "the fox", "the dog", "marie curie", "the generator"]
VERBS = ["cooked", "jumps over", "finds", "loved", "replaces"]
OBJECTS = ["the meal", "the lazy dog", "the kitchen", "this movie", "some words"]
PLACES = ["in paris", "in the kitchen", "in berlin", "at the university"]
# Settings of the runs that must learn (the tiny checkpoints are random: a high learning rate)
LEARN = {"steps": 60, "learning_rate": 2e-3, "batch_size": 16, "max_length": 32, "mask_fraction": 0.15}


def corpus(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        s, v, o, p = rng.choice(SUBJECTS), rng.choice(VERBS), rng.choice(OBJECTS), rng.choice(PLACES)
        template = rng.randrange(3)
        out.append(
            [f"{s} {v} {o} {p}.", f"{p}, {s} {v} {o}.", f"{s} {v} {o} and {o}."][template].capitalize()
        )
    return out


def write_txt(path: Path, texts: list[str]) -> Path:
    path.write_text("\n".join(texts) + "\n", encoding="utf-8")
    return path


def worker_spec(tiny_dir: Path, work: Path, texts: list[str], n_eval: int, **settings: Any) -> dict[str, Any]:
    """What the child reads, as :class:`electra_demo.finetune.child.Child` writes it."""

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
