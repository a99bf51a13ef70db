"""Per-request cost besides the forward pass, in process, at 128 tokens (electra-base shape).

For /detect, /classify and /answer: the whole service call plus rendering (what a request
costs the server apart from HTTP) against the model forward alone on exactly the rows that
call sends, the two called alternately; overhead = (whole - forward) / forward. Target: under 10%.

    .venv/bin/python benchmarks/overhead.py [--repeats 15] [--backend onnx|torch]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def paired_median_ms(whole, forward, repeats: int) -> tuple[float, float]:
    """Median ms of each, the two called alternately (order flipped each time), so that on a
    shared machine both see the same background load."""
    whole(), forward()  # warm-up
    times: dict = {whole: [], forward: []}
    for i in range(repeats):
        for fn in (whole, forward) if i % 2 == 0 else (forward, whole):
            start = time.perf_counter()
            fn()
            times[fn].append((time.perf_counter() - start) * 1000)
    return statistics.median(times[whole]), statistics.median(times[forward])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--backend", default="onnx", choices=["onnx", "torch"])
    parser.add_argument("--workdir", type=Path, default=Path.home() / ".cache" / "electra-demo" / "bench")
    args = parser.parse_args(argv)

    import checkpoints
    from common import cpu_line

    from electra_demo.page import rendering
    from electra_demo.runtime.batching import pad_rows
    from electra_demo.service import ModelService

    built = checkpoints.ensure_all(args.workdir)
    texts = json.loads(Path(built["texts"]).read_text())
    environ = {
        "ELECTRA_DEMO_DISCRIMINATOR": built["base"]["discriminator"],
        "ELECTRA_DEMO_SENTIMENT": built["base"]["sentiment"],
        "ELECTRA_DEMO_QA": built["base"]["qa"],
        "ELECTRA_DEMO_BACKEND": args.backend,
        "ELECTRA_DEMO_CACHE": str(args.workdir / "onnx-cache"),
    }
    service = ModelService(environ=environ)
    text = texts["single"]["128"][0]
    question, context = texts["qa"]["128"][0]

    def forward_of(slot: str, rows):
        run = service.load(slot).batcher._run  # the runner itself, no batching thread
        padded = pad_rows(rows, 0)
        return lambda: run(padded)

    disc = service.load("discriminator")
    ids = disc.tokenizer(text)["input_ids"]
    sent = service.load("sentiment")
    enc = sent.tokenizer(text, truncation=True, max_length=512)
    qa = service.load("qa")
    qenc = qa.tokenizer(
        question,
        context,
        truncation="only_second",
        max_length=384,
        stride=128,
        return_overflowing_tokens=True,
        return_token_type_ids=True,
    )
    qa_rows = list(zip(qenc["input_ids"], qenc["token_type_ids"], strict=True))

    cases = {
        "/detect": (
            lambda: [
                rendering.token_highlights(r := service.detect(text)),
                rendering.word_highlights(r),
                rendering.detect_summary(r),
                rendering.token_rows(r),
                r.to_json(),
            ],
            forward_of("discriminator", [(ids, [0] * len(ids))]),
        ),
        "/classify": (
            lambda: [
                rendering.label_scores(r := service.classify("sentiment", text)),
                rendering.classify_summary(r),
                r.to_json(),
            ],
            forward_of("sentiment", [(enc["input_ids"], enc["token_type_ids"])]),
        ),
        "/answer": (
            lambda: [
                rendering.answer_highlights(r := service.answer(question, context)),
                rendering.answer_summary(r),
                rendering.answer_rows(r),
                r.to_json(),
            ],
            forward_of("qa", qa_rows),
        ),
    }
    print(cpu_line())
    print(f"backend: {disc.backend}; 128 tokens; median of {args.repeats}, alternating; in process, no HTTP")
    print("| endpoint | whole request (ms) | forward alone (ms) | overhead | target < 10% |")
    print("|---|---|---|---|---|")
    for name, (whole, forward) in cases.items():
        whole_ms, forward_ms = paired_median_ms(whole, forward, args.repeats)
        overhead = (whole_ms - forward_ms) / forward_ms
        verdict = "met" if overhead < 0.10 else "NOT met"
        print(f"| {name} | {whole_ms:.1f} | {forward_ms:.1f} | {overhead:+.1%} | {verdict} |")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory():
        main()
