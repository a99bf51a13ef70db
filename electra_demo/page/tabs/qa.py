"""The "Question answering" tab (``/answer``): SQuAD 2.0-style answers, highlighted in the context,
from the registry's reader or one the visitor fine-tuned (its id as the last argument, ``model``)."""

from __future__ import annotations

from collections.abc import Callable

import gradio as gr
from gradio.components import Component

from electra_demo import config
from electra_demo.page import links, rendering
from electra_demo.page.tabs.common import RAW, BuiltTab, Tab, announce, model_card, show, user_errors
from electra_demo.page.tabs.tag import model_menu
from electra_demo.service import ModelService

_CURIE = (
    "Marie Curie was born in Warsaw in 1867. She moved to Paris in 1891 and worked at the "
    "University of Paris, where she studied radioactivity with Pierre Curie."
)
EXAMPLES = [
    ["Where was Marie Curie born?", _CURIE, 3],
    ["When did Marie Curie win the Nobel Prize in Chemistry?", _CURIE, 3],
]
LINK = links.TabLink(
    "qa",
    (
        ("question", links.text),
        ("context", links.text),
        ("top_k", links.Whole(1, config.QA_MAX_TOP_K)),
        ("max_answer_len", links.Whole(1, 100)),
        ("handle_impossible_answer", links.flag),
        ("max_seq_len", links.Whole(64, config.MODEL_MAX_TOKENS)),
        ("doc_stride", links.Whole(0, 256)),
        ("model", links.choice(("", "qa"))),  # a fine-tuned model's id is the visitor's key: not in links
    ),
    ("question", "context"),
)


def endpoint(service: ModelService) -> Callable:
    @user_errors
    def answer(
        question: str,
        context: str,
        top_k: int = config.QA_TOP_K,
        max_answer_len: int = config.QA_MAX_ANSWER_LEN,
        handle_impossible_answer: bool = True,
        max_seq_len: int = config.QA_MAX_SEQ_LEN,
        doc_stride: int = config.QA_DOC_STRIDE,
        model: str = "",
        progress=gr.Progress(track_tqdm=True),
    ):
        """Answer a question from a context (SQuAD 2.0 style), highlighting the span.

        Args:
            question: The question, up to 64 tokens.
            context: The text to search (up to 50,000 characters); every window of it is searched.
            top_k: How many candidate answers to return (1 to 20, default 3).
            max_answer_len: The longest answer considered, in tokens (default 15).
            handle_impossible_answer: Whether "no answer" may win, as in SQuAD 2.0 (default true).
            max_seq_len: Window size in tokens, question included (default 384).
            doc_stride: Tokens shared by neighbouring windows (default 128).
            model: "" for the demo's reader, or the id (ft-...) of a reader trained in the Fine-tune tab.

        Returns:
            The context with answers highlighted, a summary, a table of candidates, and JSON
            {"answers": [{"text", "score", "start", "end"}], "no_answer": bool, "settings":
            {"top_k", "max_answer_len", "doc_stride", "max_seq_len", "max_question_len",
            "handle_impossible_answer"}} with text == context[start:end] (the empty answer has
            start = end = 0).
        """
        announce(service, progress, ["qa"] if not model else [])
        result = service.answer(
            question, context, top_k, max_answer_len, handle_impossible_answer, max_seq_len, doc_stride, model
        )
        return show(result, rendering.answer_highlights, rendering.answer_summary, rendering.answer_rows)

    return answer


def _settings() -> list[Component]:
    """The answer count, and under "Advanced" the answer length, "no answer" and the windows."""
    top_k = gr.Slider(1, config.QA_MAX_TOP_K, value=config.QA_TOP_K, step=1, label="Answers (top-k)")
    with gr.Accordion("Advanced", open=False):
        max_len = gr.Slider(
            1, 100, value=config.QA_MAX_ANSWER_LEN, step=1, label="Maximum answer length (tokens)"
        )
        impossible = gr.Checkbox(value=True, label='Allow "no answer" (SQuAD 2.0)')
        window = gr.Slider(
            64,
            config.MODEL_MAX_TOKENS,
            value=config.QA_MAX_SEQ_LEN,
            step=1,
            label="Window size (tokens, question included)",
        )
        stride = gr.Slider(
            0, 256, value=config.QA_DOC_STRIDE, step=1, label="Stride (tokens shared by windows)"
        )
    return [top_k, max_len, impossible, window, stride]


def build(service: ModelService) -> BuiltTab:
    model_card(service, "qa")
    with gr.Row():
        with gr.Column(scale=3):
            question = gr.Textbox(
                label="Question",
                lines=1,
                info=f"Up to {config.QA_MAX_QUESTION_LEN} tokens",
                elem_id="qa-question",
            )
            context = gr.Textbox(
                label=f"Context (up to {config.MAX_CONTEXT_CHARS:,} characters)",
                lines=8,
                elem_id="qa-context",
            )
        with gr.Column(scale=1):
            settings = _settings()
            model = model_menu(service, "qa", "qa", "qa")
            button = gr.Button("Answer", variant="primary", elem_id="qa-run")
    summary = gr.Markdown(elem_classes="electra-summary", elem_id="qa-summary")
    highlight = gr.HighlightedText(
        label="Context", color_map=rendering.QA_COLORS, show_legend=True, elem_id="qa-context-view"
    )
    table = gr.Dataframe(headers=rendering.ANSWER_COLUMNS, label="Candidates", interactive=False)
    with gr.Accordion("JSON", open=False):
        json = gr.JSON(label="JSON")
    outputs = [highlight, summary, table, json]
    tab = BuiltTab([question, context, *settings, model], outputs, endpoint(service), [button])
    button.click(tab.handler, tab.inputs, tab.outputs, api_name="answer", **RAW)
    return tab


TAB = Tab("qa", "Question answering", build, EXAMPLES, LINK)
