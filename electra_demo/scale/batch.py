"""Score a file far past the Batch tab's 500 rows with Ray Data and a pool of actors.

    python -m electra_demo.batch_ray INPUT OUTPUT --task detect|classify|tag|answer [--head ...]
        [--text-column ...] [--address auto] [--actors N]

INPUT is CSV (``.csv``, ``.tsv``), JSON Lines (``.jsonl``, ``.ndjson``), text (``.txt``, one text a
line) or Parquet (``.parquet``); OUTPUT is one file, JSON Lines (``.jsonl``) or Parquet
(``.parquet``). Each record is the Batch tab's (:mod:`electra_demo.batch`): ``{"row", <inputs>,
...the endpoint's JSON}``, or ``{"row", <inputs>, "error"}`` for a row that failed; the job never
stops for one row. The columns and settings are checked with the Batch tab's own
:func:`~electra_demo.batch.plan_job` before Ray starts, and each actor holds one
:class:`~electra_demo.service.ModelService` and runs its rows through the Batch tab's
:func:`~electra_demo.batch.run_job` (a few at a time, so its micro-batcher merges them).

Row order is kept: Ray Data runs with ``preserve_order``, so the records reach this process in
input order, which numbers them (``row``, from 1, counting data rows as the Batch tab does: no
header, no blank lines) and writes them to OUTPUT (through a temporary file, renamed at the end).
Ray Data's progress bars show the run; a summary line ends it (rows, errors, rows per second).
Parquet output holds what the Batch tab's CSV holds: ``row`` (int64), the inputs, each result
field (text as it is, numbers, lists and objects as JSON text) and ``error`` (null where the row
succeeded). Reading CSV, values stay text (the Batch tab's reading); JSON Lines values are read as
the Batch tab reads them, and a line that is not a JSON object becomes an ``error`` record.
On a cluster (``--address``) the workers read INPUT, so it must be on storage they share (or a
URL such as ``s3://...``); OUTPUT is written here.
"""

from __future__ import annotations

import argparse
import codecs
import csv
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from electra_demo import config, optional
from electra_demo.batch import TASKS, Job, plan_job, run_job, task_slot
from electra_demo.checks import InputError
from electra_demo.scale import cluster as ray_common
from electra_demo.scale import output as batch_output
from electra_demo.service import ModelService
from electra_demo.text import tables

log = logging.getLogger(__name__)

