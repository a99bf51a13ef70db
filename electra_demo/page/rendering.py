"""Service results to component values. No model code; no user text in Markdown or HTML.

User text only ever reaches the page through components that render it as text
(HighlightedText, Dataframe, JSON); the Markdown built here holds numbers and registry data.
"""

from __future__ import annotations

from typing import Any

from electra_demo.tasks.answer import AnswerResult
from electra_demo.tasks.classify import ClassifyResult
from electra_demo.tasks.corrupt import CorruptResult
from electra_demo.tasks.detect import DetectResult
from electra_demo.tasks.tag import TagResult
from electra_demo.text.processing import segments

REPLACED = "replaced"
KEPT = "sampled = original"
WORD_COLORS = {REPLACED: "#ef4444"}
CORRUPT_COLORS = {REPLACED: "#ef4444", KEPT: "#a3a3a3"}
TOKEN_COLUMNS = ["token", "start", "end", "P(replaced)", "replaced"]
RANDOM_WEIGHTS_NOTICE = (
    "⚠️ **Random weights.** This model is a small checkpoint with random weights, made for "
    "tests and offline development: its output is meaningless."
)


def token_highlights(result: DetectResult) -> list[tuple[str, float | None]]:
    """The text as typed, each token shaded by its probability of having been replaced."""
    return segments(result.text, [(t.start, t.end, round(t.probability, 4)) for t in result.tokens])


def word_highlights(result: DetectResult) -> list[tuple[str, str | None]]:
    """The text as typed, the words over the threshold marked "replaced"."""
    return segments(result.text, [(w.start, w.end, REPLACED if w.replaced else None) for w in result.words])


def token_rows(result: DetectResult) -> list[list[Any]]:
    return [[t.text, t.start, t.end, round(t.probability, 4), t.replaced] for t in result.tokens]


def detect_summary(result: DetectResult) -> str:
    flagged = sum(w.replaced for w in result.words)
    lines = [
        f"**{flagged} of {len(result.words)} words look replaced** "
        f"(P(replaced) > {result.threshold:g}; a word counts its most suspicious piece). "
        f"{len(result.tokens)} tokens scored."
    ]
    if result.model.random_weights:
        lines.insert(0, RANDOM_WEIGHTS_NOTICE)
    return "\n\n".join(lines)


def corrupt_original(result: CorruptResult) -> list[tuple[str, str | None]]:
    spans = [(r.original_start, r.original_end, REPLACED) for r in result.replacements]
    spans += [(s, e, KEPT) for s, e in result.unchanged]
    return segments(result.original, sorted(spans))


def corrupt_corrupted(result: CorruptResult) -> list[tuple[str, str | None]]:
    return segments(result.corrupted, [(r.start, r.end, REPLACED) for r in result.replacements])


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def corrupt_summary(result: CorruptResult) -> str:
    m = result.metrics
    masked = len(result.replacements) + len(result.unchanged)
    lines = [
        f"**{masked} words masked, {len(result.replacements)} replaced** "
        f"(fraction {result.fraction:g}, seed {result.seed}).",
        f"Discriminator vs. the true replacements, per token at P > 0.5: precision "
        f"{_number(m['precision'])}, recall {_number(m['recall'])}, F1 {_number(m['f1'])}, "
        f"ROC-AUC {_number(m['auc'])}.",
    ]
    if result.unchanged:
        lines.append(
            f"{len(result.unchanged)} masked word(s) got the original back from the generator: "
            "ELECTRA counts such a token as real, not replaced (grey)."
        )
    if result.generator.random_weights or result.detection.model.random_weights:
        lines.insert(0, RANDOM_WEIGHTS_NOTICE)
    return "\n\n".join(lines)


def model_card(card: dict[str, Any]) -> str:
    """A model card panel from registry data (never from user input)."""
    ident = f"[`{card['id']}`]({card['link']})" if card["link"] else f"`{card['id']}`"
    lines = [f"**Model:** {ident} · **task:** {card['task']}"]
    if card["labels"]:
        lines.append("**Labels:** " + ", ".join(card["labels"]))
    if card["overridden"]:
        lines.append(
            f"**Overridden** by `{card['env_var']}` (default: `{card['default_id']}`); "
            "licence and reported figures are those of the override's own card."
        )
    else:
        lines.append(f"**License:** {card['license']} · **Reported:** {card['reported']}")
    if card.get("precision"):
        lines.append(f"**Precision:** {card['precision']} (Explain's gradients: fp32)")
    if card["random_weights"]:
        lines.append(RANDOM_WEIGHTS_NOTICE)
    return "  \n".join(lines)


