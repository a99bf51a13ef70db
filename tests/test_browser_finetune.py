"""The Fine-tune tab in headless Chromium, as a visitor uses it: upload a labelled file, see its
columns proposed, train, watch the progress and the loss curve, read the metrics, download the
model, use it in the Classify and Explain tabs (which nobody else's list shows), and cancel a run."""

from __future__ import annotations

import re
import threading
import time
import zipfile
from pathlib import Path

import pytest

from tests.helpers.browser import (
    RUN_TIMEOUT,
    TIMEOUT,
    error_toast,
    fill_settings,
    open_app,
    open_finetune,
    upload,
)
from tests.helpers.data import cue_rows, write_csv
from tests.helpers.training import CUE_SETTINGS, LONG, workers

pytestmark = pytest.mark.browser

expect = pytest.importorskip("playwright.sync_api").expect


def test_train_watch_download_and_use(page, browser, app_url, tmp_path: Path, cancel_pressed):
    path = write_csv(tmp_path / "cues.csv", cue_rows(800), header=("id", "text", "label"))
    rows = [(str(i), text, label) for i, (text, label) in enumerate(cue_rows(800))]
    write_csv(path, rows, header=("id", "text", "label"))
    open_finetune(page, app_url)
    expect(page.locator("#finetune-file")).to_be_visible()
    upload(page, path)
    expect(page.locator("#finetune-info")).to_have_text("800 rows, 3 columns.", timeout=TIMEOUT)
    expect(page.get_by_role("combobox", name="Text column", exact=True)).to_have_value("text")  # the largest
    expect(page.get_by_role("combobox", name="Label column", exact=True)).to_have_value("label")
    fill_settings(page, CUE_SETTINGS)
    page.locator("#finetune-run").click()

    status = page.locator("#finetune-status")
    expect(status).to_contain_text("Training: step", timeout=RUN_TIMEOUT)  # live progress
    expect(page.locator("#finetune-loss canvas, #finetune-loss svg").first).to_be_visible(timeout=TIMEOUT)
    expect(status).to_contain_text("Trained", timeout=RUN_TIMEOUT)
    expect(status).to_contain_text("Held-out accuracy")
    expect(error_toast(page)).to_have_count(0)
    # Cancel after the run finished: the result stands, no error
    page.locator("#finetune-cancel").click()
    assert cancel_pressed.wait(60), "the Cancel button's handler never ran"
    expect(status).to_contain_text("Trained")
    expect(error_toast(page)).to_have_count(0)
    model_id = status.locator("code").first.inner_text()
    assert model_id.startswith("ft-")

    table = page.locator("#finetune-classes")
    expect(table.get_by_test_id("cell-1-0")).to_be_visible(timeout=TIMEOUT)
    assert [table.get_by_test_id(f"cell-{r}-0").inner_text().strip() for r in (0, 1)] == ["neg", "pos"]
    assert table.get_by_test_id("cell-1-4").inner_text().strip() == "80"  # support: the held-out rows
    confusion = page.locator("#finetune-confusion")
    expect(confusion.get_by_text("predicted", exact=True)).to_be_visible()  # the legend: bars were drawn
    expect(confusion.get_by_text("pos", exact=True).first).to_be_visible()

    link = page.locator("#finetune-download a[data-testid='download-link']")
    expect(link).to_have_count(1, timeout=TIMEOUT)
    with page.expect_download() as info:
        link.click()
    saved = tmp_path / "model.zip"
    info.value.save_as(saved)
    with zipfile.ZipFile(saved) as archive:
        assert f"{model_id}/config.json" in archive.namelist()
        assert f"{model_id}/model.safetensors" in archive.namelist()

    # the new head is in this visitor's Classify list, and answers there
    page.get_by_role("tab", name="Classify", exact=True).click()
    heads = page.get_by_role("combobox", name="Head", exact=True)
    heads.click()
    mine = page.get_by_role("option", name=f"Yours: cues: 2 classes, full ({model_id})", exact=True)
    expect(mine).to_be_visible(timeout=TIMEOUT)
    mine.click()
    page.locator("#classify-text textarea").fill("the chef cooked a wonderful meal")
    page.locator("#classify-run").click()
    expect(page.locator("#classify-summary")).to_contain_text(model_id, timeout=TIMEOUT)
    expect(page.locator("#classify-label")).to_contain_text("pos")

    # and in this visitor's Explain task list: which words made it say "pos"
    page.get_by_role("tab", name="Explain", exact=True).click()
    page.get_by_role("combobox", name="Task", exact=True).click()
    mine = page.get_by_role("option", name=f"Yours: cues: 2 classes, full ({model_id})", exact=True)
    expect(mine).to_be_visible(timeout=TIMEOUT)
    mine.click()
    page.locator("#explain-text textarea").fill("the chef cooked a wonderful meal")
    page.locator("#explain-run").click()
    expect(page.locator("#explain-summary textarea")).to_have_value(
        re.compile(r"^pos \d\.\d\d: "), timeout=TIMEOUT
    )
    expect(page.locator("#explain-words")).to_contain_text("wonderful")
    expect(error_toast(page)).to_have_count(0)

    # another visitor's list does not show it
    other = browser.new_context().new_page()
    try:
        open_app(other, app_url)
        other.get_by_role("tab", name="Classify", exact=True).click()
        other.get_by_role("combobox", name="Head", exact=True).click()
        expect(other.get_by_role("option", name="Sentiment (SST-2)")).to_be_visible(timeout=TIMEOUT)
        expect(other.get_by_role("option").filter(has_text="Yours")).to_have_count(0)
    finally:
        other.context.close()


