"""The "Rerank" tab (``/rerank``): passages ranked by relevance to a query with ELECTRA's MS MARCO
cross-encoder (the ``rerank`` slot), each with its score bar and the query's words highlighted.

Passages are typed one a line, or read from an uploaded .txt, .csv or .jsonl file into the box
(:mod:`electra_demo.text.tables`; UI only: the endpoint takes the passages as text). User text only
reaches the page as text: the ranked list is HTML built from escaped pieces.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable

import gradio as gr

from electra_demo import config
from electra_demo.checks import InputError
from electra_demo.page import links, rendering
from electra_demo.page.attribution import escape
from electra_demo.page.tabs.common import RAW, BuiltTab, Tab, announce, model_card, show, user_errors
from electra_demo.service import ModelService
from electra_demo.tasks.rerank import MAX_DOCUMENTS, RerankResult
from electra_demo.text import tables

SLOT = config.RERANK
EXAMPLES = [
    [
        "Where was Marie Curie born?",
        "Marie Curie moved to Paris in 1891 to study at the Sorbonne.\n"
        "Maria Skłodowska, later Marie Curie, was born in Warsaw in 1867.\n"
        "Pierre Curie was a French physicist, a pioneer in crystallography and magnetism.\n"
        "Warsaw is the capital and largest city of Poland.",
        0,
    ],
    [
        "how does ELECTRA pre-train its discriminator",
        "ELECTRA trains a discriminator to tell which tokens a small generator replaced.\n"
        "BERT masks 15% of the tokens and learns to predict them.\n"
        "The discriminator is trained on every token of the input, not only the masked ones.\n"
        "Electric cars need fewer moving parts than petrol cars.",
        2,
    ],
]
LINK = links.TabLink(
    "rerank",
    (("query", links.text), ("documents", links.text), ("top_n", links.Whole(0, MAX_DOCUMENTS))),
    ("query", "documents"),
)
# words too common to highlight (the model still reads them)
STOPWORDS = frozenset(
    "a an and are as at be by did do does for from how in is it of on or the to was what when where which "
    "who why with".split()
)
WORD = re.compile(r"\w+")
DOCUMENT_COLUMNS = ("document", "documents", "passage", "passages", "text", "content", "doc")
BAR_COLOR = "#f97316"
BAR = "height:8px;border-radius:4px"


# ---- views (pure) ---------------------------------------------------------------------------------
def _stem(word: str) -> str:
    word = word.lower()
    return word[:-1] if len(word) > 3 and word.endswith("s") else word


def query_terms(query: str) -> set[str]:
    """The query's words worth highlighting: lower-cased, plural s dropped, common words left out."""
    return {_stem(w) for w in WORD.findall(query) if len(w) > 1 and w.lower() not in STOPWORDS}


def highlighted(text: str, terms: set[str]) -> str:
    """``text`` as escaped HTML, its words that are query terms in ``<mark>``."""
    out, position = [], 0
    for match in WORD.finditer(text):
        if _stem(match.group()) in terms:
            out.append(escape(text[position : match.start()]))
            out.append(f'<mark class="rerank-term">{escape(match.group())}</mark>')
            position = match.end()
    out.append(escape(text[position:]))
    return "".join(out)


def ranked_html(result: RerankResult) -> str:
    """The ranked passages: rank, score and bar, the passage with the query's words marked."""
    terms = query_terms(result.query)
    items = []
    for rank, scored in enumerate(result.results, start=1):
        width = max(0.0, min(1.0, scored.score)) * 100
        cut = ' <em class="rerank-cut">(cut to 512 tokens)</em>' if scored.truncated else ""
        items.append(
            f'<li class="rerank-item" data-index="{scored.index}" data-score="{scored.score:.6g}" '
            'style="margin:0 0 0.9em 0">'
            f'<div class="rerank-head"><strong>#{rank}</strong> · score <strong class="rerank-score">'
            f"{scored.score:.4f}</strong> · passage {scored.index + 1}{cut}</div>"
            f'<div class="rerank-bar" style="background:#e5e7eb;{BAR};margin:0.2em 0">'
            f'<div style="width:{width:.1f}%;background:{BAR_COLOR};{BAR}"></div></div>'
            f'<div class="rerank-text">{highlighted(scored.text, terms)}</div></li>'
        )
    return f'<ol class="rerank-list" style="list-style:none;padding-left:0">{"".join(items)}</ol>'


