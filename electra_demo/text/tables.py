"""Batch files: read an uploaded table, write a batch run's records as CSV and JSON Lines.

:func:`read_table` turns an uploaded CSV, JSON Lines or text file into a :class:`Table` (as data
only: nothing in it is executed or followed); :func:`write_outputs` writes a run's records as CSV
and JSONL with the same fields as the API's JSON. Pure file handling: no model, torch or gradio
here (the jobs themselves are in :mod:`electra_demo.batch`).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from electra_demo.checks import InputError

# ---- Limits -------------------------------------------------------------------------------
MAX_ROWS = 500  # data rows per file (a header row and blank lines do not count)
MAX_FILE_BYTES = 2_000_000

FORMATS = {".csv": "csv", ".tsv": "csv", ".txt": "txt", ".jsonl": "jsonl", ".ndjson": "jsonl"}
DELIMITERS = (",", ";", "\t")  # tried in this order; ties go to the earlier one
# a record's input keys, in this order
INPUT_FIELDS = ("text", "text_pair", "question", "context", "query", "document")
# a result field that names the task its records come from; the values are the tasks write_outputs knows
RESULT_MARKERS = {
    "tokens": "detect",
    "labels": "classify",
    "entities": "tag",
    "answers": "answer",
    "relevance_score": "rerank",
}
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}


@dataclass
class Table:
    """An uploaded file's rows: every row has every column, every value is a string."""

    columns: list[str]
    rows: list[dict[str, str]]
    name: str = ""  # the file's name (no directory), for messages
    format: str = ""  # "csv", "jsonl" or "txt"


# ---- reading ------------------------------------------------------------------------------
def read_table(
    path_or_bytes: str | os.PathLike[str] | bytes,
    filename: str | None = None,
    *,
    max_rows: int = MAX_ROWS,
    max_bytes: int = MAX_FILE_BYTES,
) -> Table:
    """Read an uploaded ``.csv`` (or ``.tsv``), ``.jsonl`` (or ``.ndjson``) or ``.txt`` file.

    ``path_or_bytes`` is the upload's path on disk or its content; ``filename`` is the name the
    user gave it (its extension picks the format; by default the path's own name). TXT gives one
    row per non-empty line in a column ``text``; CSV needs a header row (its delimiter, comma,
    semicolon or tab, is found from the file); JSONL needs one flat JSON object per line.
    ``max_rows`` and ``max_bytes`` default to the Batch tab's limits.
    """
    if filename is None:
        if isinstance(path_or_bytes, (bytes, bytearray)):
            raise InputError("The uploaded file has no name, so its format (.csv, .jsonl, .txt) is unknown.")
        filename = os.fspath(path_or_bytes)
    name = Path(filename).name or "the file"
    kind = FORMATS.get(Path(name).suffix.lower())
    if kind is None:
        raise InputError(
            f"The file {name} is not a supported type; upload a .csv, .jsonl or .txt file "
            f"(also accepted: .tsv, .ndjson)."
        )
    text = read_text(path_or_bytes, name, max_bytes)
    if not text.strip():
        raise InputError(f"The file {name} is empty.")
    if kind == "txt":
        columns, rows = ["text"], [{"text": line} for line in text_lines(text) if line.strip()]
    elif kind == "csv":
        columns, rows = _parse_csv(text, name)
    else:
        columns, rows = _parse_jsonl(text, name)
    if not rows:
        raise InputError(
            f"The file {name} has no rows to run" + (": only a header." if kind == "csv" else ".")
        )
    if len(rows) > max_rows:
        raise InputError(f"The file has {len(rows):,} rows; the limit is {max_rows:,}.")
    return Table(columns=columns, rows=rows, name=name, format=kind)


def read_text(source: str | os.PathLike[str] | bytes, name: str, max_bytes: int = MAX_FILE_BYTES) -> str:
    """An upload's text (its path on disk or its content): at most ``max_bytes``, strict UTF-8;
    ``name`` is the file's name for the messages."""
    return decode_utf8(_read_bytes(source, name, max_bytes), name)


