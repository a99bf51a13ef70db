"""The Gradio Blocks UI: ``build_demo(service)``. Each tab's event is a named API endpoint.

Handlers turn the service's clean errors into ``gr.Error`` (a message in the UI, a clean error
over the API) and never let a traceback out.
"""

from __future__ import annotations

import functools
import logging
import os
import tempfile
from collections.abc import Callable
from typing import Any

import gradio as gr

from . import batch as batch_files
from . import config, links, rendering
from .processing import InputError
from .service import ModelService, ModelUnavailable

log = logging.getLogger(__name__)

TITLE = "ELECTRA: replaced-token detection, live"
INTRO = (
    "# ELECTRA, live\n"
    "ELECTRA ([Clark et al., ICLR 2020](https://arxiv.org/abs/2003.10555)) pre-trains a "
    "*discriminator* to spot which tokens of a text a small *generator* replaced. "
    "**Replaced tokens** shows the discriminator's view of any text you type; "
    "**Corrupt & detect** replays its training signal: the generator corrupts your text and the "
    "discriminator tries to find the replacements. **Classify** and **Entities** run ELECTRA "
    "checkpoints fine-tuned for sentiment, emotion, NLI and named entities."
)
CSS = ".electra-summary p { margin: 0.2em 0; }"
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

EXAMPLES: dict[str, list[list[Any]]] = {
    "detect": [
        ["I drank a cup of hot keyboard with my breakfast this morning.", 0.5],
        ["The quick brown fox jumps over the lazy dog.", 0.5],
        ["The chef cooked the meal in the kitchen and served it to the galaxy.", 0.5],
    ],
    "corrupt": [
        ["The chef cooked a delicious meal for the guests in the small kitchen.", 0.15, 0],
        ["Paris is the capital of France and one of the most visited cities in the world.", 0.3, 7],
    ],
    "classify": [
        ["sentiment", "A moving, beautifully acted film that stays with you.", ""],
        ["emotion", "I can't believe they threw me a surprise party!", ""],
        ["nli", "A man is playing a guitar on a crowded stage.", "A person is performing music."],
    ],
    "tag": [
        ["Marie Curie worked at the University of Paris with Pierre Curie.", "simple"],
        ["Google released ELECTRA at ICLR 2020 in Addis Ababa, Ethiopia.", "first"],
    ],
    "qa": [
        [
            "Where was Marie Curie born?",
            "Marie Curie was born in Warsaw in 1867. She moved to Paris in 1891 and worked at the "
            "University of Paris, where she studied radioactivity with Pierre Curie.",
            3,
        ],
        [
            "When did Marie Curie win the Nobel Prize in Chemistry?",
            "Marie Curie was born in Warsaw in 1867. She moved to Paris in 1891 and worked at the "
            "University of Paris, where she studied radioactivity with Pierre Curie.",
            3,
        ],
    ],
}


def launch_kwargs() -> dict[str, Any]:
    """Settings that Gradio 6 takes in ``launch()`` rather than ``Blocks()``; uploads are
    capped at the batch tab's limit, and no extra paths are served (no ``allowed_paths``)."""
    return {"theme": gr.themes.Soft(), "css": CSS, "max_file_size": batch_files.MAX_FILE_BYTES}


def configure_queue(demo: gr.Blocks) -> gr.Blocks:
    """A bounded queue; several requests run at once so the micro-batcher can merge them."""
    return demo.queue(default_concurrency_limit=config.CONCURRENCY, max_size=config.QUEUE_MAX_SIZE)