def summary(result: RerankResult) -> str:
    """Numbers and fixed words only (no user text in Markdown)."""
    shown, total = len(result.results), len(result.scored)
    lines = [
        f"**{total} passage{'s' if total != 1 else ''} ranked**"
        + (f", the best {shown} shown" if shown < total else "")
        + f"; top score **{result.results[0].score:.3f}** (sigmoid of the cross-encoder's logit)."
    ]
    cut = sum(s.truncated for s in result.scored)
    if cut:
        lines.append(
            f"⚠️ {cut} passage{'s were' if cut != 1 else ' was'} cut to fit 512 tokens with the query."
        )
    lines.append(
        "Why did a passage rank high? The **Explain** tab's task `rerank` shows it (query, passage)."
    )
    if result.model.random_weights:
        lines.insert(0, rendering.RANDOM_WEIGHTS_NOTICE)
    return "\n\n".join(lines)


def file_documents(path: str) -> tuple[str, str]:
    """An uploaded file's passages, one a line (a cell's own line breaks become spaces), and a
    note: a .txt file's lines, or a .csv/.jsonl file's passage column (named document, passage,
    text..., else its only or its longest column)."""
    table = tables.read_table(path, os.path.basename(path), max_rows=MAX_DOCUMENTS)
    named = {c.lower(): c for c in table.columns}
    column = next((named[n] for n in DOCUMENT_COLUMNS if n in named), None)
    if column is None:
        column = max(table.columns, key=lambda c: sum(len(row[c]) for row in table.rows))
    passages = [" ".join(tables.text_lines(row[column])) for row in table.rows]
    passages = [p for p in passages if p.strip()]
    note = f"{len(passages)} passages read from the column {tables.quote_name(column)}."
    return "\n".join(passages), note


# ---- the endpoint and the tab -------------------------------------------------------------------
def endpoint(service: ModelService) -> Callable:
    @user_errors
    def rerank(query: str, documents: str, top_n: int = 0, progress=gr.Progress(track_tqdm=True)):
        """Rank passages by relevance to a query with ELECTRA's MS MARCO cross-encoder.

        Args:
            query: The search query (at most 256 tokens: it is never cut).
            documents: The passages, one a line (blank lines skipped), at most 1,000, each cut to 512 tokens.
            top_n: How many passages to return, best first; 0 (the default) returns every passage.

        Returns:
            The ranked passages with score bars and the query's words highlighted, a summary, and
            JSON {"results": [{"index", "relevance_score", "text", "truncated"}] highest first,
            "model"}, where index counts the non-blank lines from 0 and relevance_score is the
            sigmoid of the cross-encoder's logit.
        """
        announce(service, progress, [SLOT])
        result = service.rerank(query, documents, top_n)
        return show(result, ranked_html, summary)

    return rerank


def build(service: ModelService) -> BuiltTab:
    model_card(service, SLOT)
    with gr.Row():
        with gr.Column(scale=3):
            query = gr.Textbox(label="Query", lines=1, info="At most 256 tokens", elem_id="rerank-query")
            documents = gr.Textbox(
                label="Passages, one a line",
                lines=8,
                info=f"Up to {MAX_DOCUMENTS:,}; each is cut to fit 512 tokens with the query",
                elem_id="rerank-documents",
            )
        with gr.Column(scale=1):
            top_n = gr.Number(value=0, precision=0, minimum=0, label="Top n (0: all)", elem_id="rerank-top-n")
            upload = gr.File(
                label="Or read the passages from a file (.txt, .csv, .jsonl)",
                file_types=[".txt", ".csv", ".jsonl", ".tsv", ".ndjson"],
                type="filepath",
                elem_id="rerank-file",
            )
            button = gr.Button("Rerank", variant="primary", elem_id="rerank-run")
    note = gr.Markdown(elem_id="rerank-file-note")
    summary_view = gr.Markdown(elem_classes="electra-summary", elem_id="rerank-summary")
    ranked = gr.HTML(elem_id="rerank-results", padding=True)
    with gr.Accordion("JSON", open=False):
        json = gr.JSON(label="JSON")

    def read_file(path: str | None):
        """The uploaded file's passages into the box (UI only, not an API)."""
        if not path:
            return gr.update(), ""
        try:
            text, message = file_documents(path)
        except InputError as error:
            return gr.update(), f"⚠️ {error}"
        return text, message

    tab = BuiltTab([query, documents, top_n], [ranked, summary_view, json], endpoint(service), [button])
    upload.upload(read_file, upload, [documents, note], api_visibility="private", queue=False)
    button.click(tab.handler, tab.inputs, tab.outputs, api_name="rerank", **RAW)
    return tab


TAB = Tab("rerank", "Rerank", build, EXAMPLES, LINK)
