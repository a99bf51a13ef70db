"""The Batch tab in headless Chromium: upload a file, pick the columns, run it, download the results.

A person uploads a CSV or TXT file, sees its rows and columns, runs a task and downloads the CSV
and JSONL results; a file the tab refuses (too many rows, not text) is named in a clear message and
leaves the tab usable.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from electra_demo.service import ModelService
from electra_demo.text import tables
from tests.helpers.browser import TIMEOUT, error_toast, open_app
from tests.helpers.compare import Tolerance, assert_close

pytestmark = pytest.mark.browser

expect = pytest.importorskip("playwright.sync_api").expect

RUN_TIMEOUT = 120_000  # a first run loads (and converts) its model
ROUNDING = Tolerance(rel=1e-4, abs=1e-5)  # the micro-batcher's padding rounding (~1e-6)
REVIEWS = ["A lovely film, I would see it again.", "", "Café, crème brûlée and a naïve plot."]
LINES = [
    "The chef cooked the meal in the kitchen.",
    "",
    "Zoë paid 5€ for a café in São Paulo.",
    "   ",
    "I drank a cup of hot keyboard with my breakfast.",
    "The quick brown fox jumps over the lazy dog.",
]


# ---- helpers --------------------------------------------------------------------------------
def open_batch(page, url: str) -> None:
    open_app(page, url)
    page.get_by_role("tab", name="Batch", exact=True).click()
    expect(page.locator("#batch-run")).to_be_visible(timeout=TIMEOUT)


def upload(page, path: Path) -> None:
    """Upload ``path`` through the file picker, clearing a file uploaded before."""
    field = page.locator("#batch-file")
    picker = field.locator("input[type=file]")
    clear = field.get_by_role("button", name="Clear", exact=True)
    # the field is drawn (empty: a picker; holding a file: its Clear button) before it is read: a
    # count taken at once found neither on a busy machine and took the fresh page for a used one
    expect(picker.or_(clear).first).to_be_attached(timeout=TIMEOUT)
    if picker.count() == 0:
        clear.click()
        expect(page.locator("#batch-info")).to_have_text("", timeout=TIMEOUT)
    picker.set_input_files(str(path))
    expect(field.locator("td.filename")).to_have_attribute("aria-label", path.name, timeout=TIMEOUT)


def combobox(page, label: str):
    return page.get_by_role("combobox", name=label, exact=True)


def choose(page, label: str, option: str) -> None:
    """Pick a dropdown option as a person does: open the list, click the option."""
    combobox(page, label).click()
    page.get_by_role("option", name=option, exact=True).click()
    expect(combobox(page, label)).to_have_value(option)


def choose_task(page, task: str) -> None:
    page.locator("#batch-task").get_by_label(task, exact=True).check()


def run(page) -> None:
    page.locator("#batch-run").click()


def preview_rows(page) -> list[list[str]]:
    """The preview table's body, cell by cell, as shown."""
    table = page.locator("#batch-preview")
    expect(table.get_by_test_id("cell-0-0")).to_be_visible(timeout=TIMEOUT)
    rows = []
    for r in range(tables.MAX_ROWS):
        first = table.get_by_test_id(f"cell-{r}-0")
        if first.count() == 0:
            break
        cells = []
        for c in range(3):
            cells.append(table.get_by_test_id(f"cell-{r}-{c}").inner_text().strip())
        rows.append(cells)
    return rows


def download_results(page, tmp_path: Path) -> dict[str, Path]:
    """Download each result file by its link, as a person does; by extension."""
    links = page.locator("#batch-results a[data-testid='download-link']")
    expect(links).to_have_count(2, timeout=TIMEOUT)
    saved: dict[str, Path] = {}
    for i in range(links.count()):
        with page.expect_download() as info:
            links.nth(i).click()
        download = info.value
        assert download.failure() is None
        name = download.suggested_filename
        target = tmp_path / "downloads" / name
        download.save_as(target)
        saved[Path(name).suffix] = target
    assert sorted(saved) == [".csv", ".jsonl"], saved
    assert saved[".csv"].stem == saved[".jsonl"].stem
    return saved


