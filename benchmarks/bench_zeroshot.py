"""/zeroshot's latency beside /detect's: 2, 5 and 20 labels, both methods, on 128-token texts.

    .venv/bin/python benchmarks/bench_zeroshot.py [--workdir DIR] [--rounds N] [--texts N]

On random electra-base-shaped checkpoints (benchmarks/checkpoints.py's discriminator, and an NLI
head of the same shape with MNLI's three labels, built here), served by ``python app.py`` in its
own process on the app's default backend (the export cache filled first; timing starts once
neither slot serves from PyTorch while its export runs; the table names what each runs on), timed
over plain HTTP (common.GradioHttp: every argument sent, the clock on the POST and the event
stream only).

Each label is one input of the text (126 word pieces) and the filled template ``It was {}.``:
``rtd`` reads ``[CLS] text It was <label>. [SEP]``, ``nli`` the pair
``[CLS] text [SEP] It was <label>. [SEP]``; all of one call's labels go to the model as one batch.
The labels are single-token English words. Each round times, text by text and in turn, /detect
(the same text) and /zeroshot with each method and label count, so background load falls on all
alike; the table gives medians, p90 and the ratio to /detect's median.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
sys.path.insert(0, str(Path(__file__).resolve().parent))

import checkpoints
from bench_app import our_env
from common import GradioHttp, body, footer, in_turn, log, percentile, time_app

DEFAULT_WORKDIR = Path("~/.cache/electra-demo/bench").expanduser()
COUNTS = (2, 5, 20)
METHODS = ("rtd", "nli")
SLOTS = ("discriminator", "nli")
TEMPLATE = "It was {}."
LABELS = (
    "music game food travel money family school movie garden river "
    "kitchen theater country government company story letter ocean forest desert"
).split()
NLI_LABELS = ("entailment", "neutral", "contradiction")


def build_nli(workdir: Path) -> str:
    """An electra-base-shaped NLI head (random weights, MNLI's labels) unless already there."""
    path = workdir / "base" / "nli"
    if not (path / "model.safetensors").is_file():
        import torch
        import transformers

        torch.manual_seed(28)
        cfg = transformers.ElectraConfig(
            **checkpoints.SHAPE,
            num_labels=3,
            id2label=dict(enumerate(NLI_LABELS)),
            label2id={label: i for i, label in enumerate(NLI_LABELS)},
        )
        cfg.electra_demo_random_weights = True
        transformers.ElectraForSequenceClassification(cfg).save_pretrained(path, safe_serialization=True)
        checkpoints.make_tokenizer().save_pretrained(path)
    return str(path)


def prepare(workdir: Path) -> tuple[dict[str, str], list[str]]:
    """The app's environment (base discriminator and NLI head, the rest tiny; the export cache
    filled) and the 128-token texts."""
    paths = checkpoints.ensure_all(workdir)
    paths["base"] = {**paths["base"], "nli": build_nli(workdir)}
    vocabulary = checkpoints.vocabulary()
    assert all(label in vocabulary for label in LABELS) and len(set(LABELS)) == max(COUNTS)
    env = {**our_env(paths, workdir / "onnx-cache"), "ELECTRA_DEMO_PRELOAD": ",".join(SLOTS)}
    from electra_demo.service import ModelService

    service = ModelService(environ=env)
    for slot in SLOTS:  # export now, at normal priority, into the cache
        log(f"{slot}: {service.load(slot).backend}")
    texts = json.loads(Path(paths["texts"]).read_text())["single"]["128"]
    return env, texts


def calls_for(texts: list[str]) -> dict[str, list[tuple[str, bytes]]]:
    """Every timed call's body, built before the clock starts: /detect, then each method and count."""
    calls = {"detect": [("/detect", body([text, 0.5, ""])) for text in texts]}
    for method in METHODS:
        for count in COUNTS:
            labels = ", ".join(LABELS[:count])
            calls[f"{method} {count}"] = [
                ("/zeroshot", body([text, labels, TEMPLATE, method, False])) for text in texts
            ]
    return calls


def time_in_turn(url: str, texts: list[str], rounds: int) -> dict[str, list[float]]:
    """Seconds per call of each kind, text by text, in turn."""
    calls = calls_for(texts)
    with GradioHttp(url) as http:
        for method in METHODS:  # the answer has every label (checked once, off the clock)
            *_, answer = http.call("/zeroshot", [texts[0], ", ".join(LABELS), TEMPLATE, method, False])
            assert len(answer["labels"]) == max(COUNTS) and answer["method"] == method, answer
        return in_turn(http, calls, rounds)


def table(times: dict[str, list[float]], rounds: int, texts: int, noise: dict, backends: list[str]) -> str:
    detect = statistics.median(times["detect"])
    lines = [
        f"128-token texts, {texts} texts x {rounds} rounds, in turn; template {TEMPLATE!r}; plain HTTP; "
        "medians.",
        "",
        "| call | method | labels | median ms | p90 ms | x /detect |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for kind, values in times.items():
        name, method, count = ("/detect", "-", "-") if kind == "detect" else ("/zeroshot", *kind.split())
        median = statistics.median(values)
        lines.append(
            f"| {name} | {method} | {count} | {median * 1e3:.0f} | {percentile(values, 90) * 1e3:.0f} | "
            f"{median / detect:.2f} |"
        )
    return "\n".join(lines + footer(noise, backends))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--texts", type=int, default=4, help="128-token texts per round (1-4)")
    args = parser.parse_args(argv)
    env, texts = prepare(args.workdir)
    texts = texts[: args.texts]
    times, noise, backends = time_app(
        "zeroshot", env, args.workdir, SLOTS, lambda url: time_in_turn(url, texts, args.rounds)
    )
    print(table(times, args.rounds, len(texts), noise, backends))


if __name__ == "__main__":
    main()
