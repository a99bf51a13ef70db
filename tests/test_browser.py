"""The app in headless Chromium, driven as a person would: type, click, read what is shown."""

from __future__ import annotations

import re

import pytest

from electra_demo.service import ModelService
from tests.helpers.browser import TIMEOUT, error_toast, open_app, wait_for_tokens
from tests.helpers.serving import launch

pytestmark = pytest.mark.browser

expect = pytest.importorskip("playwright.sync_api").expect

TYPED = "The Chef  cooked\tthe meal.\nIt was good."
ATTACK = (
    '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script> '
    "**bold** [link](http://example.com) ![img](http://example.com/a.png)"
)
OUTPUTS = ["#detect-tokens", "#detect-words", "#corrupt-original", "#corrupt-corrupted", "#corrupt-view"]


def shown_text(page, selector: str) -> str:
    """The text of a HighlightedText output, its token spans joined in order."""
    return page.locator(f"{selector} .textfield").evaluate(
        "field => Array.from(field.querySelectorAll('.token .text'), s => s.textContent).join('')"
    )


def detect(page, text: str) -> None:
    page.locator("#detect-text textarea").fill(text)
    page.locator("#detect-run").click()


def corrupt(page, text: str, seed: int | None = None) -> None:
    page.get_by_role("tab", name="Corrupt & detect", exact=True).click()
    page.locator("#corrupt-text textarea").fill(text)
    if seed is not None:
        page.get_by_label("Seed").fill(str(seed))
    page.locator("#corrupt-run").click()


def words(text: str) -> list[str]:
    return text.split()


def squeeze(text: str) -> str:
    """The text without its whitespace, which the browser lays out its own way."""
    return re.sub(r"\s+", "", text)


def test_detect_shows_the_text_as_typed(page, app_url):
    open_app(page, app_url)
    expect(page.locator("#random-weights-banner")).to_contain_text("Random weights")
    expect(page.locator("#random-weights-banner")).to_be_visible()

    detect(page, TYPED)
    expect(page.locator("#detect-summary")).to_contain_text("words look replaced", timeout=TIMEOUT)
    expect(page.locator("#detect-summary")).to_contain_text("Random weights")
    wait_for_tokens(page, "#detect-tokens")
    wait_for_tokens(page, "#detect-words")

    # every character comes back, case, double space, tab and newline included
    assert shown_text(page, "#detect-tokens") == TYPED
    # and what a person sees (rendered text; each token is a chip, whitespace laid out by the
    # browser) is the typed text, casing and punctuation included
    visible = page.locator("#detect-tokens .textfield").inner_text()
    assert squeeze(visible) == squeeze(TYPED)
    chips = [t for t in page.locator("#detect-tokens .token .text").all_inner_texts() if t.strip()]
    assert "".join(chips) == squeeze(TYPED)
    # the word view renders the newline as a line break element, the other characters as text
    assert shown_text(page, "#detect-words") == TYPED.replace("\n", "")
    assert page.locator("#detect-words .line-break").count() == TYPED.count("\n")
    assert squeeze(page.locator("#detect-words .textfield").inner_text()) == squeeze(TYPED)
    # the token view shades tokens by score
    assert page.locator("#detect-tokens .token.score-token").count() >= len(words(TYPED))


