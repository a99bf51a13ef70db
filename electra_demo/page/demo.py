"""The page: ``build_demo(service)`` puts the header, the model-status panel and the tabs together.

Each tab is a module of :mod:`electra_demo.page.tabs` with one ``TAB``: its components, its named
endpoint, its examples and its link parameters. The page adds each tab's examples and "Copy
link" controls, opens deep links (``?tab=...``) and refreshes the model status after runs. To add
a tab, write its module and list its ``TAB`` in :data:`TABS`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import gradio as gr
from gradio.components import Component

from electra_demo import config
from electra_demo.page import links, rendering
from electra_demo.page.sessions import lean_holder
from electra_demo.page.tabs import (
    adapt,
    batch,
    classify,
    corrupt,
    detect,
    explain,
    finetune,
    proofread,
    qa,
    rerank,
    status,
    tag,
)
from electra_demo.page.tabs.common import (
    BuiltTab,
    Tab,
    add_examples,
    add_link_controls,
    cache_examples_per_checkpoints,
)
from electra_demo.service import ModelService
from electra_demo.text import tables

TITLE = "ELECTRA: replaced-token detection, live"
INTRO = (
    "# ELECTRA, live\n"
    "ELECTRA ([Clark et al., ICLR 2020](https://arxiv.org/abs/2003.10555)) pre-trains a "
    "*discriminator* to spot which tokens of a text a small *generator* replaced. "
    "**Replaced tokens** shows the discriminator's view of any text you type; "
    "**Corrupt & detect** replays its training signal: the generator corrupts your text and the "
    "discriminator tries to find the replacements; **Proofread** lets the pair fix the words the "
    "discriminator flags. **Classify** and **Entities** run ELECTRA "
    "checkpoints fine-tuned for sentiment, emotion, NLI and named entities, **Rerank** orders "
    "passages for a query with a cross-encoder; **Explain** shows which "
    "words made a model decide, **Fine-tune** trains a classifier on your own labelled file, and "
    "**Adapt** continues ELECTRA's own pre-training on your texts."
)
CSS = ".electra-summary p { margin: 0.2em 0; }"

# The tabs, in page order.
TABS: tuple[Tab, ...] = (
    detect.TAB,
    corrupt.TAB,
    proofread.TAB,
    classify.TAB,
    tag.TAB,
    qa.TAB,
    rerank.TAB,
    explain.TAB,
    batch.TAB,
    finetune.TAB,
    adapt.TAB,
)
# What a deep link may name: the tabs with link parameters, by ``?tab=`` name.
LINKS: dict[str, links.TabLink] = {tab.id: tab.link for tab in TABS if tab.link}


def launch_kwargs() -> dict[str, Any]:
    """Settings that Gradio 6 takes in ``launch()`` rather than ``Blocks()``; uploads are
    capped at the batch tab's limit, and no extra paths are served (no ``allowed_paths``)."""
    return {"theme": gr.themes.Soft(), "css": CSS, "max_file_size": tables.MAX_FILE_BYTES}


def configure_queue(demo: gr.Blocks) -> gr.Blocks:
    """A bounded queue; several requests run at once so the micro-batcher can merge them.
    :func:`build_demo` calls it first thing (see there); calling it on the built page again
    changes nothing but costs a build of Gradio's app."""
    return demo.queue(default_concurrency_limit=config.CONCURRENCY, max_size=config.QUEUE_MAX_SIZE)


class Page(gr.Blocks):
    """The page's Blocks, whose API advertises each named endpoint's defaults from its function's
    signature: Gradio takes them from the input components' starting values, so an endpoint that
    shares a control with another (the Fine-tune tab's settings, Classify's head menu) advertised
    the other's value, or a default for a required argument. gradio_client, plain HTTP's padding
    of left-out arguments (``api/mount.py``), ``/gradio_api/call/v2`` and MCP all read this.
    Its sessions are :mod:`electra_demo.page.sessions`' lean ones (Gradio attaches its state
    holder here, wherever the page is served: ``launch``, ``mount_gradio_app``, Ray)."""

    @property
    def state_holder(self) -> Any:
        try:
            return self.__dict__["state_holder"]
        except KeyError:
            raise AttributeError("state_holder") from None  # not served yet

    @state_holder.setter
    def state_holder(self, holder: Any) -> None:
        self.__dict__["state_holder"] = lean_holder(holder)

    def get_api_info(self, all_endpoints: bool = False, page: str | None = None) -> Any:
        info = super().get_api_info(all_endpoints=all_endpoints, page=page)
        functions = {f"/{fn.api_name}": fn.fn for fn in self.fns.values() if fn.api_name and fn.fn}
        for name, endpoint in info["named_endpoints"].items():
            if name in functions:
                advertise_signature(endpoint["parameters"], functions[name])
        return info