def test_the_cancel_button_stops_the_run_within_5_seconds(page, app_url, tmp_path: Path):
    """Cancel while the training process starts (tests/test_finetune.py cancels one mid-training)."""
    path = write_csv(tmp_path / "long.csv", cue_rows(1500, seed=3), header=("text", "label"))
    open_finetune(page, app_url)
    upload(page, path)
    expect(page.locator("#finetune-info")).to_contain_text("1,500 rows", timeout=TIMEOUT)
    fill_settings(page, LONG)
    page.locator("#finetune-run").click()
    status = page.locator("#finetune-status")
    expect(status).to_contain_text("Starting the training process", timeout=TIMEOUT)
    deadline = time.monotonic() + 60  # the child is started right after: a bound, not a wait
    while not workers():
        assert time.monotonic() < deadline, "no training child was started"
        time.sleep(0.05)
    assert len(workers()) == 1
    page.locator("#finetune-cancel").click()
    # calm, whatever the timing (the 5-second bound is the mechanism's, tested in test_finetune_queue)
    expect(status).to_contain_text("Cancelled", timeout=TIMEOUT)
    expect(error_toast(page)).to_have_count(0)
    expect(status).to_contain_text("no model was kept")
    expect(page.locator("#finetune-download a[data-testid='download-link']")).to_have_count(0)
    assert workers() == []


def test_cancel_while_the_file_is_read_ends_cancelled(page, app_url, tmp_path, cancel_pressed, monkeypatch):
    """Cancel pressed before the run is even queued (the server still reads the file): the run
    ends "cancelled" at once, no training child starts, no error."""
    from electra_demo.finetune import data

    reading = threading.Event()
    make_plan = data.make_plan

    def slow_read(*args, **kwargs):
        reading.set()
        assert cancel_pressed.wait(120), "Cancel never came"
        return make_plan(*args, **kwargs)

    monkeypatch.setattr(data, "make_plan", slow_read)
    path = write_csv(tmp_path / "cues.csv", cue_rows(200), header=("text", "label"))
    open_finetune(page, app_url)
    upload(page, path)
    expect(page.locator("#finetune-info")).to_contain_text("200 rows", timeout=TIMEOUT)
    fill_settings(page, CUE_SETTINGS)
    page.locator("#finetune-run").click()
    assert reading.wait(120), "the run's file was never read"
    page.locator("#finetune-cancel").click()
    status = page.locator("#finetune-status")
    expect(status).to_contain_text("Cancelled", timeout=TIMEOUT)
    expect(status).to_contain_text("no model was kept")
    expect(error_toast(page)).to_have_count(0)
    assert workers() == []
