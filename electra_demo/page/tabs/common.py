"""What every tab shares: the :class:`Tab` interface and the UI plumbing around a handler.

A tab module declares one ``TAB = Tab(...)``: its id (also its ``?tab=`` link name), its title,
its ``build(service)`` (the components and the named endpoint, called inside the ``gr.Tab``),
its curated examples and its link parameters. The page (``electra_demo/page/demo.py``) adds the examples
and the "Copy link" controls under each tab, opens deep links and refreshes the model status.

Handlers turn the service's clean errors into ``gr.Error`` (a message in the UI, a clean error
over the API) and never let a traceback out.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import gradio as gr
from gradio.components import Component

from electra_demo import config
from electra_demo.checks import InputError
from electra_demo.optional import MissingDependency
from electra_demo.page import links, rendering
from electra_demo.service import LoadedModel, ModelService, ModelUnavailable
from electra_demo.trained.kinds import KINDS

log = logging.getLogger(__name__)

# The tabs' handlers get the request's raw values and check every one themselves (the service
# validates text, numbers and choices with messages that name the limit): Gradio's own
# preprocessing would answer a bad slider value with an opaque error, or echo a 100,000-character
# dropdown value back.
RAW: dict[str, Any] = {"preprocess": False}
TEXT_LIMIT = f"Up to {config.MAX_TEXT_CHARS:,} characters"
# Turns the "?tab=..." query from the server into a full link and tries the clipboard. On Spaces
# the app runs in an iframe on *.hf.space: the link points at that page, which opens directly.
COPY_LINK_JS = """(query) => {
  if (!query) { return query; }
  const url = window.location.origin + window.location.pathname + query;
  try { navigator.clipboard.writeText(url).catch(() => {}); } catch (e) {}
  return url;
}"""


@dataclass
class BuiltTab:
    """A tab's components and endpoint, as the page wires them."""

    inputs: list[Component]  # in the handler's argument order (and its link's parameter order)
    outputs: list[Component]
    handler: Callable  # the named endpoint; its docstring is the API docs and the MCP tool text
    run_buttons: list[gr.Button] = field(default_factory=list)  # the model status refreshes after
    # extra updates when a deep link opens the tab, from the link's values (e.g. show a second box)
    on_link: Callable[[Mapping[str, Any]], dict[Component, Any]] | None = None


@dataclass(frozen=True)
class Tab:
    """One tab of the page: what it is called, how it is built, what it offers around it."""

    id: str  # the gr.Tab id and the ``?tab=`` name of its links
    title: str
    build: Callable[[ModelService], BuiltTab]  # runs inside ``gr.Tab(title, id=id)``
    examples: list[list[Any]] = field(default_factory=list)  # rows for the first inputs
    link: links.TabLink | None = None  # None: no deep links or "Copy link" for this tab

    def __post_init__(self) -> None:
        if self.link is not None and self.link.tab != self.id:
            raise ValueError(f"tab {self.id!r} has the link parameters of tab {self.link.tab!r}")


