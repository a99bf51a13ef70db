"""The model-status panel: every slot, loaded, loading or failed; refreshed on demand and after runs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import gradio as gr

from .. import config, rendering
from ..service import ModelService


@dataclass
class StatusPanel:
    view: gr.Markdown
    text: Callable[[], str]  # the panel's current Markdown

    def refresh_on(self, listener: Callable) -> None:
        """Refresh the panel on an event, e.g. ``button.click`` or ``dependency.then``."""
        listener(self.text, None, self.view, api_visibility="private", queue=False)


def build(service: ModelService) -> StatusPanel:
    def status_panel() -> str:
        table = rendering.status_table({name: service.card(name) for name in config.REGISTRY})
        memory = {key: (m.backend, m.weight_bytes) for key, m in service.loaded_models().items()}
        extra = rendering.loaded_table(memory)
        return table + ("\n\n" + extra if extra else "")

    with gr.Accordion("Models: loaded, loading or failed", open=False):
        panel = StatusPanel(gr.Markdown(status_panel(), elem_id="model-status"), status_panel)
        panel.refresh_on(gr.Button("Refresh", size="sm").click)
    return panel