def read_jsonl(path: Path) -> list[dict]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def assert_no_traceback(page) -> None:
    body = page.locator("body").inner_text()
    for word in ("Traceback", 'File "', "InputError", "UnicodeDecodeError"):
        assert word not in body, word


# ---- 1. a CSV, round trip -------------------------------------------------------------------
def test_csv_round_trip(page, app_url, service: ModelService, tmp_path: Path):
    path = tmp_path / "reviews.csv"
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "review"])
        writer.writerows([[i, text] for i, text in enumerate(REVIEWS, start=10)])
    assert '"Café, crème brûlée and a naïve plot."' in path.read_text(encoding="utf-8")

    open_batch(page, app_url)
    upload(page, path)
    info = page.locator("#batch-info")
    expect(info).to_contain_text("3 rows", timeout=TIMEOUT)
    expect(info).to_contain_text("columns: id, review")
    expect(info).not_to_contain_text("⚠️")
    # the app picks a column named text, sentence or premise (or a file's only column); 'review'
    # is none of those, so the person picks it, from the file's own columns
    text_column = combobox(page, "Text column")
    if text_column.input_value() != "review":
        text_column.click()
        options = page.get_by_role("listbox").get_by_role("option")
        expect(options).to_have_count(2)
        assert options.all_inner_texts() == ["id", "review"]
        page.get_by_role("option", name="review", exact=True).click()
    expect(text_column).to_have_value("review")
    choose_task(page, "classify")
    choose(page, "Head (classify), or your fine-tuned model (tag, answer)", "sentiment")
    run(page)

    summary = page.locator("#batch-summary")
    expect(summary).to_contain_text("2 of 3 rows done", timeout=RUN_TIMEOUT)
    expect(summary).to_contain_text("1 failed")
    expect(summary).to_contain_text("classify")
    expect(error_toast(page)).to_have_count(0)

    rows = preview_rows(page)
    assert len(rows) == 3, rows
    assert [r[0] for r in rows] == ["1", "2", "3"]
    assert [r[1] for r in rows] == REVIEWS
    expected = {i: service.classify("sentiment", text).to_json() for i, text in enumerate(REVIEWS) if text}
    assert rows[1][2].startswith("error: "), rows[1]
    assert "empty" in rows[1][2]
    for i, result in expected.items():
        top = result["labels"][0]
        assert rows[i][2].startswith(top["label"] + " ("), rows[i]
        assert not rows[i][2].startswith("error"), rows[i]

    files = download_results(page, tmp_path)
    assert files[".csv"].name.startswith("electra-batch-classify-")

    records = read_jsonl(files[".jsonl"])
    assert [r["row"] for r in records] == [1, 2, 3]
    for i, record in enumerate(records):
        if i in expected:
            assert "error" not in record
            assert_close(record, {"row": i + 1, "text": REVIEWS[i], **expected[i]}, ROUNDING)
        else:
            assert record == {"row": i + 1, "text": "", "error": record["error"]}
            assert "empty" in record["error"]
            assert record["error"] in rows[i][2]

    columns, table = read_csv(files[".csv"])
    assert columns[:2] == ["row", "text"] and columns[-1] == "error", columns
    assert set(columns) == {"row", "text", "error", *expected[0]}
    assert [row["row"] for row in table] == ["1", "2", "3"]
    assert [row["text"] for row in table] == REVIEWS
    for i, (row, record) in enumerate(zip(table, records, strict=True)):
        assert row["error"] == record.get("error", ""), i
        if i in expected:
            assert row["error"] == ""
            assert row["head"] == record["head"] and row["model"] == record["model"]
            assert_close(json.loads(row["labels"]), record["labels"], ROUNDING, f"csv row {i + 1}")
        else:
            assert row["error"] and all(row[c] == "" for c in columns if c not in ("row", "text", "error"))
    assert_no_traceback(page)


