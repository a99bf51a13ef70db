"""The uploaded training file as data: read it, pick its columns, check the limits, split it.

Pure steps (no torch, no gradio), each tested with hand-built inputs:

- :func:`read_upload` reads a CSV (header row), TSV or JSONL file through
  :func:`electra_demo.text.tables.read_table` (UTF-8 only; binary, empty and malformed files refused),
  with the fine-tuning limits on rows and bytes.
- :func:`propose_columns` suggests the columns for the UI (the largest-text column for the texts).
- :func:`build_examples` picks the columns by name (whitespace in header names tolerated), drops
  rows with an empty text or label (counted), keeps labels as strings and checks the limits.
- :func:`check_settings` checks the training settings; :func:`split` holds rows out for evaluation.
- :func:`make_plan` does all of that for one request: its :class:`Plan` is what a classification
  run takes. :class:`TrainingPlan` is what every kind's plan offers the queue, the child and the
  store (:class:`Plan` here, :class:`~electra_demo.finetune.tag_data.TagPlan`,
  :class:`~electra_demo.finetune.qa_data.QAPlan`, :class:`~electra_demo.adapt.plan.Plan`).
"""

from __future__ import annotations

import math
import os
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from electra_demo import config
from electra_demo.checks import InputError, check_choice, check_float, check_int, check_seed, whole_number
from electra_demo.config import ResolvedSlot
from electra_demo.text import tables
from electra_demo.text.tables import Table, quote_name
from electra_demo.trained.kinds import looks_like

FORMATS = (".csv", ".tsv", ".jsonl", ".ndjson")
MODES = ("full", "head")
LABEL_NAMES = ("label", "labels", "class", "category", "target", "sentiment", "intent", "y")
PAIR_NAMES = ("text_pair", "hypothesis", "sentence2", "question2")
EPOCHS = (1, 20)
BATCH_SIZE = (1, 64)
MAX_LENGTH = (8, config.MODEL_MAX_TOKENS)
LEARNING_RATE = (1e-7, 1e-2)
EVAL_FRACTION = (0.05, 0.5)


@dataclass(frozen=True)
class Limits:
    """What one upload may hold; every violation is refused with a message naming the limit."""

    max_rows: int = 5_000
    max_bytes: int = tables.MAX_FILE_BYTES  # the server's upload cap (launch's max_file_size)
    max_text_chars: int = config.MAX_TEXT_CHARS
    min_classes: int = 2
    max_classes: int = 50
    min_class_rows: int = 2  # one for training and one held out, at least

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Limits:
        """``ELECTRA_DEMO_TRAIN_ROWS`` sets the row limit (default 5,000)."""
        rows = config.env_number(environ, "ELECTRA_DEMO_TRAIN_ROWS", cls.max_rows, low=4, whole=True)
        return cls(max_rows=rows)

    def describe(self) -> str:
        return (
            f"up to {self.max_rows:,} rows and {self.max_bytes / 1e6:g} MB, texts up to "
            f"{self.max_text_chars:,} characters, {self.min_classes} to {self.max_classes} classes "
            f"with at least {self.min_class_rows} rows each"
        )


@dataclass(frozen=True)
class Settings:
    """Checked training settings (the endpoint's arguments after the file and its columns)."""

    base: str = "discriminator"
    mode: str = "full"
    epochs: int = 3
    learning_rate: float = 5e-5
    batch_size: int = 16
    max_length: int = 128
    eval_fraction: float = 0.2
    seed: int = 42

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Examples:
    """The rows kept for training, labels as strings, and what was dropped."""

    texts: list[str]
    labels: list[str]
    label_names: list[str]  # the classes, in id order
    pairs: list[str] | None = None  # second texts, when a pair column was chosen
    dropped: int = 0  # rows with an empty text, label (or second text)
    columns: dict[str, str] = field(default_factory=dict)  # "text"/"label"/"pair" -> the file's column

    @property
    def label_ids(self) -> list[int]:
        index = {name: i for i, name in enumerate(self.label_names)}
        return [index[label] for label in self.labels]


# ---- reading ------------------------------------------------------------------------------
def read_upload(path_or_bytes: str | os.PathLike[str] | bytes, filename: str, limits: Limits) -> Table:
    """The upload as a :class:`~electra_demo.text.tables.Table` (CSV, TSV or JSONL, UTF-8)."""
    name = Path(filename).name or "the file"
    if Path(name).suffix.lower() not in FORMATS:
        raise InputError(
            f"The file {name} is not a supported type; upload a .csv (with a header row), .tsv or "
            f".jsonl file with a column of texts and a column of labels."
        )
    return tables.read_table(path_or_bytes, name, max_rows=limits.max_rows, max_bytes=limits.max_bytes)


def _squeeze(name: str) -> str:
    return " ".join(name.split())