# ---- fine-tuned heads -----------------------------------------------------------------------
ENTITY_COLORS = {"PER": "#3b82f6", "ORG": "#22c55e", "LOC": "#f97316", "MISC": "#a855f7"}
ENTITY_COLUMNS = ["entity", "label", "score", "start", "end"]


def entity_color_map(labels: list[str]) -> dict[str, str]:
    """One colour per entity type, for both B-/I- tags and aggregated groups."""
    colors = dict(ENTITY_COLORS)
    for label in labels:
        kind = label.split("-", 1)[-1]
        if kind in colors and label != "O":
            colors[label] = colors[kind]
    return colors


def label_scores(result: ClassifyResult) -> dict[str, float]:
    """``gr.Label``'s value: every class with its probability (already softmaxed)."""
    return dict(result.labels)


def classify_summary(result: ClassifyResult) -> str:
    top, score = result.labels[0]
    lines = [f"**{top}** ({score:.1%}) from `{result.model.resolved.source}`."]
    if result.truncated:
        lines.append(
            f"⚠️ The input was longer than the model's {result.model.max_tokens} tokens and was "
            "truncated: only its beginning was read."
        )
    if result.model.random_weights:
        lines.insert(0, RANDOM_WEIGHTS_NOTICE)
    return "\n\n".join(lines)


def entity_highlights(result: TagResult) -> list[tuple[str, str | None]]:
    return segments(result.text, [(e.start, e.end, e.label) for e in result.entities])


def entity_rows(result: TagResult) -> list[list[Any]]:
    return [[e.text, e.label, round(e.score, 4), e.start, e.end] for e in result.entities]


def tag_summary(result: TagResult) -> str:
    kinds = sorted({e.label for e in result.entities})
    lines = [
        f"**{len(result.entities)} entities** ({', '.join(kinds) or 'none'}), aggregation "
        f"`{result.aggregation}`."
    ]
    if result.model.random_weights:
        lines.insert(0, RANDOM_WEIGHTS_NOTICE)
    return "\n\n".join(lines)


# ---- question answering -----------------------------------------------------------------------
ANSWER = "answer"
BEST_SPAN = "best span (no answer won)"
CANDIDATE = "other candidate"
QA_COLORS = {ANSWER: "#22c55e", BEST_SPAN: "#f59e0b", CANDIDATE: "#93c5fd"}
ANSWER_COLUMNS = ["rank", "answer", "score", "start", "end"]


def answer_highlights(result: AnswerResult) -> list[tuple[str, str | None]]:
    """The context with the best answer marked and the other candidates that do not overlap it."""
    marked: list[tuple[int, int, str]] = []
    best = result.best_span
    if best is not None:
        marked.append((best.start, best.end, BEST_SPAN if result.no_answer else ANSWER))
    for candidate in result.answers:
        if candidate.empty or candidate is best:
            continue
        if all(candidate.end <= s or e <= candidate.start for s, e, _ in marked):
            marked.append((candidate.start, candidate.end, CANDIDATE))
    return segments(result.context, sorted(marked))


def answer_rows(result: AnswerResult) -> list[list[Any]]:
    return [
        [rank, "(no answer)" if a.empty else a.text, round(a.score, 6), a.start, a.end]
        for rank, a in enumerate(result.answers, 1)
    ]


def answer_summary(result: AnswerResult) -> str:
    windows = f"{result.windows} window{'s' if result.windows != 1 else ''} searched"
    best = result.best_span
    if result.no_answer:
        lines = ["**No answer in this context.**"]
        if best is not None and result.null_score is not None:
            lines.append(
                f"The no-answer score {result.null_score:.4f} beats the best span's {best.score:.4f} "
                f"(margin {result.null_score - best.score:.4f}); that span is still highlighted "
                f"in amber. {windows}."
            )
    else:
        top = result.answers[0]
        lines = [
            f"**Best answer** (green), score {top.score:.4f}, characters {top.start}-{top.end}; {windows}."
        ]
        if result.null_score is not None:
            lines.append(f"No-answer score: {result.null_score:.4f}.")
    if result.model.random_weights:
        lines.insert(0, RANDOM_WEIGHTS_NOTICE)
    return "\n\n".join(lines)


