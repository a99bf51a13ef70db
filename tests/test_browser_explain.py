"""The Explain tab in headless Chromium: run it, see the shading, switch words and tokens, hostile
text shown as text, a deep link that opens and runs, a copied link, and Cancel stopping integrated
gradients early."""

from __future__ import annotations

import re
import threading
import time
from urllib.parse import urlencode

import pytest

from electra_demo.service import ModelService
from electra_demo.tasks import explain
from tests.conftest import launch
from tests.test_browser import TIMEOUT, error_toast

pytestmark = pytest.mark.browser

expect = pytest.importorskip("playwright.sync_api").expect

TEXT = "The chef cooked  the meal.\nIt was wonderful!"
ATTACK = (
    '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script> {{7*7}} ${7*7} `id` '
    "&amp; **bold** [link](http://example.com)"
)
SHADE = re.compile(r"rgba\((220, 38, 38|37, 99, 235), 0\.\d+\)|rgba\(\d+, \d+, \d+, 0(\.0+)?\)")


def open_explain(page, url: str) -> None:
    page.goto(url)
    page.get_by_role("tab", name="Explain", exact=True).click()
    expect(page.locator("#explain-run")).to_be_visible(timeout=TIMEOUT)


def run(page, text: str, pair: str = "") -> None:
    page.locator("#explain-text textarea").fill(text)
    page.locator("#explain-pair textarea").fill(pair)
    page.locator("#explain-run").click()


def view_text(page, selector: str, segment: int = 0) -> str:
    return page.locator(f"{selector} .explain-segment[data-segment='{segment}'] .explain-text").text_content()


def pieces(page, selector: str):
    return page.locator(f"{selector} .explain-piece")


def test_explain_tab_shades_words_and_tokens(page, app_url, service):
    open_explain(page, app_url)
    run(page, TEXT)
    words = pieces(page, "#explain-words")
    expect(words.first).to_be_visible(timeout=TIMEOUT)
    expected = service.explain("sentiment", TEXT)
    expect(page.locator("#explain-summary textarea")).to_have_value(
        re.compile(r"^(positive|negative) 0\.\d\d: ")
    )
    expect(page.locator("#explain-notes")).to_contain_text("Gradient × input")
    # the whole text as typed, each word a shaded piece with its value on hover
    assert view_text(page, "#explain-words") == TEXT
    assert words.count() == len(expected.words)
    for i, word in enumerate(expected.words):
        title = words.nth(i).get_attribute("title")
        assert float(title) == pytest.approx(word.attribution, rel=1e-3, abs=1e-9)
        assert words.nth(i).text_content() == word.text
        assert SHADE.search(words.nth(i).get_attribute("style"))
    # the strongest word is shaded the most (alpha 0.8), on the side of its sign
    strongest = max(range(len(expected.words)), key=lambda i: abs(expected.words[i].attribution))
    color = "220, 38, 38" if expected.words[strongest].attribution > 0 else "37, 99, 235"
    assert f"rgba({color}, 0.800)" in words.nth(strongest).get_attribute("style")
    # the switch shows tokens instead
    expect(page.locator("#explain-tokens")).to_be_hidden()
    page.locator("#explain-unit").get_by_text("Tokens", exact=True).click()
    expect(page.locator("#explain-tokens")).to_be_visible(timeout=TIMEOUT)
    expect(page.locator("#explain-words")).to_be_hidden()
    assert pieces(page, "#explain-tokens").count() == len(expected.tokens) > len(expected.words) - 1
    assert view_text(page, "#explain-tokens") == TEXT
    # the chart has the top words
    expect(page.locator("#explain-bars")).to_be_visible()


def test_hostile_text_is_text_in_the_explain_tab(page, app_url):
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    open_explain(page, app_url)
    page.locator("#explain-task input").click()
    page.get_by_role("option", name="NLI (premise + hypothesis)", exact=True).click()
    run(page, ATTACK, ATTACK)
    expect(page.locator("#explain-notes")).to_contain_text("tokens", timeout=TIMEOUT)
    for unit, selector in (("Words", "#explain-words"), ("Tokens", "#explain-tokens")):
        page.locator("#explain-unit").get_by_text(unit, exact=True).click()
        expect(pieces(page, selector).first).to_be_visible(timeout=TIMEOUT)
        for segment in (0, 1):
            assert view_text(page, selector, segment) == ATTACK, (selector, segment)
        assert page.locator(selector).locator("img, script, a, strong").count() == 0
    expect(page.locator("#explain-summary textarea")).to_have_value(
        re.compile(r"(entailment|neutral|contradiction)")
    )
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert dialogs == []
    assert "49" not in view_text(page, "#explain-tokens")  # no template ran on {{7*7}} or ${7*7}


