"""Gradio's session store and queue on this page (electra_demo/page/sessions.py, demo.py): a
plain-HTTP call does not build the whole page's config, what Gradio reads of a session (its deep
link) is the same as with Gradio's own eager ``SessionState``, and the queue set up before the
tabs still applies to them."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx
import pytest
from gradio.state_holder import SessionState

from electra_demo.page.sessions import LeanSessionState, LeanStateHolder
from tests.helpers.serving import call_gradio, launch


@pytest.fixture(scope="module")
def demo(service):
    served = launch(service)
    try:
        yield served
    finally:
        served.close()


def test_the_served_page_keeps_lean_sessions(demo):
    assert isinstance(demo.state_holder, LeanStateHolder)
    assert demo.server_app.state_holder is demo.state_holder


def test_a_plain_http_call_configures_only_what_it_updates(demo):
    """Before: every call over /gradio_api/call/ built all ~320 blocks' configs (15 ms, 530 KB kept
    per call); now only the outputs it updates."""
    url = demo.local_url.rstrip("/")
    sessions = [uuid.uuid4().hex for _ in range(3)]
    for session in sessions:
        kind, outputs = call_gradio(url, "detect", ["The chef cooked the meal.", 0.5, ""], session)
        assert kind == "complete", outputs
    page_blocks = len(demo.blocks)
    assert page_blocks > 200
    for session in sessions:
        state = demo.state_holder.session_data[session]
        assert isinstance(state, LeanSessionState)
        assert not state.configs_complete
        assert len(state.config_values) <= 10, sorted(state.config_values)


def _updates(state: SessionState, demo) -> None:
    """The same updates applied to either kind of session: a value set on one component, and one
    component replaced (as a ``gr.update`` does; Gradio keeps the config it had)."""
    textbox = next(k for k, b in demo.blocks.items() if getattr(b, "elem_id", None) == "detect-text")
    state._update_value_in_config(textbox, "a value set by an event")
    slider = next(k for k, b in demo.blocks.items() if type(b).__name__ == "Slider")
    replaced = demo.blocks[slider].__class__(**{**demo.blocks[slider].constructor_args, "label": "changed"})
    state[slider] = replaced


def test_lean_configs_equal_gradios_own(demo):
    eager, lean = SessionState(demo), LeanSessionState(demo)
    assert list(lean.components) == list(eager.components)
    eager, lean = SessionState(demo), LeanSessionState(demo)
    _updates(eager, demo)
    _updates(lean, demo)
    assert list(lean.config_values) != list(eager.config_values)  # lean: only the updated ones yet
    found, expected = list(lean.components), list(eager.components)
    assert [c["id"] for c in found] == [c["id"] for c in expected]
    assert found == expected
    assert any(c.get("props", {}).get("value") == "a value set by an event" for c in found)


def test_the_deep_link_route_still_holds_a_calls_outputs(demo):
    """Gradio's /gradio_api/deep_link reads every config of a session: it builds them on demand."""
    url = demo.local_url.rstrip("/")
    session = uuid.uuid4().hex
    kind, outputs = call_gradio(url, "detect", ["Deep links keep the answer.", 0.5, ""], session)
    assert kind == "complete", outputs
    reply = httpx.get(f"{url}/gradio_api/deep_link", params={"session_hash": session}, timeout=60)
    assert reply.status_code == 200, reply.text
    stored = Path(demo.server_app.uploaded_file_dir) / "deep_links" / reply.json() / "state.json"
    components = json.loads(stored.read_text())
    assert len(components) == len(demo.blocks)
    values = [json.dumps(c.get("props", {}).get("value")) for c in components]
    assert sum("Deep links keep the answer" in v for v in values) >= 1


def test_the_queue_settings_reach_the_tabs_built_after_them(demo):
    """build_demo sets the queue up before the tabs (Gradio then builds its app over an empty
    page): an event of a tab added later still runs under the page's limits."""
    from electra_demo import config

    queue = demo._queue
    assert queue.max_size == config.QUEUE_MAX_SIZE
    assert queue.default_concurrency_limit == config.CONCURRENCY
    kind, outputs = call_gradio(demo.local_url.rstrip("/"), "detect", ["Queued like any other.", 0.5, ""])
    assert kind == "complete", outputs
    detect = next(fn for fn in demo.fns.values() if fn.api_name == "detect")
    assert queue.event_queue_per_concurrency_id[detect.concurrency_id].concurrency_limit == config.CONCURRENCY
