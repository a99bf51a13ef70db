"""Our QA decoding equals transformers 4.57.6's question-answering pipeline.

Golden answers were written by that pipeline itself (``scripts/qa_golden.py``, run in its own
virtual environment) for the committed checkpoint ``tests/fixtures/qa-tiny`` and the cases in
``tests/fixtures/qa_cases.json``: spans must be identical and scores equal to 1e-5.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from electra_demo.service import ModelService

FIXTURES = Path(__file__).parent / "fixtures"
CASES = json.loads((FIXTURES / "qa_cases.json").read_text())
GOLDEN = {
    case["id"]: case["answers"] for case in json.loads((FIXTURES / "qa_golden.json").read_text())["cases"]
}
SCORE_TOLERANCE = 1e-5
PIPELINE_DEFAULTS = {"top_k": 1, "max_answer_len": 15, "handle_impossible_answer": False}


def _artefact(answer: dict) -> bool:
    return answer["score"] <= SCORE_TOLERANCE and answer["start"] > answer["end"]


@pytest.fixture(scope="module", params=["onnx", "torch"])
def qa_service(request, onnx_cache):
    environ = {"ELECTRA_DEMO_QA": str(FIXTURES / "qa-tiny"), "ELECTRA_DEMO_CACHE": str(onnx_cache)}
    environ["ELECTRA_DEMO_PRECISION"] = "fp32"  # equal to the fp32 pipeline's scores to 1e-5
    return ModelService(environ={**environ, "ELECTRA_DEMO_BACKEND": request.param})


def test_the_table_covers_what_the_issue_asks():
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(FIXTURES / "qa-tiny")
    ids = " ".join(case["id"] for case in CASES)
    contexts = " ".join(case["context"] for case in CASES)
    lengths = [len(tokenizer(case["context"], verbose=False)["input_ids"]) for case in CASES]
    assert max(lengths) > 2000
    assert any(case["settings"].get("handle_impossible_answer") for case in CASES)
    assert "no_answer" in ids or "impossible" in ids
    for sample in ("é", "e\u0301", "😀", "東京", "مرحبا"):
        assert sample in contexts


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_answers_equal_the_4x_pipeline(qa_service, case):
    settings = {**PIPELINE_DEFAULTS, **{k: v for k, v in case["settings"].items() if v is not None}}
    result = qa_service.answer(case["question"], case["context"], **settings)
    # 4.x's decoding can append an inverted span (start after end) of score exactly 0, picked
    # among tied zeros by argpartition; whether one appears depends on how the CPU's kernels
    # round tiny probabilities to zero (AVX2 and AVX-512 differ), so such artefacts are left
    # out on both sides and everything else is compared exactly
    ours = [a for a in result.to_json()["answers"] if not _artefact(a)]
    golden = [g for g in GOLDEN[case["id"]] if not _artefact(g)]
    assert [(a["start"], a["end"], a["text"]) for a in ours] == [
        (g["start"], g["end"], g["answer"]) for g in golden
    ]
    for mine, theirs in zip(ours, golden, strict=True):
        assert mine["score"] == pytest.approx(theirs["score"], abs=SCORE_TOLERANCE)
