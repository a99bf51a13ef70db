"""The Explain tab in headless Chromium: run it, see the shading, switch words and tokens, hostile
text shown as text, a deep link that opens and runs, a copied link, and Cancel stopping integrated
gradients early."""

from __future__ import annotations

import re
import threading
from urllib.parse import urlencode

import pytest

from electra_demo.service import ModelService
from electra_demo.tasks import explain
from tests.helpers.browser import TIMEOUT, error_toast
from tests.helpers.serving import launch

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


WAIT_S = 120  # a bound on waiting for an event that must come; reached only when it never does


class GatedService(ModelService):
    """Holds an explanation at a chosen point until its cancel flag is set, so each side of the race
    with Cancel is reached by waiting on events, not on the clock: ``"start"`` holds it before the
    explanation starts (as if its model were still loading), ``"pass"`` inside its first forward
    pass; None lets it run. Records how each explanation ended."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.hold: str | None = None
        self.outcomes: list[tuple[str, int]] = []
        self.requests: list[tuple] = []
        self.held = threading.Event()  # the explanation waits at the chosen point
        self.ended = threading.Event()

    def _wait_for(self, cancel) -> None:
        self.held.set()
        assert cancel.wait(WAIT_S), "Cancel never reached the explanation"

    def explain(self, *args, progress=None, cancel=None, **kwargs):
        self.requests.append(args)
        passes = [0]

        def counted(fraction: float) -> None:
            passes[0] += 1
            if self.hold == "pass" and passes[0] == 1:
                self._wait_for(cancel)
            if progress is not None:
                progress(fraction)

        try:
            if self.hold == "start":
                self._wait_for(cancel)
            result = super().explain(*args, progress=counted, cancel=cancel, **kwargs)
        except explain.Cancelled:
            self.outcomes.append(("cancelled", passes[0]))
            raise
        finally:
            self.ended.set()
        self.outcomes.append(("done", passes[0]))
        return result


@pytest.fixture(scope="module")
def gated(tiny_env):
    service = GatedService(environ={**tiny_env, "ELECTRA_DEMO_BACKEND": "torch"})
    demo = launch(service)
    try:
        yield service, demo.local_url
    finally:
        demo.close()


def _start_integrated_gradients(page, gated, hold: str | None) -> GatedService:
    service, url = gated
    service.hold = hold
    service.held.clear()
    service.ended.clear()
    open_explain(page, url)
    page.locator("#explain-method").get_by_text("Integrated gradients", exact=True).click()
    page.locator("#explain-steps input[type='number']").fill("256")
    page.locator("#explain-steps input[type='number']").press("Enter")
    run(page, "The chef cooked the meal in the kitchen.")
    return service


def _expect_calm_cancel(page, service: GatedService) -> None:
    assert service.ended.wait(WAIT_S), "the explanation did not stop"
    assert service.outcomes[-1][0] == "cancelled"
    expect(page.locator("#explain-summary textarea")).to_have_value(
        re.compile("^Cancelled: "), timeout=TIMEOUT
    )
    expect(error_toast(page)).to_have_count(0)


@pytest.mark.parametrize("hold", ["start", "pass"])
def test_cancel_ends_calmly_before_and_during_a_run(page, gated, hold: str):
    """Cancel while the explanation waits to start, and inside a forward pass: it stops (early), the
    page says "Cancelled" and shows no error, whichever way the race goes; the tab works again."""
    service = _start_integrated_gradients(page, gated, hold)
    assert service.held.wait(WAIT_S), "the explanation never reached the point to cancel at"
    page.locator("#explain-cancel").click()
    _expect_calm_cancel(page, service)
    _, passes = service.outcomes[-1]
    assert service.requests[-1][4:] == ("integrated_gradients", 256)
    assert passes == (0 if hold == "start" else 1), passes  # stopped at the next check
    # the tab works again, at once
    service.hold = None
    service.ended.clear()
    page.locator("#explain-method").get_by_text("Gradient × input (instant)", exact=True).click()
    page.locator("#explain-run").click()
    expect(pieces(page, "#explain-words").first).to_be_visible(timeout=TIMEOUT)
    expect(page.locator("#explain-summary textarea")).not_to_have_value(re.compile("^Cancelled"))
    assert service.ended.wait(WAIT_S) and service.outcomes[-1][0] == "done"


def test_cancel_after_the_run_finished_leaves_its_result(page, gated, cancel_pressed):
    """Cancel pressed once the explanation is shown: the result stands, no error, no "Cancelled"."""
    service = _start_integrated_gradients(page, gated, None)
    expect(pieces(page, "#explain-words").first).to_be_visible(timeout=TIMEOUT)
    summary = page.locator("#explain-summary textarea").input_value()
    assert service.outcomes[-1][0] == "done"
    page.locator("#explain-cancel").click()
    assert cancel_pressed.wait(WAIT_S), "the Cancel button's handler never ran"
    expect(page.locator("#explain-summary textarea")).to_have_value(summary)
    expect(pieces(page, "#explain-words").first).to_be_visible()
    expect(error_toast(page)).to_have_count(0)
