"""The "Entities" tab (``/tag``): named entities with a CoNLL-03 ELECTRA."""

from __future__ import annotations

from collections.abc import Callable

import gradio as gr

from .. import config, links, rendering
from ..service import ModelService
from .common import RAW, TEXT_LIMIT, BuiltTab, Tab, announce, model_card, show, user_errors

EXAMPLES = [
    ["Marie Curie worked at the University of Paris with Pierre Curie.", "simple"],
    ["Google released ELECTRA at ICLR 2020 in Addis Ababa, Ethiopia.", "first"],
]
LINK = links.TabLink(
    "tag", (("text", links.text), ("aggregation", links.choice(config.AGGREGATIONS))), ("text",)
)


def endpoint(service: ModelService) -> Callable:
    @user_errors
    def tag(text: str, aggregation: str = config.DEFAULT_AGGREGATION, progress=gr.Progress(track_tqdm=True)):
        """Find named entities (people, organisations, places, misc.) with a CoNLL-03 ELECTRA.

        Args:
            text: The text to tag (up to 20,000 characters; long texts are tagged in windows).
            aggregation: How word pieces merge into entities: none, simple (default), first, average, max.

        Returns:
            The text with entities highlighted, a summary, a table, and JSON {"entities":
            [{"text", "label", "score", "start", "end"}]} with text == input[start:end].
        """
        announce(service, progress, ["ner"])
        result = service.tag(text, aggregation)
        return show(result, rendering.entity_highlights, rendering.tag_summary, rendering.entity_rows)

    return tag


def build(service: ModelService) -> BuiltTab:
    model_card(service, "ner")
    with gr.Row():
        with gr.Column(scale=3):
            text = gr.Textbox(label="Text", lines=4, info=TEXT_LIMIT, elem_id="tag-text")
        with gr.Column(scale=1):
            aggregation = gr.Dropdown(
                choices=list(config.AGGREGATIONS),
                value=config.DEFAULT_AGGREGATION,
                label="Aggregation strategy",
                info="How WordPiece predictions merge into entities (transformers' definitions).",
                elem_id="tag-aggregation",
            )
            button = gr.Button("Find entities", variant="primary", elem_id="tag-run")
    summary = gr.Markdown(elem_classes="electra-summary", elem_id="tag-summary")
    entities = gr.HighlightedText(
        label="Entities",
        color_map=rendering.entity_color_map(service.card("ner")["labels"]),
        show_legend=True,
        elem_id="tag-entities",
    )
    with gr.Accordion("Entity table and JSON", open=False):
        table = gr.Dataframe(headers=rendering.ENTITY_COLUMNS, label="Entities", interactive=False)
        json = gr.JSON(label="JSON")
    tab = BuiltTab([text, aggregation], [entities, summary, table, json], endpoint(service), [button])
    button.click(tab.handler, tab.inputs, tab.outputs, api_name="tag", **RAW)
    return tab


TAB = Tab("tag", "Entities", build, EXAMPLES, LINK)