def test_deep_link_opens_runs_and_copies(page, app_url, service):
    params = {
        "tab": "explain",
        "task": "emotion",
        "text": "I can't believe they threw me a surprise party!",
        "method": "integrated_gradients",
        "steps": "8",
    }
    page.goto(app_url + "?" + urlencode(params))
    expect(page.get_by_role("tab", name="Explain", exact=True)).to_have_attribute(
        "aria-selected", "true", timeout=TIMEOUT
    )
    expect(pieces(page, "#explain-words").first).to_be_visible(timeout=TIMEOUT)
    expect(page.locator("#explain-notes")).to_contain_text("Integrated gradients", timeout=TIMEOUT)
    expect(page.locator("#explain-notes")).to_contain_text("8 steps")
    expected = service.explain("emotion", params["text"], "", "", "integrated_gradients", 8)
    expect(page.locator("#explain-summary textarea")).to_have_value(
        re.compile("^" + expected.target.name + " ")
    )
    assert view_text(page, "#explain-words") == params["text"]
    # Copy link writes a link to the same inputs, which opens the same explanation
    page.locator("#explain-copy-link").click()
    link = page.locator("#explain-link textarea")
    expect(link).to_have_value(re.compile(r"tab=explain"), timeout=TIMEOUT)
    copied = link.input_value()
    assert "method=integrated_gradients" in copied and "steps=8" in copied and "task=emotion" in copied
    page.goto(copied)
    expect(pieces(page, "#explain-words").first).to_be_visible(timeout=TIMEOUT)
    expect(page.locator("#explain-notes")).to_contain_text("8 steps", timeout=TIMEOUT)


class SlowService(ModelService):
    """Records how each explanation ended; each forward pass takes at least 0.2 s, so there is
    time to press Cancel."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.outcomes: list[tuple[str, int]] = []
        self.requests: list[tuple] = []
        self.ended = threading.Event()

    def explain(self, *args, progress=None, cancel=None, **kwargs):
        self.requests.append(args)
        passes = [0]

        def slow(fraction: float) -> None:
            passes[0] += 1
            time.sleep(0.2)
            if progress is not None:
                progress(fraction)

        try:
            result = super().explain(*args, progress=slow, cancel=cancel, **kwargs)
        except explain.Cancelled:
            self.outcomes.append(("cancelled", passes[0]))
            self.ended.set()
            raise
        self.outcomes.append(("done", passes[0]))
        self.ended.set()
        return result


def test_cancel_stops_integrated_gradients(page, tiny_env):
    slow = SlowService(environ={**tiny_env, "ELECTRA_DEMO_BACKEND": "torch"})
    demo = launch(slow)
    try:
        open_explain(page, demo.local_url)
        page.locator("#explain-method").get_by_text("Integrated gradients", exact=True).click()
        page.locator("#explain-steps input[type='number']").fill("256")
        page.locator("#explain-steps input[type='number']").press("Enter")
        run(page, "The chef cooked the meal in the kitchen.")
        expect(page.get_by_text(re.compile("forward passes")).first).to_be_visible(timeout=TIMEOUT)
        page.locator("#explain-cancel").click()
        assert slow.ended.wait(timeout=30), "the worker did not stop"
        outcome, passes = slow.outcomes[-1]
        assert slow.requests[-1][4:] == ("integrated_gradients", 256)
        assert outcome == "cancelled"
        total = 256 // 16 + 4 + 2  # Captum's batched passes (16 rows each) and the others
        assert passes < total, passes
        expect(error_toast(page)).to_have_count(0)
        # the tab works again, at once
        slow.ended.clear()
        page.locator("#explain-method").get_by_text("Gradient × input (instant)", exact=True).click()
        page.locator("#explain-run").click()
        expect(pieces(page, "#explain-words").first).to_be_visible(timeout=TIMEOUT)
        assert slow.outcomes[-1][0] == "done"
    finally:
        demo.close()
