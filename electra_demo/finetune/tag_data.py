"""An entity-tagging upload as data: read it, normalise its tags to IOB2, check it, split it.

Pure steps (no torch, no gradio). Three shapes are read, told apart by their first non-blank line
(a JSON object: JSONL, else CoNLL):

- CoNLL-style text: one ``token tag`` per line (tab or space separated; the token first, the tag
  last, so CoNLL-2003's four columns work), a blank line between sentences, ``-DOCSTART-`` lines
  skipped.
- JSONL ``{"tokens": [...], "tags": [...]}`` per line (the Hugging Face datasets shape;
  ``ner_tags`` is a synonym). Tags must be names: a datasets ``ClassLabel``'s numbers are refused
  with a message saying how to write their names.
- JSONL ``{"text": ..., "entities": [[start, end, label], ...]}`` (annotation tools' spans;
  ``{"start", "end", "label"}`` objects too). The text is split into words (runs of letters and
  digits, and each other non-space character, as BERT's pre-tokenizer does); a word inside a
  span is that entity's. A span that cuts a word, overlaps another or falls outside the text is
  refused, naming the line.

Tags in IOB2, IOB1 or BIOES become IOB2 (an ``I-X`` that starts an entity becomes ``B-X``;
``S-X`` is ``B-X``, ``E-X`` is ``I-X``); tags without a prefix are IO (a run of the same label is
one entity). The label set is ``O`` then ``B-``/``I-`` of every type, alphabetical.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from electra_demo.checks import InputError
from electra_demo.config import ResolvedSlot
from electra_demo.finetune.data import Limits, Settings
from electra_demo.text.tables import read_text

FORMATS = (".conll", ".txt", ".tsv", ".iob", ".bio", ".jsonl", ".ndjson")
MAX_WORDS = 1_000  # words in one sentence (longer ones are tagged in windows, but not this long)
MAX_TYPES = 50
WORD = re.compile(r"\w+|[^\w\s]")
PREFIXED = re.compile(r"([BIES])-(.+)")


@dataclass
class TagExamples:
    """The sentences kept, their IOB2 tags, and what was dropped."""

    sentences: list[list[str]]
    tags: list[list[str]]
    label_names: list[str]  # "O", then B-/I- of each type
    shape: str  # "conll", "jsonl tokens" or "jsonl spans"
    scheme: str  # what the file's tags were: "IOB2", "IOB1", "BIOES", "IO"
    dropped: int = 0  # sentences with no words

    @property
    def types(self) -> list[str]:
        return sorted({name[2:] for name in self.label_names if name != "O"})


# ---- reading ------------------------------------------------------------------------------
def read_tagging(upload: str | os.PathLike[str] | bytes, filename: str, limits: Limits) -> TagExamples:
    """The upload's sentences with IOB2 tags; every problem an InputError naming the line."""
    name = Path(filename).name or "the file"
    if Path(name).suffix.lower() not in FORMATS:
        raise InputError(
            f"The file {name} is not a supported type for entity tagging; upload CoNLL-style text "
            f"(.conll, .txt, .tsv: one `token tag` a line) or JSONL (.jsonl) with tokens and tags "
            f"or a text and its entity spans."
        )
    text = read_text(upload, name, limits.max_bytes)
    lines = text.splitlines()
    first = next((line.strip() for line in lines if line.strip()), "")
    if not first:
        raise InputError(f"The file {name} is empty: it holds no sentences.")
    if first.startswith("{"):
        shape, sentences, raw, dropped = _read_jsonl(lines, limits)
    else:
        shape, (sentences, raw), dropped = "conll", _read_conll(lines, limits), 0
    if len(sentences) < 4:
        raise InputError(
            f"The file has {len(sentences)} sentence(s) with words; at least 4 are needed (some to "
            f"train on, some held out for evaluation)."
        )
    scheme = detect_scheme([t for tags in raw for t in tags])
    tags = [to_iob2(sentence_tags, scheme) for sentence_tags in raw]
    return TagExamples(sentences, tags, label_set(tags), shape, scheme, dropped)


def _too_many(count: int, limits: Limits) -> None:
    if count > limits.max_rows:
        raise InputError(
            f"The file has more than {limits.max_rows:,} sentences; the limit is {limits.max_rows:,}."
        )


def _read_conll(lines: Sequence[str], limits: Limits) -> tuple[list[list[str]], list[list[str]]]:
    sentences: list[list[str]] = []
    tags: list[list[str]] = []
    words: list[str] = []
    labels: list[str] = []

    def close() -> None:
        if words:
            sentences.append(list(words))
            tags.append(list(labels))
            _too_many(len(sentences), limits)
            words.clear()
            labels.clear()

    for number, line in enumerate(lines, start=1):
        fields = line.split()
        if not fields:
            close()
            continue
        if fields[0] == "-DOCSTART-":
            close()
            continue
        if len(fields) < 2:
            raise InputError(
                f"Line {number} has one column; each line is `token tag` (tab or space separated, the "
                f"tag last), with a blank line between sentences."
            )
        words.append(fields[0])
        labels.append(_checked_tag(fields[-1], number))
        if len(words) > MAX_WORDS:
            raise InputError(
                f"Line {number}: a sentence has over {MAX_WORDS:,} words; is a blank line missing?"
            )
    close()
    return sentences, tags


