"""The Fine-tune tab's task switch in headless Chromium: each task shows its own inputs and button;
a tagging run (upload, train, the per-type table) and the trained tagger picked and run in the
Entities tab of that browser session."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.browser import RUN_TIMEOUT, TIMEOUT, error_toast, fill_settings, open_finetune, upload
from tests.helpers.data import tag_sentences, write_conll
from tests.helpers.training import TAG_SETTINGS

pytestmark = pytest.mark.browser

expect = pytest.importorskip("playwright.sync_api").expect


def test_task_switch_tagging_run_and_the_tagger_in_the_entities_tab(page, app_url, tmp_path: Path):
    open_finetune(page, app_url)
    tasks = page.locator("#finetune-task")
    tasks.get_by_text("Answer questions", exact=True).click()
    expect(page.locator("#finetune-qa-run")).to_be_visible(timeout=TIMEOUT)
    expect(page.locator("#finetune-stride")).to_be_visible()
    for hidden in ("#finetune-run", "#finetune-text", "#finetune-tag-run", "#finetune-classes"):
        expect(page.locator(hidden)).to_be_hidden()
    expect(page.locator("#finetune-max-length input[type=number]")).to_have_value("384")  # QA's default
    tasks.get_by_text("Tag entities", exact=True).click()
    expect(page.locator("#finetune-tag-run")).to_be_visible(timeout=TIMEOUT)
    for hidden in ("#finetune-run", "#finetune-qa-run", "#finetune-label", "#finetune-stride"):
        expect(page.locator(hidden)).to_be_hidden()

    upload(page, write_conll(tmp_path / "entities.conll", tag_sentences(160)))
    expect(page.locator("#finetune-info")).to_have_text(
        "160 sentences (conll, IOB2 tags), 3 entity types.", timeout=TIMEOUT
    )
    fill_settings(page, TAG_SETTINGS)
    page.locator("#finetune-tag-run").click()
    status = page.locator("#finetune-status")
    expect(status).to_contain_text("Trained", timeout=RUN_TIMEOUT)
    expect(status).to_contain_text("Held-out entity F1")
    expect(error_toast(page)).to_have_count(0)
    model_id = status.locator("code").first.inner_text()
    assert model_id.startswith("ft-")
    table = page.locator("#finetune-types")
    expect(table.get_by_test_id("cell-3-0")).to_have_text("all (micro average)", timeout=TIMEOUT)
    assert [table.get_by_test_id(f"cell-{r}-0").inner_text().strip() for r in range(3)] == [
        "LOC",
        "ORG",
        "PER",
    ]
    expect(page.locator("#finetune-download a[data-testid='download-link']")).to_have_count(1)

    page.get_by_role("tab", name="Entities", exact=True).click()
    models = page.locator("#tag-model").get_by_role("combobox")
    models.click()
    mine = page.get_by_role("option", name=f"Yours: entities: 3 entity types, full ({model_id})", exact=True)
    expect(mine).to_be_visible(timeout=TIMEOUT)
    mine.click()
    page.locator("#tag-text textarea").fill("marie worked in paris")
    page.locator("#tag-run").click()
    expect(page.locator("#tag-summary")).to_contain_text(model_id, timeout=TIMEOUT)
    expect(page.locator("#tag-entities")).to_contain_text("PER")
    expect(page.locator("#tag-entities")).to_contain_text("LOC")
    expect(error_toast(page)).to_have_count(0)

    page.get_by_role("tab", name="Classify", exact=True).click()  # a tagger is no classification head
    page.get_by_role("combobox", name="Head", exact=True).click()
    expect(page.get_by_role("option", name="Sentiment (SST-2)")).to_be_visible(timeout=TIMEOUT)
    expect(page.get_by_role("option").filter(has_text=model_id)).to_have_count(0)
