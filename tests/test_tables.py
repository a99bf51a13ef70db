"""Batch files: reading uploads (CSV, TSV, JSONL, TXT) and writing results as CSV and JSONL."""

from __future__ import annotations

import csv
import json
import re

import pytest

from electra_demo.batch import plan_job, run_job
from electra_demo.checks import InputError
from electra_demo.text import tables
from electra_demo.text.tables import read_table, write_outputs
from tests.helpers.data import table


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
    assert len(read_table(("x\n" * tables.MAX_ROWS).encode(), "ok.txt").rows) == tables.MAX_ROWS
    with pytest.raises(InputError, match=r"^The file has 812 rows; the limit is 500\.$"):
        read_table(("text\n" + "x\n" * 812).encode(), "many.csv")


def test_size_limit_from_bytes_and_from_path(tmp_path):
    big = b"text\n" + b"x" * tables.MAX_FILE_BYTES
    message = rf"^The file is {len(big):,} bytes; the limit is {tables.MAX_FILE_BYTES:,} bytes\.$"
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
    inputs = [f for f in tables.INPUT_FIELDS if f in records[0]]
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