INPUTS = {".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".txt": "txt"}
INPUTS[".parquet"] = "parquet"
OUTPUTS = batch_output.FORMATS
BATCH_ROWS = 64  # rows an actor scores per call (run_job sends them to the service 4 at a time)
PEEK_LINES = 1000  # JSON Lines objects read here to find the columns
# reading reserves no CPU: the actors reserve theirs (--actor-cpus), and a pool that holds every CPU
# would otherwise leave the reading waiting for one, for ever (seen with 2 actors on 2 CPUs)
IO_CPUS = 0


# ---- checking the job before Ray starts ---------------------------------------------------------
def file_kind(path: str, kinds: dict[str, str], what: str) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in kinds:
        raise InputError(
            f"{what} {path} must end in one of {', '.join(kinds)}; got {suffix or 'no suffix'!r}."
        )
    return kinds[suffix]


def csv_header(path: str) -> tuple[list[str], str]:
    """The header's column names and delimiter: the one that splits the header into the most
    fields (ties: comma, semicolon, tab), as the Batch tab decides; ``.tsv`` is always tab."""
    with open(path, encoding="utf-8-sig", newline="") as handle:
        first = handle.readline()
    if Path(path).suffix.lower() == ".tsv":
        delimiters: tuple[str, ...] = ("\t",)
    else:
        delimiters = tables.DELIMITERS
    best = max(
        delimiters, key=lambda d: (len(next(csv.reader([first], delimiter=d), [])), -delimiters.index(d))
    )
    columns = [c.strip() for c in next(csv.reader([first], delimiter=best), [])]
    if not any(columns):
        raise InputError(f"The file {Path(path).name} has no header row; its first line is empty.")
    return columns, best


def peek_columns(path: str, kind: str) -> list[str]:
    """The input's columns, read without Ray (JSON Lines: the keys of its first objects)."""
    if kind == "txt":
        return ["text"]
    if kind == "csv":
        return csv_header(path)[0]
    if kind == "parquet":
        import pyarrow.parquet as pq

        return list(pq.read_schema(path).names)
    seen: dict[str, None] = {}
    with open(path, encoding="utf-8-sig", errors="replace") as handle:
        for number, line in enumerate(handle):
            if number >= PEEK_LINES:
                break
            try:
                value = json.loads(line) if line.strip() else None
            except ValueError:
                continue
            if isinstance(value, dict):
                seen.update(dict.fromkeys(value))
    if not seen:
        raise InputError(f"The file {Path(path).name} has no JSON objects in its first {PEEK_LINES} lines.")
    return list(seen)


def check_utf8(path: str) -> None:
    """Refuse a local text file that is not UTF-8 before Ray starts (read in chunks; the Batch
    tab's message), where Ray would fail the whole job on it part-way through."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    consumed = newlines = 0
    with open(path, "rb") as handle:
        while True:
            chunk = handle.read(1 << 20)
            pending = decoder.getstate()[0]  # the start of a character split between chunks
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as error:
                data = pending + chunk
                offset = consumed - len(pending) + error.start
                line = newlines + data.count(b"\n", 0, error.start) + 1
                raise InputError(
                    f"The file {Path(path).name} is not valid UTF-8: the byte 0x{data[error.start]:02x} at "
                    f"offset {offset:,} (line {line}) cannot be decoded. Save it as UTF-8 and run it again."
                ) from None
            if not chunk:
                return
            consumed += len(chunk)
            newlines += chunk.count(b"\n")


def plan(args: argparse.Namespace, columns: list[str]) -> Job:
    """The Batch tab's checks on the task, its settings and the columns (no rows are read)."""
    name = Path(args.input).name
    tables.check_columns(columns, name)  # unnamed or repeated columns: the Batch tab's messages
    table = tables.Table(columns=columns, rows=[dict.fromkeys(columns, "x")], name=name)
    return plan_job(
        table,
        args.task,
        text_column=args.text_column,
        pair_column=args.pair_column,
        question_column=args.question_column,
        context_column=args.context_column,
        head=args.head,
        aggregation=args.aggregation,
        threshold=args.threshold,
        top_k=args.top_k,
        # a trained model's id as head: from the store on this machine's disk (ELECTRA_DEMO_CACHE);
        # the actors find it there too, or on a volume every node shares
        models=ModelService(),
    )


# ---- inside Ray ---------------------------------------------------------------------------------
def split_lines(batch: Any) -> Any:
    """Ray Data step: whole files (``bytes``) to their non-blank lines, split as the Batch tab
    splits them (at \\n, \\r\\n or \\r only: JSON text may hold U+2028, which ``splitlines``
    would split at)."""
    import pyarrow as pa

    lines: list[str] = []
    for data, path in zip(batch.column("bytes").to_pylist(), batch.column("path").to_pylist(), strict=True):
        text = tables.decode_utf8(data, Path(path).name)  # not UTF-8: the Batch tab's message
        lines.extend(line for line in tables.text_lines(text) if line.strip())
    return pa.table({"line": pa.array(lines, pa.large_string())})


def parse_line(line: str) -> dict[str, str] | str:
    """A JSON Lines line as the Batch tab reads it (values as text), or what is wrong with it."""
    try:
        value = json.loads(line)
    except json.JSONDecodeError as error:
        return (
            f"This line is not valid JSON ({error.msg} at column {error.colno}); "
            "a JSONL file has one JSON object per line."
        )
    except (ValueError, RecursionError):
        return "This line cannot be read as JSON."
    if not isinstance(value, dict):
        return f'This line is a JSON {tables.json_kind(value)}, not an object such as {{"text": "..."}}.'
    row = {}
    for key, item in value.items():
        if isinstance(item, (dict, list)):
            return (
                f"The value of {tables.quote_name(key)} is a JSON {tables.json_kind(item)}; values must "
                f"be text, numbers, true/false or null (nested values are not read)."
            )
        row[key] = tables.scalar_text(item)
    return row


class Scorer:
    """A Ray Data actor: one model service; each call scores a batch of rows with the Batch tab's
    per-row code and returns one record per row, as JSON text (``row`` is numbered by the driver)."""

    def __init__(self, task: str, columns: dict[str, str], options: dict[str, Any], kind: str):
        self.task, self.columns, self.options, self.kind = task, columns, options, kind
        self.service = ModelService()  # runtime_env put the caller's ELECTRA_DEMO_* / HF_* here

    def __call__(self, batch: Any) -> Any:
        import pyarrow as pa

        records = self.score(batch.to_pylist())
        texts = [json.dumps(r, ensure_ascii=False, default=tables.json_default) for r in records]
        return pa.table({"record": pa.array(texts, pa.large_string())})

    def score(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        parsed: list[dict[str, str] | str] = []
        for row in rows:
            if self.kind in ("jsonl", "txt"):
                item = parse_line(row["line"]) if self.kind == "jsonl" else {"text": row["line"]}
            else:
                item = {key: tables.scalar_text(value) for key, value in row.items()}
                if self.kind == "csv" and not any(v.strip() for v in item.values()):
                    continue  # a blank record: not a row, as in the Batch tab
            parsed.append(item)
        good = [p for p in parsed if isinstance(p, dict)]
        inputs = [{field: p.get(column, "") for field, column in self.columns.items()} for p in good]
        job = Job(task=self.task, inputs=inputs, columns=self.columns, options=self.options)
        scored = iter(run_job(job, self.service) if inputs else [])
        return [next(scored) if isinstance(p, dict) else {"row": 0, "error": p} for p in parsed]


def dataset(path: str, kind: str, job: Job, args: argparse.Namespace) -> Any:
    """The input as a Ray dataset of rows, scored by a pool of ``args.actors`` actors."""
    import ray.data

    env = {"env_vars": ray_common.forwarded_environ()}
    if kind == "csv":
        import pyarrow as pa
        from pyarrow import csv as pacsv

        columns, delimiter = csv_header(path)
        ds = ray.data.read_csv(
            path,
            file_extensions=None,
            num_cpus=IO_CPUS,
            read_options=pacsv.ReadOptions(column_names=columns, skip_rows=1),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(columns, pa.string()), quoted_strings_can_be_null=False
            ),
        )
    elif kind == "parquet":
        ds = ray.data.read_parquet(
            path, columns=sorted(set(job.columns.values())), file_extensions=None, num_cpus=IO_CPUS
        )
    else:
        ds = ray.data.read_binary_files(
            path, include_paths=True, file_extensions=None, num_cpus=IO_CPUS
        ).map_batches(split_lines, batch_format="pyarrow", batch_size=1, num_cpus=IO_CPUS)
    return ds.map_batches(
        Scorer,
        fn_constructor_kwargs={
            "task": job.task,
            "columns": job.columns,
            "options": job.options,
            "kind": kind,
        },
        batch_size=args.batch_size,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=args.actors),
        num_cpus=args.actor_cpus,
        runtime_env=env,
    )


