"""The page in headless Chromium (Playwright; the ``browser`` and ``page`` fixtures launch it):
waiting for what must appear, the error toast, and opening the page and its Fine-tune tab."""

from __future__ import annotations

from pathlib import Path

import pytest

expect = pytest.importorskip("playwright.sync_api").expect

TIMEOUT = 60_000  # a bound on waiting for what must appear; a busy machine is slow, not wrong
RUN_TIMEOUT = 180_000  # the training process starts (imports torch and transformers), then trains


def wait_for_tokens(page, selector: str) -> None:
    """Until the HighlightedText output ``selector`` shows its first token."""
    expect(page.locator(f"{selector} .textfield .token").first).to_be_visible(timeout=TIMEOUT)


def error_toast(page):
    """The error toasts on the page (a locator: expect a count, a text)."""
    return page.locator('[data-testid="toast-body"].error')


def open_app(page, url: str) -> None:
    """Open the page at ``url`` and wait until it is drawn (the first tab's Run button)."""
    page.goto(url)
    expect(page.locator("#detect-run")).to_be_visible(timeout=TIMEOUT)


def open_finetune(page, url: str) -> None:
    """Open the page at ``url`` on its Fine-tune tab."""
    open_app(page, url)
    page.get_by_role("tab", name="Fine-tune", exact=True).click()
    expect(page.locator("#finetune-run")).to_be_visible(timeout=TIMEOUT)


def upload(page, path: Path) -> None:
    """Upload ``path`` to the Fine-tune tab's file field and wait until it shows the file."""
    page.locator("#finetune-file input[type=file]").set_input_files(str(path))
    expect(page.locator("#finetune-file td.filename")).to_have_attribute(
        "aria-label", path.name, timeout=TIMEOUT
    )


def set_number(page, elem_id: str, value: object) -> None:
    """Type ``value`` into the number field ``elem_id`` and confirm it (Enter)."""
    field = page.locator(f"#{elem_id} input[type=number]")
    field.fill(str(value))
    field.press("Enter")


def fill_settings(page, settings: dict) -> None:
    """The Fine-tune tab's epochs, learning rate, batch size and max length from ``settings``."""
    set_number(page, "finetune-epochs", settings["epochs"])
    set_number(page, "finetune-learning-rate", settings["learning_rate"])
    set_number(page, "finetune-batch", settings["batch_size"])
    set_number(page, "finetune-max-length", settings["max_length"])