def cell(text: str) -> str:
    """``text`` for a Markdown table cell: its pipes (a backend's "max |logit difference|") escaped."""
    return text.replace("|", "\\|")


# ---- model status -----------------------------------------------------------------------------
def status_table(cards: dict[str, dict[str, Any]]) -> str:
    """Which models are loaded, loading or failed, on which backend and in which precision (the
    loaded model's, else the one it will load in) (registry data only)."""
    lines = ["| slot | checkpoint | state | backend | precision |", "|---|---|---|---|---|"]
    for name, card in cards.items():
        state = card["state"]
        if state.startswith("failed"):
            state = "❌ failed (see the tab's message)"
        elif state == "loaded":
            state = "✅ loaded"
        elif state == "loading":
            state = "⏳ loading"
        source = card["id"] + (" (overridden)" if card["overridden"] else "")
        backend, precision = cell(card.get("backend") or "-"), card.get("precision") or "-"
        lines.append(f"| {name} | `{source}` | {state} | {backend} | {precision} |")
    return "\n".join(lines)


EXTRA_COPIES = {"torch": "PyTorch copy for explanations (gradients)", "encoder": "encoder alone (embeddings)"}


def loaded_table(models: dict[str, tuple[str, int]]) -> str:
    """Every model in memory (key -> backend, bytes of PyTorch weights): the slots' own and the
    extra copies some features load (a PyTorch copy for gradients where ONNX Runtime serves)."""
    if not models:
        return ""
    lines = ["| in memory | what | backend | PyTorch weights |", "|---|---|---|---|"]
    for key, (backend, size) in models.items():
        slot, _, kind = key.partition(":")
        what = EXTRA_COPIES.get(kind, "served model")
        weights = f"{size / 2**20:,.1f} MiB" if size else "freed (the export's runtime holds its own)"
        lines.append(f"| {slot} | {what} | {cell(backend)} | {weights} |")
    total = sum(size for _, size in models.values())
    lines.append(f"\nPyTorch weights in memory: {total / 2**20:,.1f} MiB.")
    return "\n".join(lines)


# ---- batch files ------------------------------------------------------------------------------
PREVIEW_ROWS = 20


def batch_summary(task: str, rows: int, failed: int, card: dict[str, Any]) -> str:
    lines = [
        f"**{rows - failed} of {rows} rows done** with `{task}` on `{card['id']}`"
        + (f"; {failed} failed (see their `error` column)." if failed else ".")
    ]
    if card["random_weights"]:
        lines.insert(0, RANDOM_WEIGHTS_NOTICE)
    return "\n\n".join(lines)


def batch_preview(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The first rows, as text: inputs, then a short result or the error."""
    headers = ["row", "input", "result"]
    data = []
    for record in records[:PREVIEW_ROWS]:
        inputs = " | ".join(
            str(record[k])
            for k in ("text", "text_pair", "question", "context", "query", "document")
            if k in record
        )
        if record.get("error"):
            result = "error: " + record["error"]
        elif "labels" in record:
            result = f"{record['labels'][0]['label']} ({record['labels'][0]['score']:.3f})"
        elif "entities" in record:
            result = ", ".join(f"{e['text']} ({e['label']})" for e in record["entities"][:5]) or "(none)"
        elif "answers" in record:
            result = (
                "(no answer)"
                if record["no_answer"]
                else (record["answers"][0]["text"] if record["answers"] else "")
            )
        elif "relevance_score" in record:
            result = f"relevance {record['relevance_score']:.3f}" + (" (cut)" if record["truncated"] else "")
        elif "words" in record:
            flagged = [w["text"] for w in record["words"] if w["replaced"]]
            result = f"{len(flagged)} words look replaced" + (
                ": " + ", ".join(flagged[:5]) if flagged else ""
            )
        else:
            result = ""
        data.append([record["row"], inputs[:200], result[:200]])
    return {"headers": headers, "data": data}
