"""Shareable links, "Copy link", cached examples and the model status panel, in headless Chromium.

A link (``?tab=...&text=...``) must open its tab with its inputs filled and run; a link copied
from the page must reopen the same inputs and result in a new page; the curated examples fill
the inputs and show a result, the second time from the lazy cache.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from electra_demo import config
from electra_demo.page import links
from electra_demo.service import ModelService
from tests.helpers.browser import TIMEOUT, error_toast, wait_for_tokens
from tests.helpers.serving import launch

pytestmark = pytest.mark.browser

expect = pytest.importorskip("playwright.sync_api").expect

# spaces (a double one too), a newline, an ampersand, '#', '+', '=', '%', accents and emoji: every
# one of them means something in a URL or a query string
TEXT = "Café & crème brûlée #1 🎉 tastes  great.\nNaïve Zoë paid 100% + tip = 5€ 👩‍🍳 in São Paulo."
PAIR = "Zoë & Renée ate #2 dessert 🍰 in Zürich?\nYes."
QUESTION = "Where did Zoë & Renée eat dessert #2 🍰?"
CONTEXT = (
    "Café & crème #1 🎉: Zoë & Renée ate dessert #2 in Zürich, not in São Paulo.\n"
    "They paid 100% + tip = 5€ 👩‍🍳 and went home."
)
TAB_NAMES = {
    "detect": "Replaced tokens",
    "corrupt": "Corrupt & detect",
    "classify": "Classify",
    "tag": "Entities",
    "qa": "Question answering",
}


def tab(page, name: str):
    return page.get_by_role("tab", name=TAB_NAMES[name], exact=True)


def expect_selected(page, name: str) -> None:
    expect(tab(page, name)).to_have_attribute("aria-selected", "true", timeout=TIMEOUT)
    for other in TAB_NAMES:
        if other != name:
            expect(tab(page, other)).to_have_attribute("aria-selected", "false")


def textarea(page, elem_id: str):
    return page.locator(f"#{elem_id} textarea")


def number(page, label: str):
    """The number box of a slider (or a gr.Number) by its label."""
    return page.get_by_label(f"number input for {label}", exact=True)


def shown_text(page, selector: str) -> str:
    """A HighlightedText's text: its token spans in order, a line-break element read as a newline
    (labelled views render a newline as an element; the score view keeps it in the token text)."""
    return page.locator(f"{selector} .textfield").evaluate(
        """field => Array.from(field.querySelectorAll('.token .text, .line-break'),
            e => e.matches('.line-break') ? '\\n' : e.textContent).join('')"""
    )


def wait_for_shown(page, selector: str, text: str) -> None:
    """Wait until a HighlightedText's tokens join to ``text``."""
    page.wait_for_function(
        """([selector, text]) => Array.from(document.querySelectorAll(selector + ' .textfield .token .text'),
            s => s.textContent).join('') === text""",
        arg=[selector, text],
        timeout=TIMEOUT,
    )


def summary_text(page, name: str) -> str:
    return page.locator(f"#{name}-summary").inner_text()


def no_notice(page) -> None:
    expect(page.locator("#link-notice")).to_have_text("")
    expect(page.locator("#link-notice")).not_to_contain_text("⚠️")


def open_url(page, url: str) -> None:
    response = page.goto(url)
    assert response is not None and response.ok, url
    expect(page.locator("#detect-run")).to_be_attached(timeout=TIMEOUT)


def link(name: str, **params: object) -> str:
    return "?" + urlencode({"tab": name, **params})


def choose(page, elem_id: str, option: str) -> None:
    """Pick a dropdown option as a person does: open the list, click the option."""
    page.locator(f"#{elem_id} input").click()
    page.get_by_role("option", name=option, exact=True).click()