def _read_bytes(source: str | os.PathLike[str] | bytes, name: str, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
        size = len(data)
    else:
        try:
            with open(source, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                data = handle.read(max_bytes + 1) if size <= max_bytes else b""
        except OSError as error:
            raise InputError(f"The file {name} could not be read ({error.strerror or error}).") from None
        size = max(size, len(data))
    if size > max_bytes:
        raise InputError(f"The file is {size:,} bytes; the limit is {max_bytes:,} bytes.")
    return data


def decode_utf8(data: bytes, name: str) -> str:
    """Strict UTF-8 (an optional BOM is dropped); a binary or other-encoding file is refused."""
    nul = data.find(b"\x00")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        raise InputError(
            f"The file {name} is not a text file: it has a NUL byte at offset {nul:,} (line {line}). "
            f"Upload UTF-8 text (a binary or UTF-16 file cannot be read)."
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        # utf-8-sig counts offsets after a BOM it dropped
        offset = error.start + (3 if data.startswith(b"\xef\xbb\xbf") else 0)
        line = data.count(b"\n", 0, offset) + 1
        raise InputError(
            f"The file {name} is not valid UTF-8: the byte 0x{data[offset]:02x} at offset {offset:,} "
            f"(line {line}) cannot be decoded. Save it as UTF-8 "
            f'(in Excel: "CSV UTF-8") and upload it again.'
        ) from None


def text_lines(text: str) -> list[str]:
    """Lines split at \\n, \\r\\n or \\r only (not at the other characters ``splitlines`` knows)."""
    lines = _LINE_BREAK.split(text)
    return lines[:-1] if lines and lines[-1] == "" else lines


def _parse_csv(text: str, name: str) -> tuple[list[str], list[dict[str, str]]]:
    """The header and rows, with the delimiter that fits the file best.

    The header decides: the delimiter that splits it into the most fields, preferring one that
    splits every row into as many (ties: comma, semicolon, tab). A one-field header is split by
    none of them; then the delimiter that leaves every row whole is taken, so a one-column file
    keeps the commas in its texts. (csv.Sniffer guesses from the data rows, which in a column
    of texts are full of commas, and often guesses wrong.)
    """
    parsed = {d: _csv_records(text, d, name) for d in DELIMITERS}
    if not parsed[","]:
        raise InputError(f"The file {name} has no rows: only blank lines.")

    def fits(d: str) -> bool:
        header = parsed[d][0][1]
        return all(len(fields) == len(header) for _, fields in parsed[d][1:])

    def header_fields(d: str) -> int:
        return len(parsed[d][0][1])

    splitting = [d for d in DELIMITERS if header_fields(d) > 1]
    ranked = sorted(splitting or DELIMITERS, key=lambda d: (-header_fields(d), not fits(d)))
    if not splitting:
        ranked.sort(key=lambda d: not fits(d))
    delimiter = ranked[0]
    (_, header), *records = parsed[delimiter]
    columns = [c.strip() for c in header]
    check_columns(columns, name)
    for line, fields in records:
        if len(fields) != len(columns):
            raise InputError(
                f"Line {line} of {name} has {len(fields)} fields; the header has {len(columns)} "
                f"(delimiter: {_DELIMITER_NAMES[delimiter]}). Put quotes around values that contain "
                f"the delimiter, or upload a .txt file with one text per line."
            )
    return columns, [dict(zip(columns, fields, strict=True)) for _, fields in records]


def _csv_records(text: str, delimiter: str, name: str) -> list[tuple[int, list[str]]]:
    """(line number, fields) of every record that is not blank."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
    out = []
    try:
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                return out
            if any(f.strip() for f in fields):
                out.append((reader.line_num, fields))
    except csv.Error as error:
        raise InputError(f"Line {reader.line_num} of {name} cannot be read as CSV: {error}.") from None


def _parse_jsonl(text: str, name: str) -> tuple[list[str], list[dict[str, str]]]:
    columns: dict[str, None] = {}  # first-seen order
    objects: list[dict[str, str]] = []
    for number, line in enumerate(text_lines(text), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            raise InputError(
                f"Line {number} of {name} is not valid JSON ({error.msg} at column {error.colno}); "
                f"a JSONL file has one JSON object per line."
            ) from None
        except (ValueError, RecursionError):
            raise InputError(f"Line {number} of {name} cannot be read as JSON.") from None
        if not isinstance(value, dict):
            raise InputError(
                f"Line {number} of {name} is a JSON {json_kind(value)}, not an object "
                f'such as {{"text": "..."}}.'
            )
        row = {}
        for key, item in value.items():
            if isinstance(item, (dict, list)):
                raise InputError(
                    f"Line {number} of {name}: the value of {quote_name(key)} is a JSON {json_kind(item)}; "
                    f"values must be text, numbers, true/false or null (nested values are not read)."
                )
            row[key] = scalar_text(item)
            columns.setdefault(key)
        objects.append(row)
    names = list(columns)
    if not names:
        raise InputError(
            f'The file {name} has no columns: its objects are empty; use e.g. {{"text": "..."}}.'
        )
    check_columns(names, name)
    return names, [{c: row.get(c, "") for c in names} for row in objects]


def json_kind(value: object) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false value"
    return "number"


def scalar_text(value: object) -> str:
    """A flat JSON value as text: strings as they are, null as empty, others as JSON writes them."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return json.dumps(value)


def check_columns(columns: Sequence[str], name: str) -> None:
    seen: dict[str, int] = {}
    for position, column in enumerate(columns, start=1):
        if not column:
            raise InputError(f"Column {position} of {name} has no name; every column needs one.")
        if column in seen:
            raise InputError(
                f"The file {name} has two columns named {quote_name(column)} (columns {seen[column]} and "
                f"{position}); column names must be unique."
            )
        seen[column] = position


def quote_name(name: str) -> str:
    """A column name for a message: quoted, and cut to 60 characters."""
    return repr(name if len(name) <= 60 else name[:57] + "...")


# ---- writing ------------------------------------------------------------------------------
def write_outputs(
    records: Sequence[Mapping[str, Any]], directory: str | os.PathLike[str], *, task: str | None = None
) -> tuple[Path, Path]:
    """Write ``records`` as ``electra-batch-<task>-<UTC time>.csv`` and ``.jsonl`` in ``directory``.

    JSONL holds each record as it is. The CSV's columns are ``row``, the inputs, the result's
    fields (lists and objects as JSON text, numbers and true/false as JSON writes them, null as
    empty) and ``error`` (empty where the row succeeded). ``task`` defaults to the one the
    records' fields show.
    """
    if task is None:
        task = next((RESULT_MARKERS[k] for r in records for k in r if k in RESULT_MARKERS), "results")
    elif task not in RESULT_MARKERS.values():
        raise ValueError(f"unknown task {task!r}; expected one of {tuple(RESULT_MARKERS.values())}")
    columns = csv_columns(records)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    csv_path, jsonl_path = _new_paths(directory, f"electra-batch-{task}-{datetime.now(UTC):%Y%m%d-%H%M%S}")
    with open(jsonl_path, "w", encoding="utf-8", newline="\n") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False, default=json_default) + "\n")
    # utf-8-sig: a BOM, so that Excel reads the accents right (read_table drops it again)
    with open(csv_path, "w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for record in records:
            writer.writerow([csv_cell(record.get(c)) for c in columns])
    return csv_path, jsonl_path


def csv_columns(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """``row``, the input fields, the result fields in first-seen order, then ``error``."""
    seen: dict[str, None] = {}
    for record in records:
        for key in record:
            seen.setdefault(key)
    inputs = [f for f in INPUT_FIELDS if f in seen]
    results = [k for k in seen if k not in inputs and k not in ("row", "error")]
    return ["row", *inputs, *results, "error"]


def csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=json_default)


def json_default(value: Any) -> Any:
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        return item()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _new_paths(directory: Path, stem: str) -> tuple[Path, Path]:
    """Two new files ``stem.csv`` and ``stem.jsonl`` (``stem-2`` etc. when those exist)."""
    for n in range(1, 1000):
        name = stem if n == 1 else f"{stem}-{n}"
        csv_path, jsonl_path = directory / f"{name}.csv", directory / f"{name}.jsonl"
        try:
            with open(csv_path, "x"):
                pass
        except FileExistsError:
            continue
        try:
            with open(jsonl_path, "x"):
                pass
        except FileExistsError:
            csv_path.unlink()
            continue
        return csv_path, jsonl_path
    raise FileExistsError(f"no free file name for {stem} in {directory}")