def _read_jsonl(lines: Sequence[str], limits: Limits) -> tuple[str, list[list[str]], list[list[str]], int]:
    sentences: list[list[str]] = []
    tags: list[list[str]] = []
    shapes: set[str] = set()
    dropped = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            raise InputError(
                f"Line {number} is not valid JSON (each line must be one JSON object)."
            ) from None
        if not isinstance(record, dict):
            raise InputError(f"Line {number} is not a JSON object.")
        if "entities" in record or "text" in record:
            shapes.add("jsonl spans")
            words, labels = _span_record(record, number)
        else:
            shapes.add("jsonl tokens")
            words, labels = _token_record(record, number)
        if len(shapes) > 1:
            raise InputError(
                f"Line {number} mixes the two JSONL shapes: use either tokens and tags, or a text and "
                f"its entities, on every line."
            )
        if not words:
            dropped += 1
            continue
        if len(words) > MAX_WORDS:
            raise InputError(
                f"Line {number}: the sentence has {len(words):,} words; the limit is {MAX_WORDS:,}."
            )
        sentences.append(words)
        tags.append(labels)
        _too_many(len(sentences), limits)
    return shapes.pop() if shapes else "jsonl tokens", sentences, tags, dropped


def _token_record(record: dict[str, Any], number: int) -> tuple[list[str], list[str]]:
    tokens = record.get("tokens")
    tags = record.get("tags", record.get("ner_tags"))
    if not isinstance(tokens, list) or not isinstance(tags, list):
        raise InputError(
            f'Line {number} needs "tokens" and "tags" (or "ner_tags") lists, or a "text" with its "entities".'
        )
    if any(isinstance(t, int) and not isinstance(t, bool) for t in tags):
        raise InputError(
            f"Line {number}: the tags are numbers (a datasets ClassLabel); write their names instead, "
            f"e.g. with dataset.features['ner_tags'].feature.int2str."
        )
    if not all(isinstance(t, str) and t.strip() for t in tokens):
        raise InputError(f"Line {number}: every token must be a non-empty string.")
    if len(tags) != len(tokens):
        raise InputError(f"Line {number} has {len(tokens)} tokens but {len(tags)} tags; they must match.")
    return [t.strip() for t in tokens], [_checked_tag(t, number) for t in tags]


def _checked_tag(tag: object, number: int) -> str:
    if not isinstance(tag, str) or not tag.strip() or any(c.isspace() for c in tag.strip()):
        raise InputError(f"Line {number}: a tag must be a name without spaces, such as B-PER or O.")
    tag = tag.strip()
    if len(tag) > 40 or (tag.endswith("-") and PREFIXED.fullmatch(tag + "x")):
        raise InputError(f"Line {number}: a tag must be a short name with a type after its prefix (B-PER).")
    return tag


def _span_record(record: dict[str, Any], number: int) -> tuple[list[str], list[str]]:
    text = record.get("text")
    entities = record.get("entities", [])
    if not isinstance(text, str) or not isinstance(entities, list):
        raise InputError(
            f'Line {number} needs a "text" string and an "entities" list of [start, end, label].'
        )
    spans = sorted(_span(entity, number, len(text)) for entity in entities)
    for (s1, e1, _), (s2, e2, _) in itertools.pairwise(spans):
        if s2 < e1:
            raise InputError(f"Line {number}: the entities [{s1}, {e1}] and [{s2}, {e2}] overlap.")
    words, labels = [], []
    previous = None
    for match in WORD.finditer(text):
        start, end = match.span()
        inside = next((span for span in spans if start < span[1] and span[0] < end), None)
        if inside is not None and (start < inside[0] or end > inside[1]):
            raise InputError(
                f"Line {number}: the entity [{inside[0]}, {inside[1]}] cuts the word at characters "
                f"[{start}, {end}]; spans must hold whole words."
            )
        words.append(match.group())
        labels.append("O" if inside is None else ("I-" if inside == previous else "B-") + inside[2])
        previous = inside
    return words, labels


def _span(entity: object, number: int, length: int) -> tuple[int, int, str]:
    if isinstance(entity, dict):
        entity = [entity.get("start"), entity.get("end"), entity.get("label")]
    ok = isinstance(entity, (list, tuple)) and len(entity) == 3
    start, end, label = entity if ok else (None, None, None)
    if not (ok and all(isinstance(x, int) and not isinstance(x, bool) for x in (start, end))):
        raise InputError(f"Line {number}: each entity is [start, end, label] with whole-number offsets.")
    if not 0 <= start < end <= length:
        raise InputError(
            f"Line {number}: the entity [{start}, {end}] is out of range (the text has {length} characters)."
        )
    tag = _checked_tag(label, number)
    if tag == "O" or PREFIXED.fullmatch(tag):
        raise InputError(f"Line {number}: an entity's label is its type (PER), not a tag (B-PER) or O.")
    return start, end, tag