# ---- 1. a deep link per tab -----------------------------------------------------------------
def test_detect_link(page, app_url, service: ModelService):
    open_url(page, app_url + link("detect", text=TEXT, threshold=0.6))
    expect_selected(page, "detect")
    expected = service.detect(TEXT, 0.6)
    flagged = sum(w.replaced for w in expected.words)
    summary = page.locator("#detect-summary")
    expect(summary).to_contain_text(
        f"{flagged} of {len(expected.words)} words look replaced", timeout=TIMEOUT
    )
    expect(summary).to_contain_text("P(replaced) > 0.6")
    expect(summary).to_contain_text(f"{len(expected.tokens)} tokens scored")

    expect(textarea(page, "detect-text")).to_have_value(TEXT)
    expect(number(page, "Threshold")).to_have_value("0.6")
    wait_for_tokens(page, "#detect-tokens")
    wait_for_tokens(page, "#detect-words")
    assert shown_text(page, "#detect-tokens") == TEXT
    assert shown_text(page, "#detect-words") == TEXT
    marked = page.locator("#detect-words .token.highlighted .text").all_text_contents()
    assert marked == [w.text for w in expected.words if w.replaced]
    no_notice(page)
    expect(error_toast(page)).to_have_count(0)


def test_corrupt_link(page, app_url, service: ModelService):
    open_url(page, app_url + link("corrupt", text=TEXT, fraction=0.2, seed=3))
    expect_selected(page, "corrupt")
    expected = service.corrupt(TEXT, 0.2, 3)
    summary = page.locator("#corrupt-summary")
    expect(summary).to_contain_text("(fraction 0.2, seed 3)", timeout=TIMEOUT)
    masked = len(expected.replacements) + len(expected.unchanged)
    expect(summary).to_contain_text(f"{masked} words masked, {len(expected.replacements)} replaced")

    expect(textarea(page, "corrupt-text")).to_have_value(TEXT)
    expect(number(page, "Fraction of words to corrupt")).to_have_value("0.2")
    expect(page.get_by_label("Seed (a whole number)", exact=True)).to_have_value("3")
    for selector in ("#corrupt-original", "#corrupt-corrupted", "#corrupt-view"):
        wait_for_tokens(page, selector)
    assert shown_text(page, "#corrupt-original") == TEXT
    assert shown_text(page, "#corrupt-corrupted") == expected.corrupted
    assert shown_text(page, "#corrupt-view") == expected.corrupted
    marked = page.locator("#corrupt-corrupted .token.highlighted .text").all_text_contents()
    assert marked == [r.replacement for r in expected.replacements]
    no_notice(page)
    expect(error_toast(page)).to_have_count(0)


def classify_summary(service: ModelService, head: str, text: str, pair: str) -> str:
    top, score = service.classify(head, text, pair).labels[0]
    return f"{top} ({score:.1%})"


def test_classify_link(page, app_url, service: ModelService):
    open_url(page, app_url + link("classify", head="nli", text=TEXT, text_pair=PAIR))
    expect_selected(page, "classify")
    expect(page.locator("#classify-summary")).to_contain_text(
        classify_summary(service, "nli", TEXT, PAIR), timeout=TIMEOUT
    )
    expect(page.locator("#classify-head input")).to_have_value(config.REGISTRY["nli"].display_name)
    expect(textarea(page, "classify-text")).to_have_value(TEXT)
    expect(page.locator("#classify-pair")).to_be_visible()
    expect(textarea(page, "classify-pair")).to_have_value(PAIR)
    expect(page.locator("#classify-label")).to_contain_text(service.classify("nli", TEXT, PAIR).labels[0][0])
    no_notice(page)
    expect(error_toast(page)).to_have_count(0)


