"""The model-status panel: every slot, loaded, loading or failed; refreshed on demand, after runs
and, while the server's warm-up loads and exports in the background, as each slot's state changes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import gradio as gr

from electra_demo import config
from electra_demo.page import rendering
from electra_demo.runtime.precision import why
from electra_demo.service import ModelService


@dataclass
class StatusPanel:
    view: gr.Markdown
    text: Callable[[], str]  # the panel's current Markdown

    def refresh_on(self, listener: Callable) -> None:
        """Refresh the panel on an event, e.g. ``button.click`` or ``dependency.then``."""
        listener(self.text, None, self.view, api_visibility="private", queue=False)


WATCH_S = 1.0  # how often an open page looks again while the warm-up runs


def settled(service: ModelService) -> bool:
    """Nothing is changing: no background work waiting or running, no slot loading."""
    background = service.background
    busy = background is not None and not background.idle()
    return not busy and "loading" not in service.status().values()


def precision_line(service: ModelService) -> str:
    """Which precision serves, and why (``ELECTRA_DEMO_PRECISION``, or the CPU's flags)."""
    served = why(service.backend_choice.precision, service.precision)
    return f"**Precision:** {served}; Explain's gradients run in fp32."


def build(service: ModelService) -> StatusPanel:
    def status_panel() -> str:
        table = precision_line(service) + "\n\n"
        table += rendering.status_table({name: service.card(name) for name in config.REGISTRY})
        memory = {key: (m.backend, m.weight_bytes) for key, m in service.loaded_models().items()}
        extra = rendering.loaded_table(memory)
        warmup = service.background.describe() if service.background is not None else ""
        return (warmup + "\n\n" if warmup else "") + table + ("\n\n" + extra if extra else "")

    def watch() -> tuple[str, gr.Timer]:
        """The panel while the warm-up runs; the timer stops once everything has settled (asked
        before the panel is drawn, so the last drawing shows the settled state)."""
        done = settled(service)
        return status_panel(), gr.Timer(active=not done)

    with gr.Accordion("Models: loaded, loading or failed", open=False):
        panel = StatusPanel(gr.Markdown(status_panel(), elem_id="model-status"), status_panel)
        panel.refresh_on(gr.Button("Refresh", size="sm").click)
        timer = gr.Timer(WATCH_S)
        timer.tick(
            watch, None, [panel.view, timer], api_visibility="private", queue=False, show_progress="hidden"
        )
    return panel
