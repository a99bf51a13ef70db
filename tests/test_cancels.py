"""Cancel on every side of the race: :class:`electra_demo.page.cancels.Cancels` with hand-made times,
the queue time Gradio records for a request (read by ``tabs.common.enqueued_at``), and the Explain
handler answering a cancelled run with a calm state, never an error. The browser sides are in
tests/test_browser_explain.py and tests/test_browser_finetune.py."""

from __future__ import annotations

import time

import gradio as gr
import httpx
import pytest

from electra_demo.page.cancels import Cancels
from electra_demo.page.tabs import explain as explain_tab
from electra_demo.page.tabs.common import enqueued_at


def test_cancel_sets_the_flags_of_that_session_only():
    cancels = Cancels()
    with cancels.flag("a") as a, cancels.flag("b") as b:
        assert not a.is_set() and not b.is_set()
        assert cancels.cancel("a") == 1
        assert a.is_set() and not b.is_set()
    assert cancels.cancel("a") == 0  # nothing runs any more
    assert cancels.cancel("") == 0 and cancels.cancel(None) == 0  # no session: never anyone's


def test_a_run_requested_before_the_cancel_starts_cancelled_and_a_later_one_does_not():
    cancels = Cancels()
    requested = time.monotonic()  # the run waits in the queue...
    cancels.cancel("a")  # ...the visitor cancels...
    with cancels.flag("a", since=requested) as waiting:  # ...then it starts: already cancelled
        assert waiting.is_set()
    assert cancels.requested_since("a", requested)
    later = time.monotonic()
    with cancels.flag("a", since=later) as fresh:  # a new request after the cancel runs
        assert not fresh.is_set()
    assert not cancels.requested_since("a", later)
    assert not cancels.requested_since("b", requested)  # another session never is
    with cancels.flag("", since=requested) as anonymous:  # API calls have no session to cancel
        assert not anonymous.is_set()


def test_enqueued_at_reads_the_time_the_request_entered_gradios_queue():
    """The queue time comes from Gradio's record of the running event (no public accessor): if an
    upgrade moves it, enqueued_at falls back to "now" and this test fails."""
    seen: dict[str, float] = {}

    def handler(text: str) -> str:
        seen["handler"] = time.monotonic()
        seen["enqueued"] = enqueued_at()
        return text

    with gr.Blocks() as demo:
        box = gr.Textbox()
        box.submit(handler, box, box, api_name="echo")
    demo.queue().launch(prevent_thread_lock=True, quiet=True, server_name="127.0.0.1")
    try:
        before = time.monotonic()
        with httpx.Client(base_url=demo.local_url, timeout=60) as http:
            event = http.post("gradio_api/call/echo", json={"data": ["hi"]}).json()["event_id"]
            stream = http.get(f"gradio_api/call/echo/{event}").text
        assert "event: complete" in stream
    finally:
        demo.close()
    assert before <= seen["enqueued"] <= seen["handler"]
    outside = time.monotonic()
    assert enqueued_at() >= outside  # outside an event: now


@pytest.fixture
def explain_handler(service, monkeypatch):
    """The Explain tab's handler with its own Cancels; ``call(since, ...)`` runs it as a request
    that entered the queue at ``since``."""
    cancels = Cancels()
    handler = explain_tab.endpoint(service, cancels)

    def call(since: float, method: str, steps: int = 16):
        monkeypatch.setattr(explain_tab, "enqueued_at", lambda: since)
        return handler(
            "sentiment", "A fine film.", "", "", method, steps, request=_Request(), progress=_progress
        )

    return call, cancels


class _Request:
    session_hash = "visitor"


def _progress(*args, **kwargs) -> None:
    pass


def test_a_cancelled_explanation_answers_calmly(explain_handler):
    call, cancels = explain_handler
    requested = time.monotonic()
    cancels.cancel("visitor")  # pressed before the explanation started (it waited in the queue)
    words, tokens, summary, notes, bars, shown = call(requested, "integrated_gradients")
    assert summary == explain_tab.CANCELLED_SUMMARY and (words, tokens, notes, bars) == ("", "", "", None)
    assert shown == {
        "task": "sentiment",
        "method": "integrated_gradients",
        "steps": 16,
        "stopped": "cancelled",
    }
    # the same request made after the cancel runs to the end
    *_, result = call(time.monotonic(), "gradient_x_input")
    assert "stopped" not in result and result["task"] == "sentiment" and result["steps"] is None


def test_bad_input_is_still_an_error_when_cancelled(explain_handler):
    call, cancels = explain_handler
    requested = time.monotonic()
    cancels.cancel("visitor")
    with pytest.raises(gr.Error, match="steps"):
        call(requested, "integrated_gradients", steps=0)