def test_tag_link(page, app_url, service: ModelService):
    open_url(page, app_url + link("tag", text=TEXT, aggregation="max"))
    expect_selected(page, "tag")
    expected = service.tag(TEXT, "max")
    summary = page.locator("#tag-summary")
    expect(summary).to_contain_text(f"{len(expected.entities)} entities", timeout=TIMEOUT)
    expect(summary).to_contain_text("aggregation max")

    expect(textarea(page, "tag-text")).to_have_value(TEXT)
    expect(page.locator("#tag-aggregation input")).to_have_value("max")
    wait_for_tokens(page, "#tag-entities")
    assert shown_text(page, "#tag-entities") == TEXT
    marked = page.locator("#tag-entities .token.highlighted .text").all_text_contents()
    # an entity across the newline is shown as two pieces around a line break
    assert marked == [piece for e in expected.entities for piece in e.text.split("\n") if piece]
    no_notice(page)
    expect(error_toast(page)).to_have_count(0)


def qa_summary(service: ModelService, question: str, context: str, top_k: int) -> str:
    """The first line of the answer summary that the app should show (without its Markdown)."""
    result = service.answer(question, context, top_k)
    if result.no_answer:
        return "No answer in this context."
    top = result.answers[0]
    return f"Best answer (green), score {top.score:.4f}, characters {top.start}-{top.end}"


def test_qa_link(page, app_url, service: ModelService):
    open_url(page, app_url + link("qa", question=QUESTION, context=CONTEXT, top_k=2))
    expect_selected(page, "qa")
    expect(page.locator("#qa-summary")).to_contain_text(
        qa_summary(service, QUESTION, CONTEXT, 2), timeout=TIMEOUT
    )
    expect(textarea(page, "qa-question")).to_have_value(QUESTION)
    expect(textarea(page, "qa-context")).to_have_value(CONTEXT)
    expect(number(page, "Answers (top-k)")).to_have_value("2")
    wait_for_tokens(page, "#qa-context-view")
    assert shown_text(page, "#qa-context-view") == CONTEXT
    no_notice(page)
    expect(error_toast(page)).to_have_count(0)


# ---- 2. malformed links ---------------------------------------------------------------------
def test_malformed_link_is_ignored_with_a_notice(page, app_url, service: ModelService):
    open_url(page, app_url + "?tab=detect&text=hello&threshold=abc&bogus=1")
    notice = page.locator("#link-notice")
    expect(notice).to_contain_text("threshold", timeout=TIMEOUT)
    expect(notice).to_contain_text("bogus")
    expect_selected(page, "detect")
    expect(textarea(page, "detect-text")).to_have_value("hello")
    expected = service.detect("hello", config.DEFAULT_THRESHOLD)
    summary = page.locator("#detect-summary")
    expect(summary).to_contain_text(f"of {len(expected.words)} words look replaced", timeout=TIMEOUT)
    expect(summary).to_contain_text(f"P(replaced) > {config.DEFAULT_THRESHOLD:g}")
    expect(number(page, "Threshold")).to_have_value(f"{config.DEFAULT_THRESHOLD:g}")
    wait_for_tokens(page, "#detect-tokens")
    assert shown_text(page, "#detect-tokens") == "hello"
    expect(error_toast(page)).to_have_count(0)


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("?tab=nope", ["tab is unknown", "detect"]),
        ("?text=hello", ["names no tab"]),
        ("?tab=detect&text=hello&threshold=2", ["threshold", "between 0 and 1"]),
        ("?tab=corrupt&text=hello&seed=1.5", ["seed", "not a valid value"]),
        ("?tab=classify&head=nope&text=hello", ["head", "sentiment"]),
    ],
)
def test_bad_link_shows_a_notice_and_no_error(page, app_url, query: str, words: list[str]):
    open_url(page, app_url + query)
    notice = page.locator("#link-notice")
    for word in words:
        expect(notice).to_contain_text(word, timeout=TIMEOUT)
    expect(page.locator("#detect-run")).to_be_attached()
    assert "Traceback" not in page.content()
    page.wait_for_timeout(500)  # let a late error toast show, if one comes
    expect(error_toast(page)).to_have_count(0)


