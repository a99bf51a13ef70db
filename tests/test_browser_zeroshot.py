"""The Classify tab's zero-shot choice in headless Chromium: picking it shows the labels, the
template, the method and the multi-label box (and hides the second text); Classify shows the
labels' scores on the heads' bar chart, a visitor's label as text; a bad input is a message, not
a traceback; Copy link reopens it; picking a head again hides it all."""

from __future__ import annotations

import re

import pytest

from electra_demo import config
from electra_demo.page.tabs.classify import METHOD_CHOICES, ZERO_SHOT_CHOICE
from electra_demo.service import ModelService
from tests.helpers.browser import TIMEOUT, error_toast, open_app

pytestmark = pytest.mark.browser

expect = pytest.importorskip("playwright.sync_api").expect

TEXT = "The striker scored twice & the crowd went wild 🎉."
LABELS = "sports, <i>art</i>, politics"


def choose(page, elem_id: str, option: str) -> None:
    """Pick a dropdown option as a person does: open the list, click the option."""
    page.locator(f"#{elem_id} input").click()
    page.get_by_role("option", name=option, exact=True).click()


def test_zero_shot_in_the_classify_tab(page, app_url, service: ModelService):
    open_app(page, app_url)
    page.get_by_role("tab", name="Classify", exact=True).click()
    zero_inputs = [
        page.locator(f"#classify-{name}") for name in ("labels", "template", "method", "multi-label")
    ]
    expect(zero_inputs[0]).to_be_hidden()
    choose(page, "classify-head", config.REGISTRY["nli"].display_name)
    expect(page.locator("#classify-pair")).to_be_visible(timeout=TIMEOUT)
    choose(page, "classify-head", ZERO_SHOT_CHOICE[0])
    for shown in zero_inputs:
        expect(shown).to_be_visible(timeout=TIMEOUT)
    expect(page.locator("#classify-pair")).to_be_hidden()
    expect(page.locator("#classify-template textarea")).to_have_value("It was {}.")

    page.locator("#classify-text textarea").fill(TEXT)
    page.locator("#classify-labels textarea").fill("sports")  # one label: a message, no traceback
    page.locator("#classify-run").click()
    expect(error_toast(page)).to_contain_text("at least 2 candidate labels", timeout=TIMEOUT)
    assert "Traceback" not in page.content()

    page.locator("#classify-labels textarea").fill(LABELS)
    page.locator("#classify-method").get_by_label(METHOD_CHOICES[1][0]).check()
    page.locator("#classify-run").click()
    expected = service.zeroshot(TEXT, LABELS, "It was {}.", "nli")
    score = expected.labels[0][1]
    summary = page.locator("#classify-summary")
    expect(summary).to_contain_text(f"{score:.1%} of 3 candidate labels", timeout=TIMEOUT)
    expect(summary).to_contain_text("the NLI head's entailment (nli)")
    chart = page.locator("#classify-label")
    for label, _ in expected.labels:
        expect(chart).to_contain_text(label)  # "<i>art</i>" as typed: text, not markup
    expect(chart.locator("i")).to_have_count(0)

    page.locator("#classify-copy-link").click()
    box = page.locator("#classify-link textarea")
    expect(box).to_have_value(re.compile(r"head=zero-shot.*candidate_labels="), timeout=TIMEOUT)
    other = page.context.new_page()
    other.goto(box.input_value())
    expect(other.locator("#classify-summary")).to_contain_text(f"{score:.1%} of 3", timeout=TIMEOUT)
    expect(other.locator("#classify-labels textarea")).to_have_value(LABELS)
    expect(other.locator("#classify-method").get_by_label(METHOD_CHOICES[1][0])).to_be_checked()
    expect(other.locator("#classify-pair")).to_be_hidden()
    expect(error_toast(other)).to_have_count(0)

    choose(page, "classify-head", config.REGISTRY["sentiment"].display_name)
    expect(zero_inputs[0]).to_be_hidden(timeout=TIMEOUT)
    page.locator("#classify-run").click()
    sentiment = service.classify("sentiment", TEXT)
    expect(summary).to_contain_text(f"{sentiment.labels[0][1]:.1%}", timeout=TIMEOUT)
