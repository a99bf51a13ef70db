"""Write a Ray batch job's records as one JSON Lines or Parquet file (``python -m electra_demo.batch_ray``).

The records arrive in input order as batches (pyarrow tables) with one column ``record``: each
record as JSON text, its ``row`` not yet numbered. :func:`write_records` numbers them (from 1)
and writes them to one file, through a temporary file in the same folder that is renamed at the
end (so OUTPUT is either complete or absent). JSON Lines holds each record as it is; Parquet holds
what the Batch tab's CSV holds (:func:`electra_demo.text.tables.csv_columns` and ``csv_cell``): ``row``
as int64, then text columns (null where a record has no such field, e.g. ``error`` on a row that
succeeded). No Ray here: only files.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from electra_demo.text import tables

FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
PARQUET_CHUNK = 4096  # records per Parquet row group


def numbered(batches: Iterable[Any]) -> Iterator[dict[str, Any]]:
    """The records in input order, ``row`` numbered from 1."""
    row = 0
    for batch in batches:
        for text in batch.column("record").to_pylist():
            row += 1
            record = json.loads(text)
            record["row"] = row
            yield record


def write_jsonl(records: Iterable[dict[str, Any]], path: Path) -> tuple[int, int, list[str]]:
    """Write the records; return (rows, errors, the Batch tab's CSV columns for them)."""
    rows = errors = 0
    keys: dict[str, None] = {}
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False, default=tables.json_default) + "\n")
            rows += 1
            errors += "error" in record
            keys.update(dict.fromkeys(record))
    return rows, errors, tables.csv_columns([keys])


def jsonl_to_parquet(source: Path, columns: list[str], target: Path) -> None:
    """The Batch tab's CSV table as Parquet: ``row`` int64, every other column text (or null)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([(c, pa.int64() if c == "row" else pa.large_string()) for c in columns])

    def cell(record: dict[str, Any], column: str) -> Any:
        value = record.get(column)
        return value if column == "row" or value is None else tables.csv_cell(value)

    def table(records: list[dict[str, Any]]) -> Any:
        return pa.table({c: [cell(r, c) for r in records] for c in columns}, schema=schema)

    with open(source, encoding="utf-8") as handle, pq.ParquetWriter(target, schema) as writer:
        records: list[dict[str, Any]] = []
        for line in handle:
            records.append(json.loads(line))
            if len(records) == PARQUET_CHUNK:
                writer.write_table(table(records))
                records = []
        if records:
            writer.write_table(table(records))


def write_records(batches: Iterable[Any], output: str | os.PathLike[str]) -> tuple[int, int]:
    """Number the records and write them to ``output`` (its suffix picks the format); return
    (rows, errors)."""
    target = Path(output)
    part = target.with_name(f".{target.name}.{os.getpid()}.part")
    jsonl = part if FORMATS[target.suffix.lower()] == "jsonl" else part.with_suffix(".jsonl")
    try:
        rows, errors, columns = write_jsonl(numbered(batches), jsonl)
        if jsonl != part:
            jsonl_to_parquet(jsonl, columns, part)
        part.replace(target)
    finally:
        for leftover in {part, jsonl}:
            leftover.unlink(missing_ok=True)
    return rows, errors