# ---- 3. copy link -----------------------------------------------------------------------------
def copied_link(page, name: str, app_url: str) -> str:
    page.locator(f"#{name}-copy-link").click()
    box = textarea(page, f"{name}-link")
    expect(box).to_have_value(re.compile(r"^https?://.*\?tab="), timeout=TIMEOUT)
    url = box.input_value()
    assert url.startswith(app_url.rstrip("/")), url
    assert urlsplit(url).path == urlsplit(app_url).path, url
    expect(page.locator(f"#{name}-link-message")).to_have_text("")
    return url


def test_copy_link_reopens_classify(page, app_url, service: ModelService):
    open_url(page, app_url)
    tab(page, "classify").click()
    choose(page, "classify-head", config.REGISTRY["nli"].display_name)
    expect(page.locator("#classify-pair")).to_be_visible(timeout=TIMEOUT)
    textarea(page, "classify-text").fill(TEXT)
    textarea(page, "classify-pair").fill(PAIR)
    page.locator("#classify-run").click()
    expected = classify_summary(service, "nli", TEXT, PAIR)
    expect(page.locator("#classify-summary")).to_contain_text(expected, timeout=TIMEOUT)

    url = copied_link(page, "classify", app_url)
    params = parse_qs(urlsplit(url).query, keep_blank_values=True)
    assert params == {"tab": ["classify"], "head": ["nli"], "text": [TEXT], "text_pair": [PAIR]}

    other = page.context.new_page()
    open_url(other, url)
    expect_selected(other, "classify")
    expect(other.locator("#classify-summary")).to_contain_text(expected, timeout=TIMEOUT)
    assert summary_text(other, "classify") == summary_text(page, "classify")
    expect(other.locator("#classify-head input")).to_have_value(config.REGISTRY["nli"].display_name)
    expect(textarea(other, "classify-text")).to_have_value(TEXT)
    expect(other.locator("#classify-pair")).to_be_visible()
    expect(textarea(other, "classify-pair")).to_have_value(PAIR)
    no_notice(other)
    expect(error_toast(other)).to_have_count(0)


def test_copy_link_reopens_qa(page, app_url, service: ModelService):
    open_url(page, app_url)
    tab(page, "qa").click()
    textarea(page, "qa-question").fill(QUESTION)
    textarea(page, "qa-context").fill(CONTEXT)
    top_k = number(page, "Answers (top-k)")
    top_k.fill("2")
    top_k.press("Tab")
    expect(top_k).to_have_value("2")
    page.locator("#qa-run").click()
    expected = qa_summary(service, QUESTION, CONTEXT, 2)
    expect(page.locator("#qa-summary")).to_contain_text(expected, timeout=TIMEOUT)

    url = copied_link(page, "qa", app_url)
    params = parse_qs(urlsplit(url).query, keep_blank_values=True)
    assert params["tab"] == ["qa"]
    assert params["question"] == [QUESTION]
    assert params["context"] == [CONTEXT]
    assert params["top_k"] == ["2"]

    other = page.context.new_page()
    open_url(other, url)
    expect_selected(other, "qa")
    expect(other.locator("#qa-summary")).to_contain_text(expected, timeout=TIMEOUT)
    assert summary_text(other, "qa") == summary_text(page, "qa")
    expect(textarea(other, "qa-question")).to_have_value(QUESTION)
    expect(textarea(other, "qa-context")).to_have_value(CONTEXT)
    expect(number(other, "Answers (top-k)")).to_have_value("2")
    wait_for_tokens(other, "#qa-context-view")
    assert shown_text(other, "#qa-context-view") == CONTEXT
    no_notice(other)
    expect(error_toast(other)).to_have_count(0)


