"""Batch runs: reading uploads, planning, running on the tiny checkpoints, and writing results."""

from __future__ import annotations

import csv
import json
import logging
import math
import random
import re
import threading
import time

import pytest

from electra_demo import batch, config
from electra_demo.batch import Table, plan_job, read_table, run_job, write_outputs
from electra_demo.processing import InputError
from electra_demo.service import ModelService, ModelUnavailable

TEXTS = [
    "The chef cooked the meal in the kitchen.",
    "Marie Curie worked at the University of Paris with Pierre Curie.",
    "Café, naïve, résumé and crème brûlée have accents.",
    "I loved this movie, it was wonderful and moving!",
    "東京は日本の首都です。",
]


def table(*rows: dict[str, str]) -> Table:
    return Table(columns=list(rows[0]), rows=list(rows))


def assert_close(actual, expected, path="record"):
    """Equal, floats up to the micro-batcher's padding rounding (~1e-6)."""
    if isinstance(expected, float) and not isinstance(expected, bool):
        assert isinstance(actual, float), path
        assert math.isclose(actual, expected, rel_tol=1e-4, abs_tol=1e-5), f"{path}: {actual} != {expected}"
    elif isinstance(expected, dict):
        assert isinstance(actual, dict) and list(actual) == list(expected), f"{path}: {actual} != {expected}"
        for key in expected:
            assert_close(actual[key], expected[key], f"{path}.{key}")
    elif isinstance(expected, (list, tuple)):
        assert len(actual) == len(expected), path
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_close(a, e, f"{path}[{i}]")
    else:
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"


# ---- reading ------------------------------------------------------------------------------
def test_txt_one_text_per_non_empty_line():
    data = "first line\r\n\r\n   \nsecond, with comma\rthird\u2028still third\n\n".encode()
    result = read_table(data, "texts.txt")
    assert result.columns == ["text"]
    assert [r["text"] for r in result.rows] == ["first line", "second, with comma", "third\u2028still third"]
    assert result.format == "txt" and result.name == "texts.txt"


def test_csv_with_bom_quotes_and_padded_header():
    data = '\ufefftext , label\n"Hello, world",pos\n"two\nlines",neg\n,,\n'.encode()
    result = read_table(data, "upload.CSV")
    assert result.columns == ["text", "label"]
    assert result.rows == [{"text": "Hello, world", "label": "pos"}, {"text": "two\nlines", "label": "neg"}]


def test_semicolon_csv_keeps_commas_in_texts():
    data = b"id;text\n1;Paris, France, is big.\n2;Berlin, too\n"
    result = read_table(data, "excel.csv")
    assert result.columns == ["id", "text"]
    assert result.rows[0] == {"id": "1", "text": "Paris, France, is big."}


def test_tab_separated_and_one_column_files():
    tsv = read_table(b"question\tcontext\nWho?\tMarie, in Paris.\n", "qa.tsv")
    assert tsv.rows == [{"question": "Who?", "context": "Marie, in Paris."}]
    one = read_table(b"text\nno quotes, but commas, here\nplain\n", "one.csv")
    assert one.rows == [{"text": "no quotes, but commas, here"}, {"text": "plain"}]


def test_csv_with_ragged_rows_names_the_line():
    with pytest.raises(InputError, match=r"Line 3 of bad.csv has 3 fields; the header has 2"):
        read_table(b"text,label\nok,1\nnot,ok,2\n", "bad.csv")


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b"", "empty.csv", "The file empty.csv is empty."),
        (b"\n \n\r\n", "blank.txt", "The file blank.txt is empty."),
        (b"text,label\n", "header.csv", "The file header.csv has no rows to run: only a header."),
        (b"text,text\na,b\n", "dup.csv", "two columns named 'text' (columns 1 and 2)"),
        (b"text,,label\na,b,c\n", "noname.csv", "Column 2 of noname.csv has no name"),
        (b"{}\n\n{}\n", "empty.jsonl", "The file empty.jsonl has no columns: its objects are empty"),
        (b'{"": "a"}\n', "noname.jsonl", "Column 1 of noname.jsonl has no name"),
    ],
)
def test_empty_and_malformed_tables(data, name, message):
    with pytest.raises(InputError, match=re.escape(message)):
        read_table(data, name)


