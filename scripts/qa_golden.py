"""Generate golden question-answering outputs from the transformers 4.x ``question-answering`` pipeline.

The ``question-answering`` pipeline was removed in transformers 5; electra_demo re-implements it. This
script records what transformers 4.57.6's pipeline returns for the committed tiny checkpoint
(``tests/fixtures/qa-tiny``) on the cases in ``tests/fixtures/qa_cases.json`` and writes them to
``tests/fixtures/qa_golden.json``, so the re-implementation can be tested against the original.

It must run in its own virtual env (NOT the project's transformers 5 env). From the repository root::

    python3.11 -m venv .venv-tf457
    .venv-tf457/bin/pip install torch==2.13.0 transformers==4.57.6 numpy
    .venv-tf457/bin/python scripts/qa_golden.py

(``torch==2.13.0`` must stay pinned: unpinned torch pulls a multi-GB CUDA build.)

Cases file: a JSON list of ``{"id", "question", "context", "settings", ["note"]}`` where ``settings`` may
hold ``top_k``, ``max_answer_len``, ``handle_impossible_answer``, ``max_seq_len`` and ``doc_stride``; a
missing key (or ``null`` for ``max_seq_len`` / ``doc_stride``) means the pipeline default. Each case is run
as ``pipe(question=..., context=..., **settings)``.

Golden file: ``{"transformers", "torch", "checkpoint", "cases": [{"id", "answers": [{"score", "start",
"end", "answer"}]}]}``. ``answers`` is always a list (4.x returns a bare dict for a single answer).

The script checks that ``context[start:end] == answer`` for every answer, reports cases where 4.x merged
duplicate answers (same lower-cased text: their scores are summed) and 4.x quirks (``end < start``,
zero-score answers, the same text returned twice), and prints per-case diagnostics.
Options: ``--cases PATH``, ``--out PATH``, ``--check`` (compare against the existing output instead of
writing it; exit 1 if it differs).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
import transformers
from transformers import pipeline

CHECKPOINT = "tests/fixtures/qa-tiny"
ROOT = Path(__file__).resolve().parent.parent
SETTING_KEYS = ("top_k", "max_answer_len", "handle_impossible_answer", "max_seq_len", "doc_stride")


def load_cases(path: Path) -> list[dict]:
    cases = json.loads(path.read_text(encoding="utf-8"))
    ids = [case["id"] for case in cases]
    if len(ids) != len(set(ids)):
        raise SystemExit(f"duplicate case ids in {path}")
    for case in cases:
        unknown = set(case["settings"]) - set(SETTING_KEYS)
        if unknown:
            raise SystemExit(f"case {case['id']}: unknown settings {sorted(unknown)}")
    return cases


def call_kwargs(settings: dict) -> dict:
    """Settings as pipeline keyword arguments; null max_seq_len/doc_stride mean 'use the default'."""
    return {key: value for key, value in settings.items() if value is not None}


def count_windows(pipe, question: str, context: str, kwargs: dict) -> int:
    """Number of windows (features) 4.x's preprocess produces, mirroring its default computation."""
    max_seq_len = kwargs.get("max_seq_len") or min(pipe.tokenizer.model_max_length, 384)
    doc_stride = kwargs.get("doc_stride") or min(max_seq_len // 2, 128)
    enc = pipe.tokenizer(
        text=question,
        text_pair=context,
        truncation="only_second",
        max_length=max_seq_len,
        stride=doc_stride,
        return_overflowing_tokens=True,
    )
    return len(enc["input_ids"])


def run_cases(pipe, cases: list[dict]) -> tuple[list[dict], list[str]]:
    merges: list[str] = []
    current: dict = {}
    original_get_answer = pipe.get_answer

    def recording_get_answer(answers, target):
        # 4.x merges a new span into an earlier answer with the same lower-cased text (scores are summed).
        found = original_get_answer(answers, target)
        if found is not None:
            current["merges"] += 1
        return found

    pipe.get_answer = recording_get_answer
    problems: list[str] = []
    quirks: list[str] = []
    results = []
    for case in cases:
        current["merges"] = 0
        kwargs = call_kwargs(case["settings"])
        context = case["context"]
        output = pipe(question=case["question"], context=context, **kwargs)
        answers = [output] if isinstance(output, dict) else list(output)
        normalised = []
        for answer in answers:
            item = {
                "score": float(answer["score"]),
                "start": int(answer["start"]),
                "end": int(answer["end"]),
                "answer": str(answer["answer"]),
            }
            if context[item["start"] : item["end"]] != item["answer"]:
                problems.append(f"{case['id']}: context[{item['start']}:{item['end']}] != {item['answer']!r}")
            if item["end"] < item["start"]:
                quirks.append(f"{case['id']}: end < start {item}")
            if item["score"] == 0.0:
                quirks.append(f"{case['id']}: zero score {item}")
            normalised.append(item)
        texts = [a["answer"].lower() for a in normalised]
        if len(texts) != len(set(texts)):
            quirks.append(f"{case['id']}: same (lower-cased) answer text returned more than once {texts}")
        results.append({"id": case["id"], "answers": normalised})
        n_tokens = len(pipe.tokenizer(context, add_special_tokens=False)["input_ids"])
        n_windows = count_windows(pipe, case["question"], context, kwargs)
        if current["merges"]:
            merges.append(f"{case['id']} ({current['merges']} span(s) merged into earlier answers)")
        print(
            f"{case['id']:<40} context_tokens={n_tokens:<5} windows={n_windows:<3} "
            f"answers={len(normalised):<3} merges={current['merges']}"
        )
    pipe.get_answer = original_get_answer
    return results, problems + [f"QUIRK: {q}" for q in quirks] + [f"MERGED: {m}" for m in merges]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=Path, default=ROOT / "tests/fixtures/qa_cases.json")
    parser.add_argument("--out", type=Path, default=ROOT / "tests/fixtures/qa_golden.json")
    parser.add_argument("--check", action="store_true", help="compare with --out instead of writing it")
    args = parser.parse_args()

    if not transformers.__version__.startswith("4."):
        raise SystemExit(
            f"needs transformers 4.x (the QA pipeline is gone in 5), got {transformers.__version__}"
        )
    torch.manual_seed(0)
    torch.set_num_threads(1)  # fixed reduction order, for byte-identical output run to run

    checkpoint = str(ROOT / CHECKPOINT)
    pipe = pipeline("question-answering", model=checkpoint, tokenizer=checkpoint, device="cpu")
    assert pipe.tokenizer.is_fast, f"expected the fast tokenizer, got {type(pipe.tokenizer).__name__}"
    assert pipe.tokenizer.padding_side == "right"
    assert not pipe.model.training
    print(
        f"transformers {transformers.__version__}, torch {torch.__version__}, numpy {np.__version__}, "
        f"tokenizer {type(pipe.tokenizer).__name__}, model_max_length {pipe.tokenizer.model_max_length}"
    )

    cases = load_cases(args.cases)
    results, notes = run_cases(pipe, cases)
    golden = {
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "checkpoint": CHECKPOINT,
        "cases": results,
    }
    text = json.dumps(golden, ensure_ascii=False, indent=1) + "\n"
    mismatches = [n for n in notes if not n.startswith(("MERGED", "QUIRK"))]
    for note in notes:
        print(note)
    print(f"{len(results)} cases; {len(mismatches)} context[start:end] mismatch(es)")

    if args.check:
        same = args.out.exists() and args.out.read_text(encoding="utf-8") == text
        print(f"{args.out}: {'identical' if same else 'DIFFERS'}")
        return 0 if same else 1
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out} ({len(text.encode('utf-8'))} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
