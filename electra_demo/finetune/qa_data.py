"""A question-answering upload as data: read it, check its answers, split it by context.

Pure steps (no torch, no gradio). Two shapes:

- SQuAD JSON (v1.1 and v2.0): ``{"data": [{"paragraphs": [{"context", "qas": [{"id", "question",
  "answers": [{"text", "answer_start"}], "is_impossible"}]}]}]}``; ``is_impossible: true`` means no
  answer (whatever ``answers`` holds).
- JSONL, one ``{"question", "context", "answers": {"text": [...], "answer_start": [...]}}`` a line
  (the datasets shape; empty lists: no answer; an ``id`` is optional).

An answer whose text is not at its ``answer_start`` in the context, or a question or context that
is empty, drops that question (counted in ``rows.dropped``; the file is refused when nothing is
left), as a few misaligned answers should not refuse a whole real-world file. The held-out split
is by context: every question of a context is on the same side.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from electra_demo import config
from electra_demo.checks import InputError, check_int, whole_number
from electra_demo.config import ResolvedSlot
from electra_demo.finetune.data import Limits, Settings
from electra_demo.finetune.tag_data import split
from electra_demo.text.tables import read_text

FORMATS = (".json", ".jsonl", ".ndjson")
DOC_STRIDE = (0, 256)


@dataclass(frozen=True)
class QASettings(Settings):
    """The tagging/classification settings and the windows' stride."""

    doc_stride: int = 128


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    context: str
    answers: tuple[tuple[str, int], ...]  # (text, answer_start); empty: no answer

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "question": self.question,
            "context": self.context,
            "answers": {"text": [a[0] for a in self.answers], "answer_start": [a[1] for a in self.answers]},
        }


@dataclass
class QAExamples:
    questions: list[Question]
    shape: str  # "squad" or "jsonl"
    dropped: int = 0  # misaligned answers, empty questions or contexts


def read_qa(upload: str | os.PathLike[str] | bytes, filename: str, limits: Limits) -> QAExamples:
    """The upload's questions; every problem with the file an InputError naming where it is."""
    name = Path(filename).name or "the file"
    if Path(name).suffix.lower() not in FORMATS:
        raise InputError(
            f"The file {name} is not a supported type for question answering; upload SQuAD JSON "
            f'(.json, with "data") or JSONL (.jsonl: question, context and answers a line).'
        )
    text = read_text(upload, name, limits.max_bytes)
    if not text.strip():
        raise InputError(f"The file {name} is empty: it holds no questions.")
    if Path(name).suffix.lower() == ".json":
        shape, records = "squad", _squad(text)
    else:
        shape, records = "jsonl", _jsonl(text)
    questions: list[Question] = []
    dropped = 0
    seen: set[str] = set()
    for where, record in records:
        question = _question(where, record, len(questions))
        if question is None:
            dropped += 1
            continue
        if question.id in seen:
            raise InputError(f"{where}: the question id is used twice; ids must be unique.")
        seen.add(question.id)
        questions.append(question)
        if len(questions) > limits.max_rows:
            raise InputError(
                f"The file has more than {limits.max_rows:,} questions; the limit is {limits.max_rows:,}."
            )
    contexts = len({q.context for q in questions})
    if contexts < 2:
        raise InputError(
            f"The file has {len(questions)} usable question(s) on {contexts} context(s) ({dropped} dropped: "
            f"an answer not at its answer_start, or an empty question or context); at least 2 contexts "
            f"are needed, as held-out questions come from contexts not trained on."
        )
    return QAExamples(questions, shape, dropped)


def _squad(text: str) -> Iterator[tuple[str, dict[str, Any]]]:
    try:
        data = json.loads(text)
    except ValueError as error:
        raise InputError(f"The file is not valid JSON (line {getattr(error, 'lineno', '?')}).") from None
    articles = data.get("data") if isinstance(data, dict) else None
    if not isinstance(articles, list):
        raise InputError('A SQuAD file is a JSON object with a "data" list of articles.')
    for a, article in enumerate(articles):
        paragraphs = article.get("paragraphs") if isinstance(article, dict) else None
        if not isinstance(paragraphs, list):
            raise InputError(f'Article {a + 1} of "data" has no "paragraphs" list.')
        for p, paragraph in enumerate(paragraphs):
            qas = paragraph.get("qas") if isinstance(paragraph, dict) else None
            if not isinstance(qas, list):
                raise InputError(f'Article {a + 1}, paragraph {p + 1} has no "qas" list.')
            for q, qa in enumerate(qas):
                where = f"Article {a + 1}, paragraph {p + 1}, question {q + 1}"
                if not isinstance(qa, dict):
                    raise InputError(f"{where} is not a JSON object.")
                answers = qa.get("answers", [])
                if qa.get("is_impossible") is True:
                    answers = []
                if not isinstance(answers, list) or not all(isinstance(x, dict) for x in answers):
                    raise InputError(f'{where}: "answers" must be a list of {{"text", "answer_start"}}.')
                pairs = [(x.get("text"), x.get("answer_start")) for x in answers]
                yield where, {**qa, "context": paragraph.get("context"), "answers": pairs}