def test_jsonl_values_become_text():
    data = (
        '{"text": "Hi", "n": 3, "x": 1.5, "ok": true, "none": null}\n\n{"text": "No extras", "extra": "é"}\n'
    ).encode()
    result = read_table(data, "rows.jsonl")
    assert result.columns == ["text", "n", "x", "ok", "none", "extra"]
    assert result.rows == [
        {"text": "Hi", "n": "3", "x": "1.5", "ok": "true", "none": "", "extra": ""},
        {"text": "No extras", "n": "", "x": "", "ok": "", "none": "", "extra": "é"},
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"text": "a", "meta": {"k": 1}}', "Line 3 of rows.jsonl: the value of 'meta' is a JSON object"),
        ('{"text": ["a", "b"]}', "Line 3 of rows.jsonl: the value of 'text' is a JSON list"),
        ('["a", "b"]', "Line 3 of rows.jsonl is a JSON list, not an object"),
        ('{"text": "a",}', "Line 3 of rows.jsonl is not valid JSON"),
    ],
)
def test_jsonl_refuses_nested_and_invalid_lines(line, message):
    data = ('{"text": "fine"}\n\n' + line + "\n").encode()
    with pytest.raises(InputError, match=re.escape(message)):
        read_table(data, "rows.jsonl")


def test_invalid_utf8_names_file_offset_and_line():
    data = b"text\nfine\ncaf" + b"\xe9\n"  # Latin-1 é
    with pytest.raises(InputError) as caught:
        read_table(data, "latin1.csv")
    message = str(caught.value)
    assert "latin1.csv is not valid UTF-8" in message
    assert "0xe9 at offset 13 (line 3)" in message


def test_invalid_utf8_after_a_bom_counts_the_bom():
    with pytest.raises(InputError, match=r"0xff at offset 8 \(line 2\)"):
        read_table(b"\xef\xbb\xbftext\n\xff\n", "x.txt")


def test_binary_file_is_refused():
    with pytest.raises(InputError, match=r"not a text file: it has a NUL byte at offset 3"):
        read_table(b"\x89PN\x00G\r\n", "image.csv")
    with pytest.raises(InputError, match="NUL byte"):
        read_table("text\nhi\n".encode("utf-16"), "utf16.csv")


def test_row_limit():
    assert len(read_table(("x\n" * batch.MAX_ROWS).encode(), "ok.txt").rows) == batch.MAX_ROWS
    with pytest.raises(InputError, match=r"^The file has 812 rows; the limit is 500\.$"):
        read_table(("text\n" + "x\n" * 812).encode(), "many.csv")


def test_size_limit_from_bytes_and_from_path(tmp_path):
    big = b"text\n" + b"x" * batch.MAX_FILE_BYTES
    message = rf"^The file is {len(big):,} bytes; the limit is {batch.MAX_FILE_BYTES:,} bytes\.$"
    with pytest.raises(InputError, match=message):
        read_table(big, "big.csv")
    path = tmp_path / "big.csv"
    path.write_bytes(big)
    with pytest.raises(InputError, match=message):
        read_table(path, "big.csv")


def test_reads_paths_and_takes_the_format_from_the_given_name(tmp_path):
    path = tmp_path / "gradio-tmp-abc123"
    path.write_text('{"text": "hello"}\n', encoding="utf-8")
    assert read_table(str(path), "mine.jsonl").rows == [{"text": "hello"}]
    named = tmp_path / "texts.txt"
    named.write_text("a\nb\n", encoding="utf-8")
    assert read_table(named).rows == [{"text": "a"}, {"text": "b"}]
    with pytest.raises(InputError, match=r"mine.xlsx is not a supported type; upload a .csv, .jsonl or .txt"):
        read_table(str(path), "mine.xlsx")
    with pytest.raises(InputError, match="could not be read"):
        read_table(tmp_path / "missing.csv")


