"""The Rerank tab in headless Chromium, as a person uses it: a query and passages typed in, the
ranked list with score bars and the query's words marked (user text shown as text), top n,
passages read from an uploaded file, a shared link that reopens and runs it, and a clear message
for bad input."""

from __future__ import annotations

import re

import pytest

from electra_demo.page import links
from electra_demo.page.tabs import rerank as tab
from electra_demo.service import ModelService
from tests.helpers.browser import TIMEOUT, error_toast, open_app

pytestmark = pytest.mark.browser

expect = pytest.importorskip("playwright.sync_api").expect

RUN_TIMEOUT = 120_000  # a first run loads (and converts) the reranker
QUERY = "the capital of France"
PASSAGES = [
    "Paris is the <b>capital</b> of France & home of the Louvre.",
    "I loved this movie, it was wonderful!",
    "Berlin is the capital of Germany.",
    "The chef cooked the meal in the kitchen.",
]


@pytest.fixture(scope="module")
def service(tiny_env: dict[str, str]) -> ModelService:
    """This module's service (and its page's, through ``url``), in fp32 whatever the suite's
    precision: the scores shown are compared with its own to the digit."""
    return ModelService(environ={**tiny_env, "ELECTRA_DEMO_PRECISION": "fp32"})


def open_rerank(page, url: str) -> None:
    open_app(page, url)
    page.get_by_role("tab", name="Rerank", exact=True).click()
    expect(page.locator("#rerank-run")).to_be_visible(timeout=TIMEOUT)


def box(page, elem_id: str):
    return page.locator(f"#{elem_id}").get_by_role("textbox")


def shown(page) -> list[tuple[int, str]]:
    """The ranked list as drawn: each item's passage index and its score's text."""
    items = page.locator("#rerank-results li.rerank-item")
    return [
        (int(items.nth(i).get_attribute("data-index")), items.nth(i).locator(".rerank-score").inner_text())
        for i in range(items.count())
    ]


def test_passages_ranked_with_bars_and_marked_words(page, url, service: ModelService):
    expected = service.rerank(QUERY, PASSAGES)
    open_rerank(page, url)
    box(page, "rerank-query").fill(QUERY)
    box(page, "rerank-documents").fill("\n".join(PASSAGES))
    page.locator("#rerank-run").click()
    items = page.locator("#rerank-results li.rerank-item")
    expect(items).to_have_count(len(PASSAGES), timeout=RUN_TIMEOUT)
    assert shown(page) == [(s.index, f"{s.score:.4f}") for s in expected.results]
    first_bar = items.first.locator(".rerank-bar > div").get_attribute("style")
    assert f"width:{expected.results[0].score * 100:.1f}%" in first_bar
    paris = page.locator('#rerank-results li[data-index="0"] .rerank-text')
    expect(paris).to_contain_text("Paris is the <b>capital</b> of France & home")  # text, not markup
    marked = {m.lower() for m in paris.locator("mark").all_inner_texts()}
    assert marked == {"capital", "france"}  # the query's words; "the" and "of" are too common
    expect(page.locator("#rerank-summary")).to_contain_text("4 passages ranked")
    expect(page.locator("#rerank-summary")).to_contain_text("Random weights")

    number = page.locator("#rerank-top-n input[type=number]")
    number.fill("2")
    number.press("Enter")
    page.locator("#rerank-run").click()
    expect(items).to_have_count(2, timeout=RUN_TIMEOUT)
    assert [index for index, _ in shown(page)] == [s.index for s in expected.results[:2]]
    expect(page.locator("#rerank-summary")).to_contain_text("the best 2 shown")


def test_passages_from_a_file_and_bad_input(page, url, tmp_path):
    upload = tmp_path / "passages.csv"
    upload.write_text(
        'id,passage\n1,"Paris is the capital\nof France."\n2,Berlin is in Germany.\n', encoding="utf-8"
    )
    open_rerank(page, url)
    page.locator("#rerank-file input[type=file]").set_input_files(str(upload))
    expect(box(page, "rerank-documents")).to_have_value(
        "Paris is the capital of France.\nBerlin is in Germany.", timeout=TIMEOUT
    )
    expect(page.locator("#rerank-file-note")).to_contain_text("2 passages read from the column 'passage'")
    page.locator("#rerank-run").click()  # no query yet
    expect(error_toast(page).filter(has_text="Please enter some query")).to_be_visible(timeout=RUN_TIMEOUT)
    box(page, "rerank-query").fill("capital of France")
    page.locator("#rerank-run").click()
    expect(page.locator("#rerank-results li.rerank-item")).to_have_count(2, timeout=RUN_TIMEOUT)
    assert not error_toast(page).filter(has_text=re.compile("Traceback|Error:")).count()


def test_a_link_reopens_and_runs_the_tab(page, url, service: ModelService):
    values = {"query": QUERY, "documents": "\n".join(PASSAGES), "top_n": 3}
    page.goto(url + "/" + links.make_link(tab.LINK, values))
    items = page.locator("#rerank-results li.rerank-item")
    expect(items).to_have_count(3, timeout=RUN_TIMEOUT)
    expect(page.get_by_role("tab", name="Rerank", exact=True)).to_have_attribute("aria-selected", "true")
    expect(box(page, "rerank-query")).to_have_value(QUERY)
    assert [index for index, _ in shown(page)] == [
        s.index for s in service.rerank(QUERY, PASSAGES, 3).results
    ]
    page.locator("#rerank-copy-link").click()
    expect(page.locator("#rerank-link").get_by_role("textbox")).to_have_value(
        re.compile(r"\?tab=rerank&query=")
    )
