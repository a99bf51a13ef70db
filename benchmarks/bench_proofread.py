"""/proofread's latency beside /detect's: a 128-token text with 0, 4 and 16 flagged words.

    .venv/bin/python benchmarks/bench_proofread.py [--workdir DIR] [--rounds N] [--texts N]

On random electra-base-shaped checkpoints (benchmarks/checkpoints.py's discriminator; the
generator in electra-base-generator's shape, hidden 256, as bench_adapt.py builds it), served by
``python app.py`` in its own process on the app's default backend (the export cache filled first;
timing starts once neither slot serves from PyTorch while its export runs; the table names what
each runs on), timed over plain HTTP (common.GradioHttp: every argument sent, the clock on the POST
and the event stream only).

How many words are flagged is set by the threshold: for each text, /detect (untimed) gives every
word's P(replaced); the threshold for n flagged words is halfway between the n-th and the
(n+1)-th highest (1.0 for none), and an untimed /proofread checks that exactly n words were
flagged and got suggestions. A text with two words scoring alike at a cut (bf16 serving rounds
many scores to the same value) is replaced by another 128-token text made the same way (seeded).
top_k is 3 (the default). Each round times, text by text and in turn, /detect (threshold 0.5) and
/proofread with 0, 4 and 16 flagged words, so background load falls on all alike; the table gives
medians, p90 and the ratio to /detect's median.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
sys.path.insert(0, str(Path(__file__).resolve().parent))

import checkpoints
from bench_adapt import GENERATOR_SHAPE, build
from bench_app import our_env
from common import GradioHttp, body, footer, in_turn, log, percentile, time_app

DEFAULT_WORKDIR = Path("~/.cache/electra-demo/bench").expanduser()
FLAGGED = (0, 4, 16)
TOP_K = 3
SLOTS = ("discriminator", "generator")


def prepare(workdir: Path) -> tuple[dict[str, str], list[str]]:
    """The app's environment (base discriminator and generator, the rest tiny; the export cache
    filled) and the 128-token texts."""
    paths = checkpoints.ensure_all(workdir)
    paths["base"] = {
        **paths["base"],
        "generator": build(workdir, "generator", "ElectraForMaskedLM", GENERATOR_SHAPE, 7),
    }
    env = {**our_env(paths, workdir / "onnx-cache"), "ELECTRA_DEMO_PRELOAD": ",".join(SLOTS)}
    from electra_demo.service import ModelService

    service = ModelService(environ=env)
    for slot in SLOTS:  # export now, at normal priority, into the cache
        log(f"{slot}: {service.load(slot).backend}")
    texts = json.loads(Path(paths["texts"]).read_text())["single"]["128"]
    return env, texts


def thresholds(http: GradioHttp, text: str) -> dict[int, float] | None:
    """For each count in FLAGGED, a threshold that flags exactly that many words of ``text``; None
    when two words score alike at a cut (bf16 serving rounds many scores to the same value)."""
    *_, detected = http.call("/detect", [text, 0.5, ""])
    ranked = sorted((w["probability"] for w in detected["words"]), reverse=True)
    out = {0: 1.0}
    for n in FLAGGED[1:]:
        if ranked[n - 1] - ranked[n] < 1e-6:
            return None
        out[n] = (ranked[n - 1] + ranked[n]) / 2
    for n, threshold in out.items():
        *_, proofread = http.call("/proofread", [text, threshold, TOP_K, ""])
        if not proofread["flagged"] == n == len(proofread["suggestions"]):
            return None
    return out


def pick_texts(http: GradioHttp, texts: list[str], want: int) -> list[tuple[str, dict[int, float]]]:
    """``want`` 128-token texts whose words can be cut at every count of FLAGGED: checkpoints.py's,
    then more made the same way (seeded), as many as it takes."""
    tokenizer, rng, words = checkpoints.make_tokenizer(), random.Random(28), checkpoints.english_words()
    chosen: list[tuple[str, dict[int, float]]] = []
    candidates = iter(texts)
    for _ in range(50):
        text = next(candidates, None) or checkpoints.text_of(126, rng, words)
        assert len(tokenizer(text)["input_ids"]) == 128
        cuts = thresholds(http, text)
        if cuts is not None:
            chosen.append((text, cuts))
        if len(chosen) == want:
            return chosen
    raise SystemExit(f"only {len(chosen)} of 50 texts could be cut at {FLAGGED} flagged words")


def time_in_turn(url: str, texts: list[str], rounds: int) -> dict[str, list[float]]:
    """Seconds per call: /detect and /proofread at each flagged count, text by text, in turn."""
    with GradioHttp(url) as http:
        picked = pick_texts(http, texts, len(texts))
        texts, cuts = [text for text, _ in picked], [cut for _, cut in picked]
        calls = {
            "detect": [("/detect", body([text, 0.5, ""])) for text in texts],
            **{
                str(n): [
                    ("/proofread", body([text, cut[n], TOP_K, ""]))
                    for text, cut in zip(texts, cuts, strict=True)
                ]
                for n in FLAGGED
            },
        }
        return in_turn(http, calls, rounds)


def table(times: dict[str, list[float]], rounds: int, texts: int, noise: dict, backends: list[str]) -> str:
    detect = statistics.median(times["detect"])
    lines = [
        f"128-token texts, {texts} texts x {rounds} rounds, in turn; top_k {TOP_K}; plain HTTP; medians.",
        "",
        "| call | flagged words | median ms | p90 ms | x /detect |",
        "|---|---:|---:|---:|---:|",
    ]
    for kind, values in times.items():
        name, flagged = ("/detect", "-") if kind == "detect" else ("/proofread", kind)
        median = statistics.median(values)
        lines.append(
            f"| {name} | {flagged} | {median * 1e3:.0f} | {percentile(values, 90) * 1e3:.0f} | "
            f"{median / detect:.2f} |"
        )
    return "\n".join(lines + footer(noise, backends))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--texts", type=int, default=4, help="128-token texts per round (1-4)")
    args = parser.parse_args(argv)
    env, texts = prepare(args.workdir)
    texts = texts[: args.texts]
    times, noise, backends = time_app(
        "proofread", env, args.workdir, SLOTS, lambda url: time_in_turn(url, texts, args.rounds)
    )
    print(table(times, args.rounds, len(texts), noise, backends))


if __name__ == "__main__":
    main()
