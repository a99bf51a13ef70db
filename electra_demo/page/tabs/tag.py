"""The "Entities" tab (``/tag``): named entities with a CoNLL-03 ELECTRA, or a tagger the visitor
fine-tuned in the Fine-tune tab (its id as the last argument, ``model``)."""

from __future__ import annotations

from collections.abc import Callable

import gradio as gr

from electra_demo import config
from electra_demo.page import links, rendering
from electra_demo.page.tabs.common import (
    RAW,
    TEXT_LIMIT,
    BuiltTab,
    Tab,
    announce,
    answered_by,
    model_card,
    own_model_menu,
    show,
    user_errors,
)
from electra_demo.service import ModelService
from electra_demo.tasks.tag import TagResult

EXAMPLES = [
    ["Marie Curie worked at the University of Paris with Pierre Curie.", "simple"],
    ["Google released ELECTRA at ICLR 2020 in Addis Ababa, Ethiopia.", "first"],
]
LINK = links.TabLink(
    "tag",
    (
        ("text", links.text),
        ("aggregation", links.choice(config.AGGREGATIONS)),
        ("model", links.choice(("", "ner"))),  # a fine-tuned model's id is the visitor's key: not in links
    ),
    ("text",),
)


def model_menu(service: ModelService, tab: str, task: str, slot: str) -> gr.Dropdown:
    """The model picker: the registry's ``slot`` (value ""), or one of the session's models of
    kind ``task``."""
    return own_model_menu(
        service,
        tab,
        (task,),
        config.REGISTRY[slot].display_name,
        "The demo's model, or one you fine-tuned in the Fine-tune tab (yours only).",
    )


def summary(result: TagResult) -> str:
    """The registry model's summary; a fine-tuned tagger's without its types (the visitor's labels
    are never Markdown: the highlights and the table show them as text)."""
    model_id = answered_by(result.model)
    if model_id is None:
        return rendering.tag_summary(result)
    return (
        f"**{len(result.entities)} entities** from your fine-tuned tagger `{model_id}`, aggregation "
        f"`{result.aggregation}`."
    )


def endpoint(service: ModelService) -> Callable:
    @user_errors
    def tag(
        text: str,
        aggregation: str = config.DEFAULT_AGGREGATION,
        model: str = "",
        progress=gr.Progress(track_tqdm=True),
    ):
        """Find named entities (people, organisations, places, misc.) with a CoNLL-03 ELECTRA.

        Args:
            text: The text to tag (up to 20,000 characters; long texts are tagged in windows).
            aggregation: How word pieces merge into entities: none, simple (default), first, average, max.
            model: "" for the demo's tagger, or the id (ft-...) of a tagger trained in the Fine-tune tab.

        Returns:
            The text with entities highlighted, a summary, a table, and JSON {"entities":
            [{"text", "label", "score", "start", "end"}]} with text == input[start:end].
        """
        announce(service, progress, ["ner"] if not model else [])
        result = service.tag(text, aggregation, model)
        return show(result, rendering.entity_highlights, summary, rendering.entity_rows)

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
            model = model_menu(service, "tag", "tag", "ner")
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
    tab = BuiltTab([text, aggregation, model], [entities, summary, table, json], endpoint(service), [button])
    button.click(tab.handler, tab.inputs, tab.outputs, api_name="tag", **RAW)
    return tab


TAB = Tab("tag", "Entities", build, EXAMPLES, LINK)
