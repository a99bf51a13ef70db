"""The Adapt tab in headless Chromium, as a visitor uses it: upload texts, adapt, watch the progress
and the loss curves, read the figures before and after, see one held-out text scored by the original
and the adapted discriminator, then pick the adapted model in the Replaced tokens tab; and Cancel
a run mid-way, which ends calmly.

Settings as tests/test_adapt.py's run (the template corpus, 150 texts, 60 steps, learning rate
2e-3, batch 16, max length 32, eval_fraction 0.2, seed 42)."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest

from tests.helpers.browser import TIMEOUT, error_toast, open_app, set_number
from tests.helpers.data import corpus, write_txt
from tests.helpers.training import LEARN

pytestmark = pytest.mark.browser

expect = pytest.importorskip("playwright.sync_api").expect

RUN_TIMEOUT = 180_000  # the training process starts (imports torch and transformers), then trains


def open_adapt_with(page, url: str, path: Path, rows: int) -> None:
    """The Adapt tab with ``path`` uploaded and its text column picked."""
    open_app(page, url)
    page.get_by_role("tab", name="Adapt", exact=True).click()
    expect(page.locator("#adapt-run")).to_be_visible(timeout=TIMEOUT)
    page.locator("#adapt-file input[type=file]").set_input_files(str(path))
    expect(page.locator("#adapt-info")).to_have_text(f"{rows} rows, 1 columns.", timeout=TIMEOUT)
    expect(page.get_by_role("combobox", name="Text column", exact=True)).to_have_value("text")


def adapt_children() -> list[psutil.Process]:
    """Adapt's training children of this process (the test runs the server in-process)."""
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if "electra_demo.adapt.worker" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.Error:
            pass
    return found


def test_adapt_watch_compare_and_use(page, app_url, tmp_path: Path):
    open_adapt_with(page, app_url, write_txt(tmp_path / "templates.txt", corpus(150)), 150)
    set_number(page, "adapt-steps", LEARN["steps"])
    set_number(page, "adapt-learning-rate", LEARN["learning_rate"])
    set_number(page, "adapt-max-length", LEARN["max_length"])
    set_number(page, "adapt-fraction", 0.2)
    page.locator("#adapt-run").click()

    status = page.locator("#adapt-status")
    expect(status).to_contain_text("Adapting: step", timeout=RUN_TIMEOUT)  # live progress
    for plot in ("#adapt-loss", "#adapt-parts"):
        expect(page.locator(f"{plot} canvas, {plot} svg").first).to_be_visible(timeout=TIMEOUT)
    expect(status).to_contain_text("Adapted", timeout=RUN_TIMEOUT)
    expect(status).to_contain_text("Held-out replaced-token AUC")
    expect(error_toast(page)).to_have_count(0)
    model_id = status.locator("code").first.inner_text()
    assert model_id.startswith("ad-")

    parts = page.locator("#adapt-parts")  # both parts drawn: their colours are in the legend
    expect(parts.get_by_text("generator (MLM)", exact=True)).to_be_visible(timeout=TIMEOUT)
    expect(parts.get_by_text("discriminator (RTD)", exact=True)).to_be_visible()
    figures = page.locator("#adapt-figures")
    expect(figures.get_by_test_id("cell-2-0")).to_be_visible(timeout=TIMEOUT)
    assert figures.get_by_test_id("cell-0-0").inner_text().strip() == "replaced-token ROC AUC"
    before, after = (float(figures.get_by_test_id(f"cell-0-{c}").inner_text()) for c in (1, 2))
    assert after >= before + 0.1
    for view in ("#adapt-truth", "#adapt-before", "#adapt-after"):
        expect(
            page.locator(view).get_by_text("chef").or_(page.locator(view).get_by_text("the")).first
        ).to_be_visible()
    expect(page.locator("#adapt-truth").get_by_text("replaced").first).to_be_visible()  # the legend
    expect(page.locator("#adapt-download a[data-testid='download-link']")).to_have_count(1, timeout=TIMEOUT)

    # it is a base in this visitor's Fine-tune tab (adapt, then fine-tune)
    page.get_by_role("tab", name="Fine-tune", exact=True).click()
    page.get_by_role("combobox", name="Base model (its encoder starts the training)", exact=True).click()
    base = page.get_by_role("option", name=f"Yours: templates: adapted, 60 steps ({model_id})", exact=True)
    expect(base).to_be_visible(timeout=TIMEOUT)
    page.keyboard.press("Escape")

    # the adapted pair is in this visitor's model list of the Replaced tokens tab, and answers there
    page.get_by_role("tab", name="Replaced tokens", exact=True).click()
    page.locator("#detect-model input").click()
    mine = page.get_by_role("option", name=f"Yours: templates: adapted, 60 steps ({model_id})", exact=True)
    expect(mine).to_be_visible(timeout=TIMEOUT)
    mine.click()
    page.locator("#detect-text textarea").fill("The chef cooked the meal in paris.")
    page.locator("#detect-run").click()
    expect(page.locator("#detect-summary")).to_contain_text("words look replaced", timeout=TIMEOUT)
    expect(error_toast(page)).to_have_count(0)


def test_cancel_while_adapting_ends_calmly(page, app_url, tmp_path: Path, cancel_pressed):
    """Cancel while the child trains: the page says "Cancelled" (no error toast), keeps no model
    and offers no download, and the child is gone (tests/test_adapt.py does the same over the API)."""
    open_adapt_with(page, app_url, write_txt(tmp_path / "long.txt", corpus(100)), 100)
    set_number(page, "adapt-steps", 5000)
    set_number(page, "adapt-max-length", 32)
    page.locator("#adapt-run").click()
    status = page.locator("#adapt-status")
    expect(status).to_contain_text("Adapting: step", timeout=RUN_TIMEOUT)
    children = adapt_children()
    assert len(children) == 1
    page.locator("#adapt-cancel").click()
    assert cancel_pressed.wait(120), "the Cancel button's handler never ran"
    expect(status).to_contain_text("Cancelled", timeout=TIMEOUT)
    expect(status).to_contain_text("no model was kept")
    expect(error_toast(page)).to_have_count(0)
    expect(page.locator("#adapt-download a[data-testid='download-link']")).to_have_count(0)
    _, alive = psutil.wait_procs(children, timeout=120)  # returns as soon as it is gone
    assert alive == [], "the Adapt child outlived its cancelled run"