def test_too_long_input_is_refused_a_link(page, app_url):
    open_url(page, app_url)
    textarea(page, "detect-text").fill("Short text.")
    copied_link(page, "detect", app_url)  # a link first, so a stale one would show

    long_text = "word " * 1_000  # 5,000 characters
    assert len(urlencode({"text": long_text})) > links.MAX_LINK_CHARS
    textarea(page, "detect-text").fill(long_text)
    page.locator("#detect-copy-link").click()
    message = page.locator("#detect-link-message")
    expect(message).to_contain_text("too long for a link", timeout=TIMEOUT)
    expect(message).to_contain_text(f"{links.MAX_LINK_CHARS:,}")
    expect(textarea(page, "detect-link")).to_have_value("")
    expect(error_toast(page)).to_have_count(0)

    # a short text again gives a link and clears the message
    textarea(page, "detect-text").fill("Short again.")
    url = copied_link(page, "detect", app_url)
    assert parse_qs(urlsplit(url).query)["text"] == ["Short again."]


# ---- 4. examples ------------------------------------------------------------------------------
def test_example_click_fills_and_runs_then_comes_from_the_cache(page, app_url, service: ModelService):
    from electra_demo.page.tabs.detect import EXAMPLES

    first, threshold = EXAMPLES[0]
    second = EXAMPLES[1][0]
    expected = service.detect(first, threshold)
    counts = f"{sum(w.replaced for w in expected.words)} of {len(expected.words)} words look replaced"
    open_url(page, app_url)
    row = page.locator("tr").filter(has_text=first[:30])
    expect(row).to_have_count(1)

    shown = []
    for _ in range(2):
        row.click()
        expect(textarea(page, "detect-text")).to_have_value(first, timeout=TIMEOUT)
        expect(number(page, "Threshold")).to_have_value(f"{threshold:g}")
        expect(page.locator("#detect-summary")).to_contain_text(counts, timeout=TIMEOUT)
        wait_for_tokens(page, "#detect-tokens")
        assert shown_text(page, "#detect-tokens") == first
        shown.append((summary_text(page, "detect"), page.locator("#detect-tokens .token").count()))
        # the first click cached the example's outputs (Gradio's lazy cache, kept per checkpoints)
        indices = list(service.examples_cache_dir().glob("*/indices.csv"))
        assert any("0" in f.read_text().split() for f in indices), indices
        # another example in between, so the second click has something to replace
        page.locator("tr").filter(has_text=second[:30]).click()
        expect(textarea(page, "detect-text")).to_have_value(second, timeout=TIMEOUT)
        wait_for_shown(page, "#detect-tokens", second)
    assert shown[0] == shown[1]
    expect(error_toast(page)).to_have_count(0)


# ---- 5. model status --------------------------------------------------------------------------
def test_model_status_after_detect(page, tiny_env):
    # a service of its own, so the discriminator is loaded by this test's click, not by another test
    demo = launch(ModelService(environ=tiny_env))
    try:
        open_url(page, demo.local_url)
        textarea(page, "detect-text").fill("The chef cooked the meal.")
        page.locator("#detect-run").click()
        expect(page.locator("#detect-summary")).to_contain_text("words look replaced", timeout=TIMEOUT)
        wait_for_tokens(page, "#detect-tokens")

        page.get_by_role("button", name="Models: loaded, loading or failed").click()
        panel = page.locator("#model-status")
        expect(panel).to_be_visible(timeout=TIMEOUT)
        slots, memory = panel.locator("table").first, panel.locator("table").nth(1)
        discriminator = slots.locator("tr").filter(
            has=page.locator("td", has_text=re.compile("^discriminator$"))
        )
        expect(discriminator).to_contain_text("✅ loaded", timeout=TIMEOUT)
        expect(discriminator).to_contain_text(re.compile("ONNX Runtime|PyTorch|OpenVINO"))
        # the slots this tab did not use stay unloaded
        generator = slots.locator("tr").filter(has=page.locator("td", has_text=re.compile("^generator$")))
        expect(generator).to_contain_text("not loaded")
        # what is in memory: only the discriminator, served, with its weights (or freed for ONNX)
        in_memory = memory.locator("tbody tr")
        expect(in_memory).to_have_count(1)
        expect(in_memory).to_contain_text(re.compile(r"discriminator\s*served model"))
        expect(in_memory).to_contain_text(re.compile(r"MiB|freed"))
    finally:
        demo.close()