def find_column(table: Table, chosen: object, what: str) -> str:
    """The file's column named ``chosen``: exactly, else ignoring surrounding and repeated
    whitespace, else also ignoring case (when that names one column only)."""
    if not isinstance(chosen, str) or not chosen.strip():
        raise InputError(f"Choose the column that holds {what}; the file's columns are: {_listed(table)}.")
    if chosen in table.columns:
        return chosen
    for key in (_squeeze, lambda s: _squeeze(s).casefold()):
        matches = [c for c in table.columns if key(c) == key(chosen)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise InputError(
                f"Several columns of the file match {quote_name(chosen)} "
                f"({', '.join(map(quote_name, matches))}); rename them so that each name is unique."
            )
    raise InputError(
        f"The file has no column {quote_name(chosen)} for {what}; its columns are: {_listed(table)}."
    )


def _listed(table: Table) -> str:
    return ", ".join(quote_name(c) for c in table.columns)


def propose_columns(table: Table) -> dict[str, str]:
    """Columns to suggest: ``text`` the one with the most characters, ``label`` one named like a
    label (else the one with the fewest distinct values; an id's all-different ones last), ``pair``
    one named like a second text."""

    def named(names: Sequence[str], exclude: Sequence[str] = ()) -> str:
        return next((c for c in table.columns if _squeeze(c).casefold() in names and c not in exclude), "")

    size = {c: sum(len(row[c]) for row in table.rows) for c in table.columns}
    pair = named(PAIR_NAMES)
    text = max((c for c in table.columns if c != pair), key=lambda c: size[c], default="")
    label = named(LABEL_NAMES, exclude=(text, pair))
    if not label:
        others = [c for c in table.columns if c not in (text, pair)]
        distinct = {c: len({row[c].strip() for row in table.rows} - {""}) for c in others}
        unique = len(table.rows)  # a column of unique values (an id) is no label
        label = min(others, key=lambda c: (distinct[c] < 2, distinct[c] >= unique, distinct[c]), default="")
    return {"text": text, "label": label, "pair": pair}


# ---- the examples -------------------------------------------------------------------------
def build_examples(
    table: Table, text_column: object, label_column: object, pair_column: object, limits: Limits
) -> Examples:
    """The rows to train on, after the columns are picked and every limit is checked."""
    text = find_column(table, text_column, "the texts")
    label = find_column(table, label_column, "the labels")
    pair = find_column(table, pair_column, "the second texts") if _given(pair_column) else None
    if label == text or (pair is not None and pair in (text, label)):
        raise InputError("The text, label and second-text columns must be different columns.")
    texts: list[str] = []
    labels: list[str] = []
    pairs: list[str] = []
    dropped = 0
    for number, row in enumerate(table.rows, start=1):
        values = [row[text], row[label].strip()] + ([row[pair]] if pair else [])
        if not all(v.strip() for v in values):
            dropped += 1
            continue
        for column, value in ((text, row[text]), (pair, row[pair] if pair else "")):
            if len(value) > limits.max_text_chars:
                raise InputError(
                    f"Data row {number}: the text in column {quote_name(column)} is {len(value):,} "
                    f"characters long; the limit is {limits.max_text_chars:,}."
                )
        texts.append(row[text])
        labels.append(values[1])
        if pair:
            pairs.append(row[pair])
    names = _check_classes(labels, dropped, limits)
    columns = {"text": text, "label": label, **({"pair": pair} if pair else {})}
    return Examples(texts, labels, names, pairs if pair else None, dropped, columns)


def _given(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _check_classes(labels: Sequence[str], dropped: int, limits: Limits) -> list[str]:
    if not labels:
        raise InputError(
            f"No row has both a text and a label ({dropped:,} rows dropped as empty); check the columns."
        )
    counts = Counter(labels)
    if len(counts) < limits.min_classes:
        raise InputError(
            f"The labels have {len(counts)} class ({_shown(next(iter(counts)))}); a classifier needs "
            f"{limits.min_classes} to {limits.max_classes} classes."
        )
    if len(counts) > limits.max_classes:
        raise InputError(
            f"The labels have {len(counts):,} classes; the limit is {limits.max_classes} "
            f"(is the label column right?)."
        )
    few = [name for name in label_order(counts) if counts[name] < limits.min_class_rows]
    if few:
        listed = ", ".join(f"{_shown(n)} ({counts[n]})" for n in few[:5]) + (", ..." if len(few) > 5 else "")
        raise InputError(
            f"Every class needs at least {limits.min_class_rows} rows (one to train on and one held out "
            f"for evaluation); too few: {listed}."
        )
    return label_order(counts)


def _shown(label: str) -> str:
    return repr(label if len(label) <= 40 else label[:37] + "...")


def label_order(labels: Counter[str] | Sequence[str]) -> list[str]:
    """The classes in id order: by number when every label is a number, else alphabetically."""
    names = sorted(set(labels))
    try:
        return sorted(names, key=lambda n: (float(n), n))
    except ValueError:
        return names


# ---- settings -----------------------------------------------------------------------------
def check_settings(
    base: object,
    mode: object,
    epochs: object,
    learning_rate: object,
    batch_size: object,
    max_length: object,
    eval_fraction: object,
    seed: object,
    bases: Sequence[str],
) -> Settings:
    """The settings, each checked with a message that names its range."""
    return Settings(
        # an adapted model's id is a base too; the service says if it is gone or another kind
        base=str(base) if looks_like(base, "adapt") else check_choice(base, bases, what="base model"),
        mode=check_choice(mode, MODES, what="mode"),
        epochs=check_int(whole_number(epochs), *EPOCHS, what="number of epochs"),
        learning_rate=check_float(learning_rate, *LEARNING_RATE, what="learning rate"),
        batch_size=check_int(whole_number(batch_size), *BATCH_SIZE, what="batch size"),
        max_length=check_int(whole_number(max_length), *MAX_LENGTH, what="maximum length (tokens)"),
        eval_fraction=check_float(eval_fraction, *EVAL_FRACTION, what="held-out fraction (eval_fraction)"),
        seed=check_seed(seed),
    )


# ---- the held-out split -------------------------------------------------------------------
def split(labels: Sequence[str], eval_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Row indices for training and for evaluation, stratified by label and seeded.

    Each class holds out ``round(n * eval_fraction)`` of its ``n`` rows, but at least one and
    never all of them. Written here rather than taken from scikit-learn's ``train_test_split``:
    scikit-learn is not a dependency of the app, and its stratified split does not promise a row
    of every class on each side.
    """
    rng = random.Random(seed)
    by_class: dict[str, list[int]] = {}
    for index, label in enumerate(labels):
        by_class.setdefault(label, []).append(index)
    train: list[int] = []
    held: list[int] = []
    for label in label_order(list(by_class)):
        rows = by_class[label]
        if len(rows) < 2:
            raise InputError(
                f"The class {_shown(label)} has {len(rows)} row; every class needs one row to train on "
                f"and one held out for evaluation."
            )
        rng.shuffle(rows)
        n_eval = min(max(1, math.floor(len(rows) * eval_fraction + 0.5)), len(rows) - 1)
        held.extend(rows[:n_eval])
        train.extend(rows[n_eval:])
    return sorted(train), sorted(held)


# ---- the plan: what a run takes ---------------------------------------------------------
class TrainingPlan(Protocol):
    """What the queue, the child and the store need of a checked training request, whatever its
    task: the base (``settings.base``, ``settings.mode``, ``settings.to_json()``, ``base``), the
    upload's name, and the rest through these methods."""

    task: str  # a key of finetune.KINDS (the child it starts)
    settings: Any
    base: ResolvedSlot
    file: str

    def rows(self) -> dict[str, int]: ...  # {"train", "eval", "dropped"}

    def labels(self) -> list[str]: ...  # the result's "labels"

    def public_settings(self, time_limit: float) -> dict[str, Any]: ...

    def payload(self) -> dict[str, Any]: ...  # the child's data: "labels", "train", "eval", ...

    def model_name(self) -> str: ...  # how the head lists name the trained model

    def meta_fields(self, result: dict[str, Any]) -> dict[str, Any]: ...  # store Meta's task fields


@dataclass
class Plan:
    """A checked training request: the kept rows, their split, the settings and the base."""

    examples: Examples
    train: list[int]
    held: list[int]
    settings: Settings
    base: ResolvedSlot
    file: str  # the uploaded file's name
    task: str = "classify"

    def rows(self) -> dict[str, int]:
        return {"train": len(self.train), "eval": len(self.held), "dropped": self.examples.dropped}

    def labels(self) -> list[str]:
        return self.examples.label_names

    def payload(self) -> dict[str, Any]:
        return {"labels": self.labels(), "train": self.part(self.train), "eval": self.part(self.held)}

    def model_name(self) -> str:
        stem = Path(self.file).stem[:40] or "upload"
        return f"{stem}: {len(self.labels())} classes, {self.settings.mode}"

    def meta_fields(self, result: dict[str, Any]) -> dict[str, Any]:
        return {"pair": self.examples.pairs is not None, "accuracy": result["metrics"]["accuracy"]}

    def public_settings(self, time_limit: float) -> dict[str, Any]:
        columns = self.examples.columns
        settings = self.settings.to_json()
        return {
            "text_column": columns["text"],
            "label_column": columns["label"],
            "pair_column": columns.get("pair", ""),
            **{k: v for k, v in settings.items() if k not in ("base", "mode")},
            "time_limit": time_limit,
        }

    def part(self, indices: list[int]) -> dict[str, Any]:
        ex = self.examples
        ids = ex.label_ids
        part: dict[str, Any] = {"texts": [ex.texts[i] for i in indices], "labels": [ids[i] for i in indices]}
        if ex.pairs is not None:
            part["pairs"] = [ex.pairs[i] for i in indices]
        return part


def make_plan(
    upload: str | os.PathLike[str] | bytes,
    filename: str,
    text_column: object,
    label_column: object,
    pair_column: object,
    settings: Settings,
    base: ResolvedSlot,
    limits: Limits,
) -> Plan:
    """Read and check the upload, pick its columns and hold rows out: everything a run needs,
    checked before it queues (every problem is an InputError naming the limit)."""
    table = read_upload(upload, filename, limits)
    examples = build_examples(table, text_column, label_column, pair_column, limits)
    train, held = split(examples.labels, settings.eval_fraction, settings.seed)
    return Plan(examples, train, held, settings, base, Path(filename).name)
