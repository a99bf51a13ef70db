"""The Proofread tab in headless Chromium, as a visitor uses it: a shared link opens and runs it, a
click on a candidate puts it in the text (and the new text is proofread), "Apply all" sets the
text to the corrected one; a stale result, an empty text and a bad link get clear messages; the
visitor's text stays text.

The tiny checkpoints are random: what is expected comes from the same service, not from language.
"""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from electra_demo.page.tabs import proofread as tab
from tests.helpers.browser import TIMEOUT, error_toast

pytestmark = pytest.mark.browser

expect = pytest.importorskip("playwright.sync_api").expect

TEXT = "I drank a cup of hot keyboard this morning."
MARKUP = "Read <b>bold</b> & <img src=x onerror=alert(1)> here."


def open_link(page, url: str, **params) -> None:
    """Open a shared link to the Proofread tab; it fills the inputs and runs."""
    page.goto(url + "?" + urlencode({"tab": "proofread", **params}))


def wait_for_flagged(page, text: str) -> None:
    """Until the flagged-words view shows ``text`` (the result of proofreading it)."""
    page.wait_for_function(
        """text => Array.from(document.querySelectorAll('#proofread-flagged .textfield .token .text'),
            s => s.textContent).join('') === text""",
        arg=text,
        timeout=TIMEOUT,
    )


def textbox(page):
    return page.locator("#proofread-text textarea")


def test_a_click_applies_a_candidate_and_apply_all_the_corrected_text(page, app_url, service):
    open_link(page, app_url, text=TEXT, threshold=0.5, top_k=3)
    expect(page.locator("#proofread-summary")).to_contain_text("words look replaced", timeout=TIMEOUT)
    expect(page.locator("#proofread-summary")).to_contain_text("Random weights")
    wait_for_flagged(page, TEXT)
    first = service.proofread(TEXT, 0.5, 3).suggestions[0]
    cell = page.locator('#proofread-candidates [data-testid="cell-0-3"]')
    expect(cell).to_have_text(first.candidates[0].text)
    expect(page.locator('#proofread-candidates [data-testid="cell-0-0"]')).to_have_text(first.original)

    cell.click()
    clicked = TEXT[: first.start] + first.candidates[0].text + TEXT[first.end :]
    expect(textbox(page)).to_have_value(clicked, timeout=TIMEOUT)
    wait_for_flagged(page, clicked)  # the new text was proofread

    corrected = service.proofread(clicked, 0.5, 3).corrected
    assert corrected != clicked  # something to apply
    page.locator("#proofread-apply-all").click()
    expect(textbox(page)).to_have_value(corrected, timeout=TIMEOUT)
    wait_for_flagged(page, corrected)
    expect(error_toast(page)).to_have_count(0)

    textbox(page).fill(corrected + " And more.")  # edited after proofreading: nothing is applied
    page.locator("#proofread-apply-all").click()
    expect(error_toast(page)).to_contain_text("changed since it was proofread", timeout=TIMEOUT)
    expect(textbox(page)).to_have_value(corrected + " And more.")


def test_bad_input_gets_a_message_and_user_text_stays_text(page, app_url):
    open_link(page, app_url, text=TEXT, top_k=50)
    expect(page.locator("#link-notice")).to_contain_text("Ignored 'top_k'", timeout=TIMEOUT)
    expect(page.locator("#proofread-summary")).to_contain_text("words look replaced", timeout=TIMEOUT)

    textbox(page).fill("   ")
    page.locator("#proofread-run").click()
    expect(error_toast(page)).to_contain_text("Please enter some text", timeout=TIMEOUT)

    open_link(page, app_url, text=MARKUP, threshold=0.0, top_k=1)
    wait_for_flagged(page, MARKUP)
    outputs = ["#proofread-flagged", "#proofread-corrected", "#proofread-candidates", "#proofread-summary"]
    for selector in outputs:
        assert page.locator(selector).locator("img, script, b").count() == 0, selector
    expect(page.locator('#proofread-candidates [data-testid="cell-0-0"]')).to_have_text("Read")
    expect(page.locator("#proofread-flagged .token .text").filter(has_text="<")).not_to_have_count(0)
    # threshold 0 flags every word and passes no candidate (none is below 0): nothing is fixed
    expect(page.locator("#proofread-corrected .token.highlighted")).to_have_count(0)
    assert page.locator("#proofread-corrected .textfield .token .text").all_text_contents() == [MARKUP]
    expect(page.locator("#proofread-flagged")).to_contain_text(tab.NO_FIX)  # the legend
