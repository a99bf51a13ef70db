"""The Adapt tab's upload as data: read the texts, check the limits and settings, hold texts out.

Pure steps (no torch, no gradio), each tested with hand-built inputs:

- :func:`read_upload` reads a TXT (one text a line), CSV (header row), TSV or JSONL file through
  :func:`electra_demo.text.tables.read_table` (UTF-8 only; binary, empty and malformed files refused),
  with the same limits style as Fine-tune (rows, bytes, characters a text).
- :func:`propose_column` suggests the text column (the one with the most characters);
  :func:`build_texts` picks it by name, drops empty texts (counted) and checks the limits.
- :func:`check_settings` checks the training settings; :func:`split` holds texts out.
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from electra_demo import config
from electra_demo.checks import (
    InputError,
    check_float,
    check_int,
    check_probability,
    check_seed,
    whole_number,
)
from electra_demo.finetune import data as finetune_data
from electra_demo.finetune.data import find_column
from electra_demo.text import tables
from electra_demo.text.tables import Table, quote_name

FORMATS = (".txt", ".csv", ".tsv", ".jsonl", ".ndjson")
STEPS = (1, 5_000)
BATCH_SIZE = (1, 64)
MAX_LENGTH = (8, config.MODEL_MAX_TOKENS)
LEARNING_RATE = (1e-7, 1e-2)
MASK_FRACTION = (0.01, 0.5)
EVAL_FRACTION = (0.05, 0.5)


@dataclass(frozen=True)
class Limits:
    """What one upload may hold; every violation is refused with a message naming the limit."""

    max_rows: int = 5_000
    max_bytes: int = tables.MAX_FILE_BYTES  # the server's upload cap (launch's max_file_size)
    max_text_chars: int = config.MAX_TEXT_CHARS
    min_texts: int = 20

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Limits:
        """``ELECTRA_DEMO_TRAIN_ROWS`` sets the row limit (default 5,000), read as Fine-tune reads
        it (below 20, every upload is refused with a message naming both limits)."""
        return cls(max_rows=finetune_data.Limits.from_environ(environ).max_rows)

    def describe(self) -> str:
        return (
            f"{self.min_texts} to {self.max_rows:,} texts and up to {self.max_bytes / 1e6:g} MB, texts up "
            f"to {self.max_text_chars:,} characters"
        )


@dataclass(frozen=True)
class Settings:
    """Checked settings (the endpoint's arguments after the file and its column). ``base`` and
    ``mode`` are what every training run names (the discriminator slot it continues)."""

    steps: int = 300
    learning_rate: float = 5e-5
    batch_size: int = 16
    max_length: int = 128
    mask_fraction: float = 0.15
    eval_fraction: float = 0.1
    seed: int = 42
    base: str = "discriminator"
    mode: str = "adapt"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def public(self) -> dict[str, Any]:
        return {k: v for k, v in self.to_json().items() if k not in ("base", "mode")}


@dataclass
class Texts:
    """The texts kept for training and evaluation, and what was dropped."""

    texts: list[str]
    dropped: int = 0  # empty (whitespace-only) texts
    column: str = "text"


def read_upload(path_or_bytes: str | os.PathLike[str] | bytes, filename: str, limits: Limits) -> Table:
    """The upload as a :class:`~electra_demo.text.tables.Table`: TXT, CSV, TSV or JSONL (the Batch tab's
    formats, UTF-8), with this tab's limits on rows and bytes."""
    return tables.read_table(path_or_bytes, filename, max_rows=limits.max_rows, max_bytes=limits.max_bytes)


def propose_column(table: Table) -> str:
    """The column to suggest for the texts: the one with the most characters."""
    size = {c: sum(len(row[c]) for row in table.rows) for c in table.columns}
    return max(table.columns, key=lambda c: size[c], default="")


def build_texts(table: Table, text_column: object, limits: Limits) -> Texts:
    """The texts to train and evaluate on, once the column is picked and the limits checked. A
    TXT file has one column, ``text``; an empty choice takes the proposed column."""
    chosen = text_column if isinstance(text_column, str) and text_column.strip() else propose_column(table)
    column = find_column(table, chosen, "the texts")
    texts: list[str] = []
    dropped = 0
    for number, row in enumerate(table.rows, start=1):
        value = row[column]
        if not value.strip():
            dropped += 1
            continue
        if len(value) > limits.max_text_chars:
            raise InputError(
                f"Data row {number}: the text in column {quote_name(column)} is {len(value):,} characters "
                f"long; the limit is {limits.max_text_chars:,}."
            )
        texts.append(value)
    if len(texts) < limits.min_texts:
        raise InputError(
            f"The file has {len(texts):,} non-empty texts in column {quote_name(column)} ({dropped:,} "
            f"empty ones dropped); adapting needs at least {limits.min_texts} (and this server takes "
            f"up to {limits.max_rows:,} rows)."
        )
    return Texts(texts, dropped, column)


def check_settings(
    steps: object,
    learning_rate: object,
    batch_size: object,
    max_length: object,
    mask_fraction: object,
    eval_fraction: object,
    seed: object,
) -> Settings:
    """The settings, each checked with a message that names its range."""
    fraction = check_probability(mask_fraction, what="mask fraction (mask_fraction)")
    if not MASK_FRACTION[0] <= fraction <= MASK_FRACTION[1]:
        raise InputError(
            f"The mask fraction (mask_fraction) must be from {MASK_FRACTION[0]:g} to {MASK_FRACTION[1]:g}; "
            f"got {fraction:g}."
        )
    return Settings(
        steps=check_int(whole_number(steps), *STEPS, what="number of steps"),
        learning_rate=check_float(learning_rate, *LEARNING_RATE, what="learning rate"),
        batch_size=check_int(whole_number(batch_size), *BATCH_SIZE, what="batch size"),
        max_length=check_int(whole_number(max_length), *MAX_LENGTH, what="maximum length (tokens)"),
        mask_fraction=fraction,
        eval_fraction=check_float(eval_fraction, *EVAL_FRACTION, what="held-out fraction (eval_fraction)"),
        seed=check_seed(seed),
    )


def split(count: int, eval_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Text indices for training and for evaluation (``round(count * eval_fraction)`` held out, at
    least one, never all), seeded."""
    order = list(range(count))
    random.Random(seed).shuffle(order)
    n_eval = min(max(1, math.floor(count * eval_fraction + 0.5)), count - 1)
    return sorted(order[n_eval:]), sorted(order[:n_eval])