def user_errors(fn: Callable) -> Callable:
    """Turn the service's errors into ``gr.Error``; log anything unexpected, show no traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (InputError, ModelUnavailable) as error:
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


def build_demo(service: ModelService) -> gr.Blocks:
    """The whole app around one model service; loads no model until a request needs it."""
    # cached example outputs are kept per set of checkpoints, so changing a slot never shows
    # another model's answers
    os.environ["GRADIO_EXAMPLES_CACHE"] = str(service.examples_cache_dir())

    def examples(tab: str) -> gr.Examples:
        """Curated examples; their outputs are cached lazily (on first click), per checkpoints."""
        width = len(EXAMPLES[tab][0])
        return gr.Examples(
            EXAMPLES[tab],
            inputs[tab][:width],
            outputs[tab],
            fn=handlers[tab],
            cache_examples=True,
            cache_mode="lazy",
            api_visibility="private",
        )

    def announce(progress: gr.Progress, names: list[str]) -> None:
        """Say in the waiting tab that a model loads on first use (download and load)."""
        missing = [name for name in names if not service.is_loaded(name)]
        if missing:
            progress(0, desc=f"Loading {' and '.join(missing)} (first use: download and load)...")

    @user_errors
    def detect(text: str, threshold: float = config.DEFAULT_THRESHOLD, progress=gr.Progress(track_tqdm=True)):
        """Score every token of a text with ELECTRA's discriminator: P(the token was replaced).

        Args:
            text: The text to check (up to 20,000 characters; long texts are scored in windows).
            threshold: A token or word is flagged as replaced above this probability (0-1, default 0.5).

        Returns:
            Token highlights, word highlights, a summary, a per-token table, and JSON
            {"tokens": [{"text", "start", "end", "probability", "replaced"}], "words": [same
            keys], "threshold"}, where text == input[start:end].
        """
        announce(progress, ["discriminator"])
        result = service.detect(text, threshold)
        return (
            rendering.token_highlights(result),
            rendering.word_highlights(result),
            rendering.detect_summary(result),
            rendering.token_rows(result),
            result.to_json(),
        )

    @user_errors
    def corrupt(
        text: str,
        fraction: float = config.DEFAULT_FRACTION,
        seed: int = config.DEFAULT_SEED,
        progress=gr.Progress(track_tqdm=True),
    ):
        """Corrupt a text with ELECTRA's generator, then detect the replacements.

        Args:
            text: The text to corrupt, up to 20,000 characters.
            fraction: Fraction of words the generator replaces (0-1, default 0.15; at least one if > 0).
            seed: A whole number; the same seed gives the same corruption.

        Returns:
            The original and corrupted texts with replacements marked, the discriminator's
            token scores on the corrupted text, a summary, and JSON {"original", "corrupted",
            "replacements": [{"start", "end", "original", "replacement"}] (offsets in the
            corrupted text), "tokens": [as in /detect], "metrics": {"precision", "recall",
            "f1", "auc"}} (a metric is null where undefined).
        """
        announce(progress, ["generator", "discriminator"])
        result = service.corrupt(text, fraction, seed)
        return (
            rendering.corrupt_original(result),
            rendering.corrupt_corrupted(result),
            rendering.token_highlights(result.detection),
            rendering.corrupt_summary(result),
            result.to_json(),
        )

    @user_errors
    def classify(head: str, text: str, text_pair: str = "", progress=gr.Progress(track_tqdm=True)):
        """Classify a text with a fine-tuned ELECTRA head: every class with its probability.

        Args:
            head: Which head: "sentiment" (SST-2), "emotion", or "nli" (MNLI, a sentence pair).
            text: The text to classify (for "nli" the premise); past 512 tokens it is truncated.
            text_pair: For "nli" only, the hypothesis; leave empty for the other heads.

        Returns:
            The class probabilities, a summary, and JSON {"head", "model", "labels": [{"label",
            "score"}] highest first, "truncated": bool}.
        """
        announce(progress, [head] if head in config.CLASSIFY_HEADS else [])
        result = service.classify(head, text, text_pair)
        return rendering.label_scores(result), rendering.classify_summary(result), result.to_json()

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
        announce(progress, ["ner"])
        result = service.tag(text, aggregation)
        return (
            rendering.entity_highlights(result),
            rendering.tag_summary(result),
            rendering.entity_rows(result),
            result.to_json(),
        )

    @user_errors
    def answer(
        question: str,
        context: str,
        top_k: int = config.QA_TOP_K,
        max_answer_len: int = config.QA_MAX_ANSWER_LEN,
        handle_impossible_answer: bool = True,
        max_seq_len: int = config.QA_MAX_SEQ_LEN,
        doc_stride: int = config.QA_DOC_STRIDE,
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

        Returns:
            The context with answers highlighted, a summary, a table of candidates, and JSON
            {"answers": [{"text", "score", "start", "end"}], "no_answer": bool, "settings":
            {"top_k", "max_answer_len", "doc_stride", "max_seq_len", "max_question_len",
            "handle_impossible_answer"}} with text == context[start:end] (the empty answer has
            start = end = 0).
        """
        announce(progress, ["qa"])
        result = service.answer(
            question, context, top_k, max_answer_len, handle_impossible_answer, max_seq_len, doc_stride
        )
        return (
            rendering.answer_highlights(result),
            rendering.answer_summary(result),
            rendering.answer_rows(result),
            result.to_json(),
        )

    def batch_columns(file: str | None):
        """After an upload: offer the file's columns in the column pickers (UI only)."""
        if not file:
            return [gr.update(choices=[], value=None)] * 4 + [""]
        try:
            table = batch_files.read_table(file, os.path.basename(file))
        except InputError as error:
            return [gr.update(choices=[], value=None)] * 4 + [f"⚠️ {error}"]
        columns = table.columns

        def pick(*names: str) -> str | None:
            return next((c for c in columns if c.lower() in names), None)

        def longest() -> str | None:  # otherwise the column with the longest texts
            lengths = {c: sum(len(row.get(c, "")) for row in table.rows) for c in columns}
            return max(columns, key=lambda c: lengths[c]) if columns else None

        text = pick("text", "sentence", "premise", "review") or longest()
        return [
            gr.update(choices=columns, value=text),
            gr.update(choices=["", *columns], value=pick("text_pair", "hypothesis") or ""),
            gr.update(choices=columns, value=pick("question")),
            gr.update(choices=columns, value=pick("context")),
            f"{len(table.rows)} rows, columns: {', '.join(columns)}.",
        ]

    @user_errors
    def batch(
        file: str | None,
        task: str = "detect",
        text_column: str | None = None,
        pair_column: str | None = None,
        question_column: str | None = None,
        context_column: str | None = None,
        head: str = config.CLASSIFY_HEADS[0],
        aggregation: str = config.DEFAULT_AGGREGATION,
        threshold: float = config.DEFAULT_THRESHOLD,
        top_k: int = config.QA_TOP_K,
        progress=gr.Progress(),
    ):
        """Run a whole file through one task; download the results as CSV and JSONL.

        Args:
            file: A CSV (with a header), JSONL or TXT (one text per line) file: up to 500 rows, 2 MB.
            task: One of detect, classify, tag, answer.
            text_column: The column holding the texts (detect, classify, tag); default "text".
            pair_column: For classify with the nli head, the column holding the hypotheses.
            question_column: For answer, the column holding the questions.
            context_column: For answer, the column holding the contexts.
            head: For classify: sentiment, emotion or nli.
            aggregation: For tag: none, simple, first, average or max.
            threshold: For detect: the probability above which a token counts as replaced.
            top_k: For answer: how many answers per row.

        Returns:
            A summary, a preview of the first rows, and the results as CSV and JSONL files with the
            same fields as the API's JSON, one row per input row (a failed row has an "error").
        """
        if not file:
            raise InputError("Please upload a CSV, JSONL or TXT file first.")
        table = batch_files.read_table(file, os.path.basename(file))
        job = batch_files.plan_job(
            table,
            task,
            text_column=text_column or None,
            pair_column=pair_column or None,
            question_column=question_column or None,
            context_column=context_column or None,
            head=head,
            aggregation=aggregation,
            threshold=threshold,
            top_k=top_k,
        )
        records = batch_files.run_job(job, service, lambda done, total: progress((done, total), unit="rows"))
        directory = tempfile.mkdtemp(prefix="electra-batch-")
        csv_path, jsonl_path = batch_files.write_outputs(records, directory, task=task)
        failed = sum(1 for r in records if r.get("error"))
        return (
            rendering.batch_summary(task, len(records), failed, service.card(batch_slot(task, head))),
            rendering.batch_preview(records),
            [str(csv_path), str(jsonl_path)],
        )

    def batch_slot(task: str, head: str) -> str:
        return {"detect": "discriminator", "tag": "ner", "answer": "qa"}.get(task, head)

    def head_changed(head: str):
        slot = config.REGISTRY.get(head)
        card = rendering.model_card(service.card(head)) if slot else ""
        return gr.update(visible=bool(slot and slot.pair)), card

    def status_panel() -> str:
        return rendering.status_table({name: service.card(name) for name in config.REGISTRY})

    def copy_link(tab: str) -> Callable:
        def make(*values):
            try:
                return links.make_link(tab, dict(zip(link_names[tab], values, strict=True))), ""
            except InputError as error:
                return "", f"⚠️ {error}"

        return make

    handlers: dict[str, Callable] = {
        "detect": detect,
        "corrupt": corrupt,
        "classify": classify,
        "tag": tag,
        "qa": answer,
    }
    link_names = {tab: [name for name, _ in spec.params] for tab, spec in links.TABS.items()}
    inputs: dict[str, list[gr.components.Component]] = {}
    outputs: dict[str, list[gr.components.Component]] = {}

    def link_controls(tab: str) -> None:
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
        button.click(copy_link(tab), inputs[tab], [url, message], api_visibility="private", queue=False).then(
            None, url, url, js=COPY_LINK_JS, api_visibility="private", queue=False
        )

    with gr.Blocks(title=TITLE) as demo:
        gr.Markdown(INTRO)
        if any(service.card(name)["random_weights"] for name in config.REGISTRY):
            gr.Markdown(rendering.RANDOM_WEIGHTS_NOTICE, elem_id="random-weights-banner")
        link_notice = gr.Markdown(elem_id="link-notice")
        with gr.Accordion("Models: loaded, loading or failed", open=False):
            status = gr.Markdown(status_panel(), elem_id="model-status")
            gr.Button("Refresh", size="sm").click(
                status_panel, None, status, api_visibility="private", queue=False
            )

        with gr.Tabs() as tabs:
            with gr.Tab("Replaced tokens", id="detect"):
                gr.Markdown(rendering.model_card(service.card("discriminator")), elem_classes="model-card")
                with gr.Row():
                    with gr.Column(scale=3):
                        d_text = gr.Textbox(
                            label="Text",
                            lines=4,
                            placeholder="Type a sentence, perhaps with one word that does not belong.",
                            elem_id="detect-text",
                        )
                    with gr.Column(scale=1):
                        d_threshold = gr.Slider(
                            0, 1, value=config.DEFAULT_THRESHOLD, step=0.01, label="Threshold"
                        )
                        d_button = gr.Button(
                            "Detect replaced tokens", variant="primary", elem_id="detect-run"
                        )
                gr.Markdown(
                    f"Up to {config.MAX_TEXT_CHARS:,} characters; texts over 512 tokens are "
                    "scored in overlapping windows.",
                )
                d_summary = gr.Markdown(elem_classes="electra-summary", elem_id="detect-summary")
                d_tokens = gr.HighlightedText(
                    label="Tokens, shaded red by P(replaced): clear = 0, full red = 1",
                    elem_id="detect-tokens",
                    show_legend=False,  # Gradio's score legend runs -1..1; probabilities run 0..1
                )
                d_words = gr.HighlightedText(
                    label="Words over the threshold",
                    color_map=rendering.WORD_COLORS,
                    show_legend=True,
                    elem_id="detect-words",
                )
                with gr.Accordion("Per-token scores and JSON", open=False):
                    d_table = gr.Dataframe(
                        headers=rendering.TOKEN_COLUMNS, label="Per-token scores", interactive=False
                    )
                    d_json = gr.JSON(label="JSON")
                inputs["detect"] = [d_text, d_threshold]
                outputs["detect"] = [d_tokens, d_words, d_summary, d_table, d_json]
                d_button.click(detect, inputs["detect"], outputs["detect"], api_name="detect", **RAW)
                d_text.submit(detect, inputs["detect"], outputs["detect"], api_visibility="private", **RAW)
                examples("detect")
                link_controls("detect")

            with gr.Tab("Corrupt & detect", id="corrupt"):
                gr.Markdown(
                    rendering.model_card(service.card("generator"))
                    + "\n\n"
                    + rendering.model_card(service.card("discriminator")),
                    elem_classes="model-card",
                )
                gr.Markdown(
                    "The generator fills masked words with samples; the discriminator then looks "
                    "for them. A sample equal to the original word is **not** a replacement: "
                    "ELECTRA counts it as real."
                )
                with gr.Row():
                    with gr.Column(scale=3):
                        c_text = gr.Textbox(label="Text", lines=4, info=TEXT_LIMIT, elem_id="corrupt-text")
                    with gr.Column(scale=1):
                        c_fraction = gr.Slider(
                            0,
                            1,
                            value=config.DEFAULT_FRACTION,
                            step=0.01,
                            label="Fraction of words to corrupt",
                        )
                        c_seed = gr.Number(value=config.DEFAULT_SEED, step=1, label="Seed (a whole number)")
                        c_button = gr.Button("Corrupt and detect", variant="primary", elem_id="corrupt-run")
                c_summary = gr.Markdown(elem_classes="electra-summary", elem_id="corrupt-summary")
                c_original = gr.HighlightedText(
                    label="Original (masked words)",
                    color_map=rendering.CORRUPT_COLORS,
                    show_legend=True,
                    elem_id="corrupt-original",
                )
                c_corrupted = gr.HighlightedText(
                    label="Corrupted by the generator",
                    color_map=rendering.CORRUPT_COLORS,
                    show_legend=True,
                    elem_id="corrupt-corrupted",
                )
                c_view = gr.HighlightedText(
                    label="The discriminator's view of the corrupted text: red by P(replaced), clear = 0",
                    elem_id="corrupt-view",
                )
                with gr.Accordion("JSON", open=False):
                    c_json = gr.JSON(label="JSON")
                inputs["corrupt"] = [c_text, c_fraction, c_seed]
                outputs["corrupt"] = [c_original, c_corrupted, c_view, c_summary, c_json]
                c_button.click(corrupt, inputs["corrupt"], outputs["corrupt"], api_name="corrupt", **RAW)
                examples("corrupt")
                link_controls("corrupt")

            with gr.Tab("Classify", id="classify"):
                first = config.CLASSIFY_HEADS[0]
                k_card = gr.Markdown(rendering.model_card(service.card(first)), elem_classes="model-card")
                with gr.Row():
                    with gr.Column(scale=3):
                        k_head = gr.Dropdown(
                            choices=[(config.REGISTRY[n].display_name, n) for n in config.CLASSIFY_HEADS],
                            value=first,
                            label="Head",
                            elem_id="classify-head",
                        )
                        k_text = gr.Textbox(
                            label="Text (premise for NLI)",
                            lines=3,
                            info=TEXT_LIMIT + "; the model reads the first 512 tokens",
                            elem_id="classify-text",
                        )
                        k_pair = gr.Textbox(
                            label="Hypothesis (second text)",
                            value="",
                            lines=2,
                            visible=config.REGISTRY[first].pair,
                            elem_id="classify-pair",
                        )
                        k_button = gr.Button("Classify", variant="primary", elem_id="classify-run")
                    with gr.Column(scale=2):
                        k_summary = gr.Markdown(elem_classes="electra-summary", elem_id="classify-summary")
                        k_label = gr.Label(label="Class probabilities", elem_id="classify-label")
                with gr.Accordion("JSON", open=False):
                    k_json = gr.JSON(label="JSON")
                inputs["classify"] = [k_head, k_text, k_pair]
                outputs["classify"] = [k_label, k_summary, k_json]
                k_head.change(head_changed, k_head, [k_pair, k_card], api_visibility="private", queue=False)
                k_button.click(classify, inputs["classify"], outputs["classify"], api_name="classify", **RAW)
                examples("classify")
                link_controls("classify")

            with gr.Tab("Entities", id="tag"):
                gr.Markdown(rendering.model_card(service.card("ner")), elem_classes="model-card")
                with gr.Row():
                    with gr.Column(scale=3):
                        t_text = gr.Textbox(label="Text", lines=4, info=TEXT_LIMIT, elem_id="tag-text")
                    with gr.Column(scale=1):
                        t_aggregation = gr.Dropdown(
                            choices=list(config.AGGREGATIONS),
                            value=config.DEFAULT_AGGREGATION,
                            label="Aggregation strategy",
                            info="How WordPiece predictions merge into entities (transformers' definitions).",
                            elem_id="tag-aggregation",
                        )
                        t_button = gr.Button("Find entities", variant="primary", elem_id="tag-run")
                t_summary = gr.Markdown(elem_classes="electra-summary", elem_id="tag-summary")
                t_entities = gr.HighlightedText(
                    label="Entities",
                    color_map=rendering.entity_color_map(service.card("ner")["labels"]),
                    show_legend=True,
                    elem_id="tag-entities",
                )
                with gr.Accordion("Entity table and JSON", open=False):
                    t_table = gr.Dataframe(
                        headers=rendering.ENTITY_COLUMNS, label="Entities", interactive=False
                    )
                    t_json = gr.JSON(label="JSON")
                inputs["tag"] = [t_text, t_aggregation]
                outputs["tag"] = [t_entities, t_summary, t_table, t_json]
                t_button.click(tag, inputs["tag"], outputs["tag"], api_name="tag", **RAW)
                examples("tag")
                link_controls("tag")

            with gr.Tab("Question answering", id="qa"):
                gr.Markdown(rendering.model_card(service.card("qa")), elem_classes="model-card")
                with gr.Row():
                    with gr.Column(scale=3):
                        q_question = gr.Textbox(
                            label="Question",
                            lines=1,
                            info=f"Up to {config.QA_MAX_QUESTION_LEN} tokens",
                            elem_id="qa-question",
                        )
                        q_context = gr.Textbox(
                            label=f"Context (up to {config.MAX_CONTEXT_CHARS:,} characters)",
                            lines=8,
                            elem_id="qa-context",
                        )
                    with gr.Column(scale=1):
                        q_top_k = gr.Slider(
                            1, config.QA_MAX_TOP_K, value=config.QA_TOP_K, step=1, label="Answers (top-k)"
                        )
                        with gr.Accordion("Advanced", open=False):
                            q_max_len = gr.Slider(
                                1,
                                100,
                                value=config.QA_MAX_ANSWER_LEN,
                                step=1,
                                label="Maximum answer length (tokens)",
                            )
                            q_impossible = gr.Checkbox(value=True, label='Allow "no answer" (SQuAD 2.0)')
                            q_window = gr.Slider(
                                64,
                                config.MODEL_MAX_TOKENS,
                                value=config.QA_MAX_SEQ_LEN,
                                step=1,
                                label="Window size (tokens, question included)",
                            )
                            q_stride = gr.Slider(
                                0,
                                256,
                                value=config.QA_DOC_STRIDE,
                                step=1,
                                label="Stride (tokens shared by windows)",
                            )
                        q_button = gr.Button("Answer", variant="primary", elem_id="qa-run")
                q_summary = gr.Markdown(elem_classes="electra-summary", elem_id="qa-summary")
                q_highlight = gr.HighlightedText(
                    label="Context",
                    color_map=rendering.QA_COLORS,
                    show_legend=True,
                    elem_id="qa-context-view",
                )
                q_table = gr.Dataframe(
                    headers=rendering.ANSWER_COLUMNS, label="Candidates", interactive=False
                )
                with gr.Accordion("JSON", open=False):
                    q_json = gr.JSON(label="JSON")
                inputs["qa"] = [q_question, q_context, q_top_k, q_max_len, q_impossible, q_window, q_stride]
                outputs["qa"] = [q_highlight, q_summary, q_table, q_json]
                q_button.click(answer, inputs["qa"], outputs["qa"], api_name="answer", **RAW)
                examples("qa")
                link_controls("qa")

            with gr.Tab("Batch", id="batch"):
                gr.Markdown(
                    "Upload a **CSV** (with a header row), **JSONL** or **TXT** file (one text per line): "
                    f"up to {batch_files.MAX_ROWS:,} rows and {batch_files.MAX_FILE_BYTES / 1e6:g} MB. "
                    "Pick a task and the columns it reads; results download as CSV and JSONL with the "
                    "API's fields, one row per input row (a row that fails gets an `error`; the "
                    "others still come out)."
                )
                with gr.Row():
                    with gr.Column(scale=2):
                        b_file = gr.File(
                            label="File",
                            file_types=[".csv", ".jsonl", ".txt", ".tsv", ".ndjson"],
                            type="filepath",
                            elem_id="batch-file",
                        )
                        b_info = gr.Markdown(elem_id="batch-info")
                    with gr.Column(scale=3):
                        b_task = gr.Radio(
                            list(batch_files.TASKS), value="detect", label="Task", elem_id="batch-task"
                        )
                        with gr.Row():
                            b_text = gr.Dropdown([], label="Text column", allow_custom_value=True)
                            b_pair = gr.Dropdown(
                                [], label="Second text column (nli)", allow_custom_value=True
                            )
                        with gr.Row():
                            b_question = gr.Dropdown(
                                [], label="Question column (answer)", allow_custom_value=True
                            )
                            b_context = gr.Dropdown(
                                [], label="Context column (answer)", allow_custom_value=True
                            )
                        with gr.Row():
                            b_head = gr.Dropdown(
                                list(config.CLASSIFY_HEADS),
                                value=config.CLASSIFY_HEADS[0],
                                label="Head (classify)",
                            )
                            b_aggregation = gr.Dropdown(
                                list(config.AGGREGATIONS),
                                value=config.DEFAULT_AGGREGATION,
                                label="Aggregation (tag)",
                            )
                            b_threshold = gr.Slider(
                                0, 1, value=config.DEFAULT_THRESHOLD, step=0.01, label="Threshold (detect)"
                            )
                            b_top_k = gr.Slider(
                                1,
                                config.QA_MAX_TOP_K,
                                value=config.QA_TOP_K,
                                step=1,
                                label="Answers (answer)",
                            )
                        b_button = gr.Button("Run the file", variant="primary", elem_id="batch-run")
                b_summary = gr.Markdown(elem_classes="electra-summary", elem_id="batch-summary")
                b_files = gr.File(
                    label="Results (CSV and JSONL)", file_count="multiple", elem_id="batch-results"
                )
                b_preview = gr.Dataframe(label="First rows", interactive=False, elem_id="batch-preview")
                b_file.change(
                    batch_columns,
                    b_file,
                    [b_text, b_pair, b_question, b_context, b_info],
                    api_visibility="private",
                    queue=False,
                )
                b_button.click(
                    batch,
                    [
                        b_file,
                        b_task,
                        b_text,
                        b_pair,
                        b_question,
                        b_context,
                        b_head,
                        b_aggregation,
                        b_threshold,
                        b_top_k,
                    ],
                    [b_summary, b_preview, b_files],
                    api_name="batch",
                    concurrency_limit=1,  # one file at a time, so a big job cannot crowd out the tabs
                )

        all_inputs = [c for tab in links.TABS for c in inputs[tab]]
        all_outputs = [c for tab in links.TABS for c in outputs[tab]]

        def open_link(request: gr.Request):
            """Select the tab a link names, fill its inputs and run it (UI only, not an API)."""
            parsed = links.parse_link(dict(request.query_params) if request else {})
            notices = list(parsed.notices)
            updates: list[Any] = [gr.update() for _ in all_inputs + all_outputs]
            if parsed.tab is None:
                return [gr.Tabs(), *updates, "\n\n".join(f"⚠️ {n}" for n in notices)]
            tab = parsed.tab
            position = {id(c): i for i, c in enumerate(all_inputs + all_outputs)}
            for component, name in zip(inputs[tab], link_names[tab], strict=True):
                if name in parsed.values:
                    updates[position[id(component)]] = parsed.values[name]
            if tab == "classify":
                head = parsed.values.get("head", config.CLASSIFY_HEADS[0])
                updates[position[id(k_pair)]] = gr.update(
                    value=parsed.values.get("text_pair", ""), visible=config.REGISTRY[head].pair
                )
            if parsed.runnable:
                defaults = [c.value for c in inputs[tab]]
                args = [
                    parsed.values.get(name, default)
                    for name, default in zip(link_names[tab], defaults, strict=True)
                ]
                try:
                    results = handlers[tab](*args)
                except gr.Error as error:
                    notices.append(f"The link's inputs could not be run: {error.message}")
                else:
                    for component, value in zip(outputs[tab], results, strict=True):
                        updates[position[id(component)]] = value
            return [gr.Tabs(selected=tab), *updates, "\n\n".join(f"⚠️ {n}" for n in notices)]

        demo.load(
            open_link, None, [tabs, *all_inputs, *all_outputs, link_notice], api_visibility="private"
        ).then(status_panel, None, status, api_visibility="private", queue=False)
        for dependency in (d_button, c_button, k_button, t_button, q_button):
            dependency.click(status_panel, None, status, api_visibility="private", queue=False)
    return demo