# ---- the command ---------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m electra_demo.batch_ray",
        description="Score a CSV, JSONL, TXT or Parquet file with Ray Data; write JSONL or Parquet.",
    )
    parser.add_argument("input", help="the file to score (.csv, .tsv, .jsonl, .ndjson, .txt, .parquet)")
    parser.add_argument("output", help="the file to write (.jsonl or .parquet)")
    parser.add_argument("--task", required=True, choices=TASKS)
    parser.add_argument(
        "--head", help=f"classify: {', '.join(config.CLASSIFY_HEADS)}, or a fine-tuned head's ft- id"
    )
    parser.add_argument("--text-column", help="default: the column 'text' (or the file's only column)")
    parser.add_argument("--pair-column", help="classify with a pair head: default 'text_pair'")
    parser.add_argument(
        "--question-column", help="answer: default 'question'; rerank: the queries, default 'query'"
    )
    parser.add_argument(
        "--context-column", help="answer: default 'context'; rerank: the documents, default 'document'"
    )
    parser.add_argument("--threshold", type=float, default=config.DEFAULT_THRESHOLD, help="detect")
    parser.add_argument("--aggregation", default=config.DEFAULT_AGGREGATION, help="tag")
    parser.add_argument("--top-k", type=int, default=config.QA_TOP_K, help="answer")
    parser.add_argument(
        "--address",
        help="join this Ray cluster ('auto', 'ray://host:10001'); default: a local Ray on 127.0.0.1",
    )
    parser.add_argument(
        "--actors", type=int, default=2, help="actors scoring at once, one model service each"
    )
    parser.add_argument(
        "--actor-cpus", type=float, default=1.0, help="CPUs Ray reserves per actor (default 1)"
    )
    parser.add_argument(
        "--batch-size", type=int, default=BATCH_ROWS, help=f"rows per actor call ({BATCH_ROWS})"
    )
    parser.add_argument("--num-cpus", type=int, help="local Ray only: CPUs it may use (default: all)")
    parser.add_argument("--object-store-mb", type=int, help="local Ray only: object store size in MiB")
    args = parser.parse_args(argv)
    for name in ("actors", "batch_size"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1; got {getattr(args, name)}")
    return args


def check(args: argparse.Namespace) -> tuple[str, Job]:
    """The input's kind and the planned job; InputError names what is wrong, before Ray starts."""
    kind = file_kind(args.input, INPUTS, "INPUT")
    file_kind(args.output, OUTPUTS, "OUTPUT")
    if not Path(args.input).is_file() and "://" not in args.input:
        raise InputError(f"INPUT {args.input} is not a file.")
    if Path(args.output).resolve() == Path(args.input).resolve():
        raise InputError("OUTPUT must not be INPUT.")
    if kind != "parquet" and "://" not in args.input:
        check_utf8(args.input)
    return kind, plan(args, peek_columns(args.input, kind))


def main(argv: list[str] | None = None) -> int:
    ray_common.setup_logging()
    args = parse_args(argv)
    try:
        for module in ("ray.data", "pyarrow"):  # before reading anything: say what is missing first
            optional.require(module, "python -m electra_demo.batch_ray")
        kind, job = check(args)
    except (InputError, OSError, optional.MissingDependency) as error:
        return ray_common.refused("batch_ray", error)
    with ray_common.session(args, ray_common.forwarded_environ()):
        from ray.data import DataContext

        context = DataContext.get_current()
        context.execution_options.preserve_order = True  # records come back in input order
        context.enable_progress_bars = True
        started = time.perf_counter()
        batches = dataset(args.input, kind, job, args).iter_batches(batch_format="pyarrow")
        rows, errors = batch_output.write_records(batches, args.output)
        elapsed = time.perf_counter() - started
    rate = rows / elapsed if elapsed > 0 else float("nan")
    print(
        f"batch_ray: {rows} rows, {errors} errors, {rate:.1f} rows/s "
        f"({elapsed:.1f} s, Ray start-up not counted) -> {args.output}",
        flush=True,
    )
    slot = task_slot(job.task, job.options.get("head", ""))
    if ModelService().card(slot)["random_weights"]:
        print(
            f"batch_ray: warning: the {slot} checkpoint has random weights (--tiny's): the output is "
            "meaningless.",
            file=sys.stderr,
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