def user_errors(fn: Callable) -> Callable:
    """Turn the service's errors into ``gr.Error``; log anything unexpected, show no traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (InputError, ModelUnavailable, MissingDependency) as error:
            raise gr.Error(str(error), print_exception=False) from None
        except gr.Error:
            raise
        except Exception:
            log.exception("request failed in %s", fn.__name__)
            raise gr.Error(
                "Something went wrong while running the model; the error was logged. "
                "Please try again or with a shorter text.",
                print_exception=False,
            ) from None

    return wrapper


def enqueued_at() -> float:
    """When the running request entered Gradio's queue (``time.monotonic()``), so a Cancel pressed
    while it waited there still stops it (see :mod:`electra_demo.page.cancels`); now, outside a queued
    event. Gradio has no public accessor for this: it reads the queue's record of the current event
    (Gradio 6.31; tests/test_cancels.py checks that it is found, so an upgrade that moves it fails
    loudly instead of silently letting queued runs escape Cancel)."""
    from gradio.context import LocalContext

    blocks, event_id = LocalContext.blocks.get(None), LocalContext.event_id.get(None)
    queue = getattr(blocks, "_queue", None)
    event = getattr(queue, "event_ids_to_events", {}).get(event_id) if event_id else None
    enqueued = getattr(event, "enqueue_time", None)
    return float(enqueued) if isinstance(enqueued, int | float) else time.monotonic()


def announce(service: ModelService, progress: gr.Progress, names: Sequence[str]) -> None:
    """Say in the waiting tab that a model loads on first use (download and load)."""
    missing = [name for name in names if not service.is_loaded(name)]
    if missing:
        progress(0, desc=f"Loading {' and '.join(missing)} (first use: download and load)...")


def session_model_menu(
    tab: str, choices: Callable[[gr.Request | None], list[tuple[str, str]]], info: str
) -> gr.Dropdown:
    """A ``model`` input: ``choices(None)`` at first (the demo's own, value ""), ``choices(request)``
    (with this browser session's own models) each time it is opened."""
    menu = gr.Dropdown(
        choices(None),
        value="",
        label="Model",
        info=info,
        allow_custom_value=True,  # an id typed or set by the API (checked by the task)
        elem_id=f"{tab}-model",
    )

    def refresh(request: gr.Request):
        """The model list, with this session's own models (UI only)."""
        return gr.update(choices=choices(request))

    menu.focus(refresh, None, menu, api_visibility="private", queue=False)
    return menu


def own_models(
    service: ModelService, request: gr.Request | None, kinds: Sequence[str], *, show_kind: bool = False
) -> list[tuple[str, str]]:
    """The models of ``kinds`` (trained.kinds.KINDS keys) this browser session trained, nobody
    else's, as menu choices ``(label, id)``: kind by kind in the order given, each oldest first.
    ``show_kind`` names the kind in the label, for a menu that mixes kinds."""
    session = getattr(request, "session_hash", None)
    choices: list[tuple[str, str]] = []
    for task in kinds:
        yours = f"Yours ({KINDS[task].label})" if show_kind else "Yours"
        own = service.finetuned.owned_by(session, task)
        choices += [(f"{yours}: {meta.name} ({meta.model_id})", meta.model_id) for meta in own]
    return choices


def own_model_menu(
    service: ModelService, tab: str, kinds: Sequence[str], demo: str, info: str
) -> gr.Dropdown:
    """A ``model`` input: the demo's own model (labelled ``demo``, value ""), then this session's
    models of ``kinds`` (see :func:`own_models`)."""
    return session_model_menu(tab, lambda request: [(demo, ""), *own_models(service, request, kinds)], info)


def answered_by(loaded: LoadedModel) -> str | None:
    """The id of the visitor's own trained model that answered (its slot has a kind, which the
    store wrote), or None for one of the demo's models. An id is hex: safe in Markdown."""
    return loaded.resolved.source if loaded.resolved.slot.kind else None


def model_card(service: ModelService, *slots: str) -> gr.Markdown:
    """The card (model id, task, labels, backend) of each slot a tab runs on."""
    cards = (rendering.model_card(service.card(slot)) for slot in slots)
    return gr.Markdown("\n\n".join(cards), elem_classes="model-card")


def show(result: Any, *views: Callable[[Any], Any]) -> tuple:
    """A handler's outputs: each view of ``result`` in the order of the tab's outputs, then its
    JSON (``result.to_json()``)."""
    return (*(view(result) for view in views), result.to_json())


def cache_examples_per_checkpoints(service: ModelService) -> None:
    """Keep cached example outputs per set of checkpoints, so changing a slot never shows another
    model's answers. Call before building the tabs."""
    os.environ["GRADIO_EXAMPLES_CACHE"] = str(service.examples_cache_dir())


def add_examples(rows: list[list[Any]], built: BuiltTab) -> gr.Examples:
    """Curated examples; their outputs are cached lazily (on first click), per checkpoints."""
    width = len(rows[0])
    return gr.Examples(
        rows,
        built.inputs[:width],
        built.outputs,
        fn=built.handler,
        cache_examples=True,
        cache_mode="lazy",
        api_visibility="private",
    )


def add_link_controls(link: links.TabLink, inputs: list[Component]) -> None:
    """A "Copy link" button and the link it makes from the tab's current inputs."""
    tab = link.tab

    def make(*values):
        try:
            return links.make_link(link, dict(zip(link.names, values, strict=True))), ""
        except InputError as error:
            return "", f"⚠️ {error}"

    with gr.Row():
        button = gr.Button("Copy link", size="sm", scale=0, elem_id=f"{tab}-copy-link")
        url = gr.Textbox(
            label="Link",
            placeholder="A link to these inputs appears here",
            scale=4,
            interactive=False,
            buttons=["copy"],
            elem_id=f"{tab}-link",
        )
    message = gr.Markdown(elem_id=f"{tab}-link-message")
    button.click(make, inputs, [url, message], api_visibility="private", queue=False).then(
        None, url, url, js=COPY_LINK_JS, api_visibility="private", queue=False
    )