# ---- tags ---------------------------------------------------------------------------------
def detect_scheme(tags: Sequence[str]) -> str:
    """The file's scheme: BIOES (an E- or S- tag), IO (no prefixes), IOB1 (an entity starts with
    I-) or IOB2."""
    prefixes = {m.group(1) for m in map(PREFIXED.fullmatch, tags) if m}
    if prefixes & {"E", "S"}:
        return "BIOES"
    if not prefixes:
        return "IO"
    fixed = to_iob2(list(tags), "IOB2")
    return "IOB1" if fixed != list(tags) else "IOB2"


def to_iob2(tags: Sequence[str], scheme: str = "IOB2") -> list[str]:
    """IOB2 tags for one sentence (every scheme converts the same way: ``scheme`` is for the
    record)."""
    out: list[str] = []
    previous = "O"
    for tag in tags:
        match = PREFIXED.fullmatch(tag)
        if tag == "O":
            new = "O"
        elif match is None:  # a plain label: IO
            new = ("I-" if previous[2:] == tag and previous != "O" else "B-") + tag
        else:
            prefix, kind = match.groups()
            if prefix in ("B", "S"):
                new = "B-" + kind
            elif previous != "O" and previous[2:] == kind:
                new = "I-" + kind
            else:
                new = "B-" + kind  # an I- or E- that starts an entity (IOB1, or a loose file)
        out.append(new)
        previous = new
    return out


def label_set(tags: Sequence[Sequence[str]]) -> list[str]:
    types = sorted({tag[2:] for sentence in tags for tag in sentence if tag != "O"})
    if not types:
        raise InputError("The file has no entities: every tag is O. Tag at least one entity type.")
    if len(types) > MAX_TYPES:
        raise InputError(f"The file has {len(types):,} entity types; the limit is {MAX_TYPES}.")
    return ["O", *(f"{p}-{t}" for t in types for p in "BI")]


# ---- the plan -----------------------------------------------------------------------------
def split(count: int, eval_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Sentence (or group) indices for training and for evaluation, seeded: ``round(n * fraction)``
    held out, at least one and never all."""
    order = list(range(count))
    random.Random(seed).shuffle(order)
    held = min(max(1, math.floor(count * eval_fraction + 0.5)), count - 1)
    return sorted(order[held:]), sorted(order[:held])


@dataclass
class TagPlan:
    """A checked tagging request (see :class:`~electra_demo.finetune.data.TrainingPlan`)."""

    examples: TagExamples
    train: list[int]
    held: list[int]
    settings: Settings
    base: ResolvedSlot
    file: str
    task: str = field(default="tag")

    def rows(self) -> dict[str, int]:
        return {"train": len(self.train), "eval": len(self.held), "dropped": self.examples.dropped}

    def labels(self) -> list[str]:
        return self.examples.label_names

    def public_settings(self, time_limit: float) -> dict[str, Any]:
        settings = {k: v for k, v in self.settings.to_json().items() if k not in ("base", "mode")}
        shape = {"format": self.examples.shape, "scheme": self.examples.scheme}
        return {**shape, **settings, "time_limit": time_limit}

    def part(self, indices: list[int]) -> dict[str, Any]:
        index = {name: i for i, name in enumerate(self.labels())}
        ex = self.examples
        return {
            "tokens": [ex.sentences[i] for i in indices],
            "tags": [[index[t] for t in ex.tags[i]] for i in indices],
        }

    def payload(self) -> dict[str, Any]:
        return {"labels": self.labels(), "train": self.part(self.train), "eval": self.part(self.held)}

    def model_name(self) -> str:
        stem = Path(self.file).stem[:40] or "upload"
        return f"{stem}: {len(self.examples.types)} entity types, {self.settings.mode}"

    def meta_fields(self, result: dict[str, Any]) -> dict[str, Any]:
        metrics = result["metrics"]
        return {
            "summary": f"held-out entity F1 {metrics['f1']:.3f} on {len(self.held):,} sentences, in this demo"
        }


def make_plan(
    upload: str | os.PathLike[str] | bytes,
    filename: str,
    settings: Settings,
    base: ResolvedSlot,
    limits: Limits,
) -> TagPlan:
    """Read and check the upload and hold sentences out: everything a run needs, before it queues."""
    examples = read_tagging(upload, filename, limits)
    train, held = split(len(examples.sentences), settings.eval_fraction, settings.seed)
    return TagPlan(examples, train, held, settings, base, Path(filename).name)