def advertise_signature(parameters: list[dict[str, Any]], fn: Callable) -> None:
    """Set each API parameter's advertised default to ``fn``'s (none where ``fn`` has none)."""
    declared = inspect.signature(fn).parameters
    for parameter in parameters:
        found = declared.get(parameter["parameter_name"])
        if found is None or found.kind in (found.VAR_POSITIONAL, found.VAR_KEYWORD):
            continue  # not named by the signature: Gradio's own guess stands
        has_default = found.default is not inspect.Parameter.empty
        parameter["parameter_has_default"] = has_default
        parameter["parameter_default"] = found.default if has_default else None


def build_demo(service: ModelService) -> gr.Blocks:
    """The whole app around one model service; loads no model until a request needs it."""
    cache_examples_per_checkpoints(service)
    with Page(title=TITLE) as demo:
        # Gradio's queue() builds its app (routes, and the config of every block so far) over the
        # page as it stands: here, before any tab, without the 318 blocks' config (build_demo
        # under cProfile: 0.87 s called after, 0.74 s called here). The queue reads its settings
        # when events run, so the tabs added after it get them.
        configure_queue(demo)
        gr.Markdown(INTRO)
        if any(service.card(name)["random_weights"] for name in config.REGISTRY):
            gr.Markdown(rendering.RANDOM_WEIGHTS_NOTICE, elem_id="random-weights-banner")
        link_notice = gr.Markdown(elem_id="link-notice")
        panel = status.build(service)

        built: dict[str, BuiltTab] = {}
        with gr.Tabs() as tabs:
            for tab in TABS:
                with gr.Tab(tab.title, id=tab.id):
                    built[tab.id] = tab.build(service)
                    if tab.examples:
                        add_examples(tab.examples, built[tab.id])
                    if tab.link:
                        add_link_controls(tab.link, built[tab.id].inputs)

        linked = {name: built[name] for name in LINKS}
        slots = [c for t in linked.values() for c in t.inputs]
        slots += [c for t in linked.values() for c in t.outputs]
        loading = demo.load(
            link_opener(linked, slots), None, [tabs, *slots, link_notice], api_visibility="private"
        )
        panel.refresh_on(loading.then)
        for button in (button for t in built.values() for button in t.run_buttons):
            panel.refresh_on(button.click)
    return demo


def link_opener(linked: dict[str, BuiltTab], slots: list[Component]) -> Callable:
    """The page-load event that opens a deep link: it answers the selected tab, a value for every
    one of ``slots`` (the linked tabs' inputs and outputs) and the link's notices."""
    position = {id(component): i for i, component in enumerate(slots)}

    def open_link(request: gr.Request):
        """Select the tab a link names, fill its inputs and run it (UI only, not an API)."""
        parsed = links.parse_link(dict(request.query_params) if request else {}, LINKS)
        notices = list(parsed.notices)
        updates: list[Any] = [gr.update() for _ in slots]
        if parsed.link is None:
            return [gr.Tabs(), *updates, "\n\n".join(f"⚠️ {n}" for n in notices)]
        tab = linked[parsed.link.tab]
        names = parsed.link.names
        for component, name in zip(tab.inputs, names, strict=True):
            if name in parsed.values:
                updates[position[id(component)]] = parsed.values[name]
        for component, update in (tab.on_link(parsed.values) if tab.on_link else {}).items():
            updates[position[id(component)]] = update
        if parsed.runnable:
            args = [parsed.values.get(name, c.value) for name, c in zip(names, tab.inputs, strict=True)]
            try:
                results = tab.handler(*args)
            except gr.Error as error:
                notices.append(f"The link's inputs could not be run: {error.message}")
            else:
                for component, value in zip(tab.outputs, results, strict=True):
                    updates[position[id(component)]] = value
        return [gr.Tabs(selected=parsed.link.tab), *updates, "\n\n".join(f"⚠️ {n}" for n in notices)]

    return open_link