# ---- 2. a TXT file, one text per line -------------------------------------------------------
def test_txt_detect(page, app_url, service: ModelService, tmp_path: Path):
    path = tmp_path / "lines.txt"
    path.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    texts = [line for line in LINES if line.strip()]

    open_batch(page, app_url)
    upload(page, path)
    expect(page.locator("#batch-info")).to_contain_text(f"{len(texts)} rows, columns: text", timeout=TIMEOUT)
    expect(combobox(page, "Text column")).to_have_value("text")
    choose_task(page, "detect")
    run(page)

    summary = page.locator("#batch-summary")
    expect(summary).to_contain_text(f"{len(texts)} of {len(texts)} rows done", timeout=RUN_TIMEOUT)
    expect(summary).not_to_contain_text("failed")
    assert len(preview_rows(page)) == len(texts)

    files = download_results(page, tmp_path)
    records = read_jsonl(files[".jsonl"])
    assert len(records) == len(texts)
    assert [r["row"] for r in records] == list(range(1, len(texts) + 1))
    for record, text in zip(records, texts, strict=True):
        expected = {"row": record["row"], "text": text, **service.detect(text, 0.5).to_json()}
        assert_close(record, expected, ROUNDING)
    _, table = read_csv(files[".csv"])
    assert [row["text"] for row in table] == texts
    assert all(row["error"] == "" for row in table)


# ---- 3. refused files -----------------------------------------------------------------------
def test_refused_files_are_named_and_the_tab_recovers(page, app_url, tmp_path: Path):
    too_long = tmp_path / "too-long.txt"
    too_long.write_text("".join(f"Line number {i}.\n" for i in range(tables.MAX_ROWS + 1)), encoding="utf-8")
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"Looks like text\n\x00\x01\x02\xff\xfe binary\n")
    good = tmp_path / "good.txt"
    good.write_text("The chef cooked the meal.\nMarie Curie worked in Paris.\n", encoding="utf-8")

    open_batch(page, app_url)
    info = page.locator("#batch-info")
    toasts = error_toast(page)

    # too many rows: named as soon as it is uploaded, and again when it is run
    upload(page, too_long)
    expect(info).to_contain_text("⚠️", timeout=TIMEOUT)
    expect(info).to_contain_text("501 rows")
    expect(info).to_contain_text("500")
    expect(combobox(page, "Text column")).to_have_value("")
    run(page)
    toast = toasts.filter(has_text="501 rows")
    expect(toast).to_be_visible(timeout=TIMEOUT)
    expect(toast).to_contain_text("the limit is 500")
    # (the outputs show Gradio's own "Error" status, no summary)
    expect(page.locator("#batch-summary")).not_to_contain_text("rows done")
    expect(page.locator("#batch-results a")).to_have_count(0)

    # a binary file named .txt: a clear message (not a decoding error), on upload and on run
    upload(page, binary)
    expect(info).to_contain_text("not a text file", timeout=TIMEOUT)
    expect(info).to_contain_text("NUL byte")
    expect(info).to_contain_text("binary.txt")
    run(page)
    toast = toasts.filter(has_text="not a text file")
    expect(toast).to_be_visible(timeout=TIMEOUT)
    expect(toast).to_contain_text("UTF-8")
    for shown in (toasts.all_inner_texts(), [info.inner_text()]):
        for text in shown:
            assert "Traceback" not in text and "Error:" not in text, text
    expect(page.locator("#batch-results a")).to_have_count(0)
    assert_no_traceback(page)

    # a valid file afterwards still works
    upload(page, good)
    expect(info).to_have_text("2 rows, columns: text.", timeout=TIMEOUT)
    expect(combobox(page, "Text column")).to_have_value("text")
    run(page)
    expect(page.locator("#batch-summary")).to_contain_text("2 of 2 rows done", timeout=RUN_TIMEOUT)
    assert len(preview_rows(page)) == 2
    expect(page.locator("#batch-results a[data-testid='download-link']")).to_have_count(2)