def test_user_text_is_never_markup(page, app_url):
    dialogs: list[str] = []

    def on_dialog(dialog) -> None:
        dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    open_app(page, app_url)

    detect(page, ATTACK)
    expect(page.locator("#detect-summary")).to_contain_text("words look replaced", timeout=TIMEOUT)
    wait_for_tokens(page, "#detect-tokens")
    wait_for_tokens(page, "#detect-words")
    # the per-token table in the accordion too
    page.get_by_role("button", name="Per-token scores and JSON").click()
    panel = page.get_by_role("tabpanel").get_by_test_id("accordion-content")
    expect(panel.get_by_test_id("cell-0-0")).to_have_text("<", timeout=TIMEOUT)  # a token, as text
    expect(panel.get_by_test_id("json")).to_contain_text("pwned")
    assert panel.locator("img, script, a").count() == 0

    corrupt(page, ATTACK, seed=3)
    expect(page.locator("#corrupt-summary")).to_contain_text("words masked", timeout=TIMEOUT)
    for selector in ("#corrupt-original", "#corrupt-corrupted", "#corrupt-view"):
        wait_for_tokens(page, selector)

    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert dialogs == []
    for selector in OUTPUTS:
        assert page.locator(selector).locator("img, script, strong, em, a").count() == 0, selector
    for selector in ("#detect-summary", "#corrupt-summary"):  # numbers only, never the text
        assert page.locator(selector).locator("img, script, a").count() == 0, selector
        expect(page.locator(selector)).not_to_contain_text("bold")
    assert page.locator("img[src='x'], img[src*='example.com']").count() == 0
    assert page.locator("a[href*='example.com']").count() == 0
    # the markup is shown as the characters typed
    assert shown_text(page, "#detect-tokens") == ATTACK
    assert shown_text(page, "#corrupt-original") == ATTACK
    for selector in ("#detect-tokens", "#detect-words", "#corrupt-original"):
        # tokens are separate chips, so compare what is visible without the layout's whitespace
        visible = squeeze(page.locator(f"{selector} .textfield").inner_text())
        assert "<script>window.__pwned=2</script>" in visible, selector
        assert "**bold**[link](http://example.com)" in visible, selector
        assert visible == squeeze(ATTACK), selector


def test_corrupt_tab(page, app_url, service):
    text = "The chef cooked the meal in the kitchen while Marie worked in Paris."
    seed = 7
    open_app(page, app_url)
    corrupt(page, text, seed=seed)

    summary = page.locator("#corrupt-summary")
    expect(summary).to_contain_text("words masked", timeout=TIMEOUT)
    expect(summary).to_contain_text(f"seed {seed}")  # the seed typed is the seed used
    expect(summary).to_contain_text("precision")
    for selector in ("#corrupt-original", "#corrupt-corrupted", "#corrupt-view"):
        wait_for_tokens(page, selector)
        expect(page.locator(selector)).to_be_visible()

    expected = service.corrupt(text, 0.15, seed)
    assert shown_text(page, "#corrupt-original") == text
    assert shown_text(page, "#corrupt-corrupted") == expected.corrupted
    assert shown_text(page, "#corrupt-view") == expected.corrupted
    # each replacement is marked in the corrupted text; the discriminator shades every token
    marked = page.locator("#corrupt-corrupted .token.highlighted .text").all_text_contents()
    assert marked == [r.replacement for r in expected.replacements]
    assert page.locator("#corrupt-view .token.score-token").count() >= len(words(expected.corrupted))


def test_empty_text_shows_an_error_and_the_page_recovers(page, app_url):
    open_app(page, app_url)
    page.locator("#detect-run").click()

    toast = error_toast(page)
    expect(toast).to_be_visible(timeout=TIMEOUT)
    expect(toast).to_contain_text("empty")
    assert "Traceback" not in toast.inner_text()

    detect(page, "The chef cooked the meal.")
    expect(page.locator("#detect-summary")).to_contain_text("words look replaced", timeout=TIMEOUT)
    wait_for_tokens(page, "#detect-tokens")
    assert shown_text(page, "#detect-tokens") == "The chef cooked the meal."


def test_missing_generator_is_named_and_detect_still_works(page, tiny_env):
    missing = "/nonexistent/electra-generator"
    demo = launch(ModelService(environ={**tiny_env, "ELECTRA_DEMO_GENERATOR": missing}))
    try:
        open_app(page, demo.local_url)
        corrupt(page, "The chef cooked the meal in the kitchen.", seed=1)

        toast = error_toast(page)
        expect(toast).to_be_visible(timeout=TIMEOUT)
        expect(toast).to_contain_text("ELECTRA_DEMO_GENERATOR")
        expect(toast).to_contain_text(missing)
        assert "Traceback" not in toast.inner_text()
        expect(page.locator("#corrupt-corrupted .textfield .token")).to_have_count(0)

        page.get_by_role("tab", name="Replaced tokens", exact=True).click()
        detect(page, "The chef cooked the meal.")
        expect(page.locator("#detect-summary")).to_contain_text("words look replaced", timeout=TIMEOUT)
        wait_for_tokens(page, "#detect-tokens")
        assert shown_text(page, "#detect-tokens") == "The chef cooked the meal."
    finally:
        demo.close()
