"""Extractive question answering over a context of any length, decoded as transformers 4.x did.

The context is split into windows of ``max_seq_len`` tokens (question included) that share
``doc_stride`` tokens, every window is searched, and the spans are decoded by
:func:`electra_demo.text.qa.decode`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from electra_demo import config
from electra_demo.checks import InputError, check_int, check_text
from electra_demo.runtime.models import LoadedModel
from electra_demo.tasks.common import Resolving
from electra_demo.text import qa
from electra_demo.trained.require import require

SLOT = "qa"


@dataclass
class AnswerResult:
    question: str
    context: str
    answers: list[qa.Candidate]  # the top k, best first; may hold the empty (no) answer
    best_span: qa.Candidate | None  # the best non-empty span, even when "no answer" wins
    null_score: float | None  # the no-answer score, when no answer is allowed
    settings: dict[str, Any]
    windows: int
    model: LoadedModel = field(repr=False)

    @property
    def no_answer(self) -> bool:
        return not self.answers or self.answers[0].empty

    def to_json(self) -> dict:
        return {
            "answers": [
                {"text": a.text, "score": a.score, "start": a.start, "end": a.end} for a in self.answers
            ],
            "no_answer": self.no_answer,
            "settings": self.settings,
        }


def preprocess(
    question: object, context: object, top_k: object, max_answer_len: object, handle_impossible_answer: object
) -> tuple[str, str, int, int, bool]:
    """The settings that need no tokenizer, checked."""
    question = check_text(question, max_chars=config.MAX_QUESTION_CHARS, what="question")
    context = check_text(context, max_chars=config.MAX_CONTEXT_CHARS, what="context")
    top_k = check_int(top_k, 1, config.QA_MAX_TOP_K, what="number of answers (top_k)")
    max_answer_len = check_int(max_answer_len, 1, 512, what="maximum answer length")
    if not isinstance(handle_impossible_answer, bool):
        raise InputError("handle_impossible_answer must be true or false.")
    return question, context, top_k, max_answer_len, handle_impossible_answer


def window_settings(
    loaded: LoadedModel, question: str, max_seq_len: object, doc_stride: object
) -> tuple[int, int]:
    """Window size and stride, checked against the model and the question's length;
    ``None`` takes 4.x's defaults for the model."""
    tokenizer = loaded.tokenizer
    limit = min(loaded.max_tokens, tokenizer.model_max_length or loaded.max_tokens)
    if max_seq_len is None:
        max_seq_len = min(limit, config.QA_MAX_SEQ_LEN)
    max_seq_len = check_int(max_seq_len, 32, limit, what="window size (max_seq_len)")
    if doc_stride is None:
        doc_stride = min(max_seq_len // 2, config.QA_DOC_STRIDE)
    doc_stride = check_int(doc_stride, 0, max_seq_len, what="stride (doc_stride)")
    question_tokens = len(
        tokenizer(question, add_special_tokens=False, verbose=False, split_special_tokens=True)["input_ids"]
    )
    if question_tokens > config.QA_MAX_QUESTION_LEN:
        raise InputError(
            f"The question is {question_tokens} tokens long; the limit is "
            f"{config.QA_MAX_QUESTION_LEN}. Please shorten it."
        )
    room = max_seq_len - question_tokens - 3  # [CLS] question [SEP] context [SEP]
    if doc_stride >= room:
        raise InputError(
            f"The stride ({doc_stride} tokens) must be smaller than the room left for the "
            f"context in each window ({room} tokens = window {max_seq_len} - question "
            f"{question_tokens} - 3 special tokens). Use a larger window or a smaller stride."
        )
    return max_seq_len, doc_stride


def windows(loaded: LoadedModel, question: str, context: str, max_seq_len: int, doc_stride: int):
    """The tokenized windows, and each window's start/end logits from one batched model call."""
    encoded = qa.encode_windows(loaded.tokenizer, question, context, max_seq_len, doc_stride)
    count = len(encoded["input_ids"])
    outputs = loaded.batcher.run(
        [(encoded["input_ids"][w], encoded["token_type_ids"][w]) for w in range(count)]
    )
    return qa.windows_of(encoded, outputs, loaded.tokenizer.cls_token_id)


def run(
    models: Resolving,
    question: str,
    context: str,
    top_k: int = config.QA_TOP_K,
    max_answer_len: int = config.QA_MAX_ANSWER_LEN,
    handle_impossible_answer: bool = True,
    max_seq_len: int | None = None,
    doc_stride: int | None = None,
    model: str = "",
) -> AnswerResult:
    """Extractive QA over a context of any length, decoded as transformers 4.x did.

    ``None`` settings take 4.x's defaults for the model; ``model``: "" for the registry's reader,
    or a fine-tuned reader's id.
    """
    question, context, top_k, max_answer_len, impossible = preprocess(
        question, context, top_k, max_answer_len, handle_impossible_answer
    )
    loaded = models.load(require(models, model, ("qa",), "/answer", default=SLOT))
    max_seq_len, doc_stride = window_settings(loaded, question, max_seq_len, doc_stride)
    settings = {
        "top_k": top_k,
        "max_answer_len": max_answer_len,
        "doc_stride": doc_stride,
        "max_seq_len": max_seq_len,
        "max_question_len": config.QA_MAX_QUESTION_LEN,
        "handle_impossible_answer": impossible,
    }
    found = windows(loaded, question, context, max_seq_len, doc_stride)
    candidates = qa.decode(found, context, top_k, max_answer_len, impossible)
    return AnswerResult(
        question=question,
        context=context,
        answers=candidates[:top_k],
        best_span=next((c for c in candidates if not c.empty), None),
        null_score=next((c.score for c in candidates if c.null), None),
        settings=settings,
        windows=len(found),
        model=loaded,
    )