def _jsonl(text: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"Line {number}"
        try:
            record = json.loads(line)
        except ValueError:
            raise InputError(f"{where} is not valid JSON (each line must be one JSON object).") from None
        answers = record.get("answers") if isinstance(record, dict) else None
        if not isinstance(answers, dict) or not all(
            isinstance(answers.get(k), list) for k in ("text", "answer_start")
        ):
            raise InputError(
                f'{where} needs "question", "context" and "answers": '
                '{"text": [...], "answer_start": [...]} (empty lists for no answer).'
            )
        if len(answers["text"]) != len(answers["answer_start"]):
            raise InputError(
                f'{where}: "answers" has {len(answers["text"])} texts but '
                f"{len(answers['answer_start'])} answer_start values."
            )
        yield where, {**record, "answers": list(zip(answers["text"], answers["answer_start"], strict=True))}


def _question(where: str, record: dict[str, Any], index: int) -> Question | None:
    """The checked question, or None to drop it (empty, or an answer not where it says)."""
    question, context = record.get("question"), record.get("context")
    if not isinstance(question, str) or not isinstance(context, str):
        raise InputError(f'{where}: "question" and "context" must be strings.')
    if len(question) > config.MAX_QUESTION_CHARS or len(context) > config.MAX_CONTEXT_CHARS:
        raise InputError(
            f"{where}: a question is limited to {config.MAX_QUESTION_CHARS:,} characters and a context to "
            f"{config.MAX_CONTEXT_CHARS:,}."
        )
    answers = []
    for text, start in record["answers"]:
        if not isinstance(text, str) or not isinstance(start, int) or isinstance(start, bool):
            raise InputError(f"{where}: an answer is a text with a whole-number answer_start.")
        if not text.strip() or context[start : start + len(text)] != text or start < 0:
            return None
        answers.append((text, start))
    if not question.strip() or not context.strip():
        return None
    qid = record.get("id")
    return Question(str(qid) if qid is not None else f"q{index + 1}", question, context, tuple(answers))


@dataclass
class QAPlan:
    """A checked QA request (see :class:`~electra_demo.finetune.data.TrainingPlan`)."""

    examples: QAExamples
    train: list[int]
    held: list[int]
    settings: QASettings
    base: ResolvedSlot
    file: str
    task: str = field(default="qa")

    def rows(self) -> dict[str, int]:
        return {"train": len(self.train), "eval": len(self.held), "dropped": self.examples.dropped}

    def labels(self) -> list[str]:
        return []

    def public_settings(self, time_limit: float) -> dict[str, Any]:
        settings = {k: v for k, v in self.settings.to_json().items() if k not in ("base", "mode")}
        return {"format": self.examples.shape, **settings, "time_limit": time_limit}

    def payload(self) -> dict[str, Any]:
        questions = self.examples.questions
        return {
            "labels": [],
            "train": [questions[i].to_json() for i in self.train],
            "eval": [questions[i].to_json() for i in self.held],
        }

    def model_name(self) -> str:
        stem = Path(self.file).stem[:40] or "upload"
        return f"{stem}: reader, {self.settings.mode}"

    def meta_fields(self, result: dict[str, Any]) -> dict[str, Any]:
        m = result["metrics"]
        return {
            "summary": f"held-out EM {m['exact']:.1f} / F1 {m['f1']:.1f} on {len(self.held):,} questions, "
            "in this demo"
        }


def split_by_context(
    questions: list[Question], eval_fraction: float, seed: int
) -> tuple[list[int], list[int]]:
    """Question indices for training and evaluation: whole contexts held out (seeded)."""
    contexts = list(dict.fromkeys(q.context for q in questions))
    _, held_ctx = split(len(contexts), eval_fraction, seed)
    held = {contexts[i] for i in held_ctx}
    return (
        [i for i, q in enumerate(questions) if q.context not in held],
        [i for i, q in enumerate(questions) if q.context in held],
    )


def check_stride(settings: Settings, doc_stride: object) -> QASettings:
    """The settings with the stride, checked against the window (``max_length``)."""
    stride = check_int(whole_number(doc_stride), *DOC_STRIDE, what="stride (doc_stride)")
    if stride > settings.max_length // 2:
        raise InputError(
            f"The stride ({stride} tokens) must be at most half the maximum length ({settings.max_length} "
            f"tokens): windows share at most half their tokens."
        )
    return QASettings(**settings.to_json(), doc_stride=stride)


def make_plan(
    upload: str | os.PathLike[str] | bytes,
    filename: str,
    settings: QASettings,
    base: ResolvedSlot,
    limits: Limits,
) -> QAPlan:
    """Read and check the upload and hold contexts out: everything a run needs, before it queues."""
    examples = read_qa(upload, filename, limits)
    train, held = split_by_context(examples.questions, settings.eval_fraction, settings.seed)
    return QAPlan(examples, train, held, settings, base, Path(filename).name)