def test_cells_are_data_only(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("do not read me", encoding="utf-8")
    data = f"text\n{secret}\n=cmd|' /C calc'!A0\n".encode()
    result = read_table(data, "paths.csv")
    assert [r["text"] for r in result.rows] == [str(secret), "=cmd|' /C calc'!A0"]


# ---- planning -----------------------------------------------------------------------------
def test_plan_defaults_the_text_column():
    two = table({"id": "1", "text": "a"})
    job = plan_job(two, "detect")
    assert job.columns == {"text": "text"} and job.inputs == [{"text": "a"}]
    assert job.options == {"threshold": 0.5}
    only = plan_job(table({"review": "b"}), "tag", aggregation="first")
    assert only.columns == {"text": "review"} and only.inputs == [{"text": "b"}]
    assert only.options == {"aggregation": "first"}


def test_plan_column_messages_list_the_columns():
    t = table({"id": "1", "review": "a"})
    with pytest.raises(InputError, match=r"no column named 'text'; its columns are: 'id', 'review'\."):
        plan_job(t, "detect")
    with pytest.raises(
        InputError, match=r"^The file has no column 'body'; its columns are: 'id', 'review'\.$"
    ):
        plan_job(t, "detect", text_column="body")
    assert plan_job(t, "detect", text_column="review").inputs == [{"text": "a"}]
    with pytest.raises(InputError, match=r"holds the questions: the file has no column named 'question'"):
        plan_job(t, "answer")


def test_plan_classify_heads_and_pairs():
    pairs = table({"text": "A man sleeps.", "text_pair": "Nobody sleeps.", "hypothesis": "h"})
    with pytest.raises(InputError, match=r"Choose a classification head: one of sentiment, emotion, nli"):
        plan_job(pairs, "classify")
    with pytest.raises(InputError, match=r"Unknown head 'topic'; expected one of"):
        plan_job(pairs, "classify", head="topic")
    nli = plan_job(pairs, "classify", head="nli")
    assert nli.inputs == [{"text": "A man sleeps.", "text_pair": "Nobody sleeps."}]
    other = plan_job(pairs, "classify", head="nli", pair_column="hypothesis")
    assert other.columns == {"text": "text", "text_pair": "hypothesis"}
    sentiment = plan_job(pairs, "classify", head="sentiment")
    assert sentiment.inputs == [{"text": "A man sleeps."}]  # text_pair is not used
    with pytest.raises(InputError, match=r"The sentiment head reads one text; .* only for: nli\."):
        plan_job(pairs, "classify", head="sentiment", pair_column="text_pair")
    with pytest.raises(InputError, match=r"holds the second texts: the file has no column named 'text_pair'"):
        plan_job(table({"text": "a", "b": "c"}), "classify", head="nli")


def test_plan_checks_settings_before_running():
    t = table({"text": "a", "question": "q", "context": "c"})
    with pytest.raises(InputError, match="Unknown task 'translate'; expected one of: detect, classify"):
        plan_job(t, "translate")
    with pytest.raises(InputError, match="threshold must be between 0 and 1"):
        plan_job(t, "detect", threshold=1.5)
    with pytest.raises(InputError, match="Unknown aggregation 'median'"):
        plan_job(t, "tag", aggregation="median")
    with pytest.raises(InputError, match=r"top_k\) must be from 1 to 20; got 0"):
        plan_job(t, "answer", top_k=0)
    job = plan_job(t, "answer", top_k=2)
    assert job.inputs == [{"question": "q", "context": "c"}] and job.options == {"top_k": 2}
    assert plan_job(t, "detect", text_column="", pair_column="").columns == {"text": "text"}


# ---- running on the tiny checkpoints ------------------------------------------------------
def test_detect_rows_equal_direct_calls(service):
    job = plan_job(table(*({"text": t} for t in TEXTS)), "detect", threshold=0.4)
    records = run_job(job, service)
    assert [r["row"] for r in records] == [1, 2, 3, 4, 5]
    for record, text in zip(records, TEXTS, strict=True):
        assert_close(record, {"row": record["row"], "text": text, **service.detect(text, 0.4).to_json()})


@pytest.mark.parametrize("head", ["sentiment", "emotion"])
def test_classify_rows_equal_direct_calls(service, head):
    records = run_job(plan_job(table(*({"text": t} for t in TEXTS)), "classify", head=head), service)
    for i, (record, text) in enumerate(zip(records, TEXTS, strict=True), start=1):
        assert_close(record, {"row": i, "text": text, **service.classify(head, text).to_json()})


def test_classify_pair_rows_equal_direct_calls(service):
    rows = [{"premise": t, "hypothesis": TEXTS[-1 - i]} for i, t in enumerate(TEXTS)]
    job = plan_job(table(*rows), "classify", text_column="premise", pair_column="hypothesis", head="nli")
    for i, (record, row) in enumerate(zip(run_job(job, service), rows, strict=True), start=1):
        expected = service.classify("nli", row["premise"], row["hypothesis"]).to_json()
        assert_close(record, {"row": i, "text": row["premise"], "text_pair": row["hypothesis"], **expected})


@pytest.mark.parametrize("aggregation", ["simple", "none"])
def test_tag_rows_equal_direct_calls(service, aggregation):
    records = run_job(plan_job(table(*({"text": t} for t in TEXTS)), "tag", aggregation=aggregation), service)
    for i, (record, text) in enumerate(zip(records, TEXTS, strict=True), start=1):
        assert_close(record, {"row": i, "text": text, **service.tag(text, aggregation).to_json()})


def test_answer_rows_equal_direct_calls(service):
    rows = [{"question": "Who cooked the meal?", "context": t} for t in TEXTS]
    records = run_job(plan_job(table(*rows), "answer", top_k=2), service)
    for i, (record, row) in enumerate(zip(records, rows, strict=True), start=1):
        expected = service.answer(row["question"], row["context"], top_k=2).to_json()
        assert_close(record, {"row": i, **row, **expected})


def test_a_failing_row_gets_an_error_and_the_others_run(service):
    data = ("id,text\n1,Good text.\n2,\n3," + "x " * 15_000 + "\n4,Fine too.\n").encode()
    job = plan_job(read_table(data, "mixed.csv"), "detect")
    records = run_job(job, service)
    assert [r["row"] for r in records] == [1, 2, 3, 4]
    assert records[1] == {"row": 2, "text": "", "error": "Please enter some text: it is empty."}
    assert records[2]["error"] == "The text is 30,000 characters long; the limit is 20,000."
    for record in (records[0], records[3]):
        assert "error" not in record
        assert_close(
            record, {"row": record["row"], "text": record["text"], **service.detect(record["text"]).to_json()}
        )


def test_nli_row_without_its_second_text_fails_alone(service):
    rows = [{"text": "A man sleeps.", "text_pair": "He rests."}, {"text": "A man sleeps.", "text_pair": " "}]
    records = run_job(plan_job(table(*rows), "classify", head="nli"), service)
    assert "error" not in records[0] and records[0]["head"] == "nli"
    assert "please give the second one" in records[1]["error"]


def test_a_model_that_cannot_load_fails_every_row_once(tiny_env, tmp_path):
    broken = ModelService(environ={**tiny_env, "ELECTRA_DEMO_DISCRIMINATOR": str(tmp_path / "nowhere")})
    calls = []
    records = run_job(
        plan_job(table({"text": "a"}, {"text": "b"}), "detect"), broken, lambda *a: calls.append(a)
    )
    assert [set(r) for r in records] == [{"row", "text", "error"}] * 2
    assert "The discriminator model could not be loaded" in records[0]["error"]
    assert calls == [(0, 2), (2, 2)]


class FakeService:
    """Stands in for ModelService: records which threads call it, fails on request."""

    def __init__(self, batching: bool = True):
        self.batching = batching
        self.threads: set[str] = set()
        self.loaded: list[str] = []

    def load(self, name):
        self.loaded.append(name)

    def detect(self, text, threshold):
        self.threads.add(threading.current_thread().name)
        time.sleep(random.random() / 500)
        if text == "boom":
            raise RuntimeError("secret internals")
        if text == "gone":
            raise ModelUnavailable("The discriminator model could not be loaded.")
        return _Result({"echo": text, "threshold": threshold})


class _Result:
    def __init__(self, data):
        self.data = data

    def to_json(self):
        return self.data


def test_unexpected_errors_are_logged_and_reported_per_row(caplog):
    rows = [{"text": t} for t in ("one", "boom", "gone", "four")]
    with caplog.at_level(logging.ERROR, logger="electra_demo.batch"):
        records = run_job(plan_job(table(*rows), "detect"), FakeService())
    assert records[0] == {"row": 1, "text": "one", "echo": "one", "threshold": 0.5}
    assert records[1]["error"].startswith("Something went wrong") and "secret" not in records[1]["error"]
    assert records[2]["error"] == "The discriminator model could not be loaded."
    assert records[3]["echo"] == "four"
    assert "row 2 failed" in caplog.text and "secret internals" in caplog.text


def test_rows_keep_their_order_and_progress_comes_per_chunk():
    n = batch.CHUNK_ROWS * 2 + 3
    fake = FakeService()
    calls = []
    records = run_job(
        plan_job(table(*({"text": str(i)} for i in range(n))), "detect"),
        fake,
        lambda d, t: calls.append((d, t)),
    )
    assert [r["echo"] for r in records] == [str(i) for i in range(n)]
    assert [r["row"] for r in records] == list(range(1, n + 1))
    assert calls == [(0, n), (batch.CHUNK_ROWS, n), (2 * batch.CHUNK_ROWS, n), (n, n)]
    assert fake.loaded == ["discriminator"]
    assert 1 < len(fake.threads) <= batch.WORKERS and all(t.startswith("electra-batch") for t in fake.threads)


def test_no_threads_where_the_service_does_not_batch():
    fake = FakeService(batching=False)
    run_job(plan_job(table(*({"text": str(i)} for i in range(10))), "detect"), fake)
    assert fake.threads == {threading.current_thread().name}


# ---- writing ------------------------------------------------------------------------------
def expected_cell(value) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


@pytest.mark.parametrize(
    ("task", "rows", "options"),
    [
        ("detect", [{"text": "Café, naïve!"}, {"text": " "}, {"text": 'Two\nlines, "quoted"'}], {}),
        ("classify", [{"text": "A man sleeps.", "text_pair": "He rests."}], {"head": "nli"}),
        ("tag", [{"text": "Marie Curie worked in Paris."}, {"text": ""}], {"aggregation": "simple"}),
        ("answer", [{"question": "Where?", "context": "In the kitchen, 東京."}], {"top_k": 2}),
    ],
)
def test_outputs_round_trip(service, tmp_path, task, rows, options):
    records = run_job(plan_job(table(*rows), task, **options), service)
    csv_path, jsonl_path = write_outputs(records, tmp_path)
    assert re.fullmatch(rf"electra-batch-{task}-\d{{8}}-\d{{6}}\.csv", csv_path.name)
    assert jsonl_path.name == csv_path.stem + ".jsonl"

    lines = jsonl_path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == records
    assert ("Café" in lines[0]) == (task == "detect")  # ensure_ascii=False

    assert csv_path.read_bytes().startswith(b"\xef\xbb\xbf")  # for Excel
    with open(csv_path, encoding="utf-8-sig", newline="") as handle:
        header, *cells = list(csv.reader(handle))
    inputs = [f for f in batch.INPUT_FIELDS if f in records[0]]
    results = [k for k in records[0] if k not in ("row", "error", *inputs)]
    assert header[: 1 + len(inputs)] == ["row", *inputs] and header[-1] == "error"
    assert set(header) == {k for r in records for k in r} | {"error"}
    for record, row in zip(records, cells, strict=True):
        assert row == [expected_cell(record.get(c)) for c in header]
        for column in results:
            if column in record and not isinstance(record[column], str):  # others come back as JSON
                assert json.loads(row[header.index(column)]) == record[column]

    back = read_table(csv_path)  # our own reader takes our own CSV back
    assert back.columns == header
    assert [r["text" if "text" in r else "context"] for r in back.rows] == [
        r.get("text", r.get("context")) for r in records
    ]


def test_outputs_never_overwrite_and_name_the_task(tmp_path):
    records = [{"row": 1, "text": "a", "error": "Please enter some text: it is empty."}]
    first = write_outputs(records, tmp_path / "new", task="tag")
    second = write_outputs(records, tmp_path / "new", task="tag")
    assert first != second and all(p.exists() for p in (*first, *second))
    assert first[0].name.startswith("electra-batch-tag-")
    with open(first[0], encoding="utf-8-sig", newline="") as handle:
        assert list(csv.reader(handle)) == [["row", "text", "error"], ["1", "a", records[0]["error"]]]
    with pytest.raises(ValueError, match="unknown task"):
        write_outputs(records, tmp_path, task="../etc")


def test_config_heads_are_the_ones_plan_job_offers():
    assert batch.TASKS == ("detect", "classify", "tag", "answer")
    assert set(config.CLASSIFY_HEADS) == {"sentiment", "emotion", "nli"}
