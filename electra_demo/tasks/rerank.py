"""Rerank passages for a query with a cross-encoder (the ``rerank`` slot).

Each (query, document) pair is read as one sequence pair, ``[CLS] query [SEP] document [SEP]``;
the head's one logit is the pair's relevance and ``sigmoid(logit)`` its score, as
sentence-transformers' ``CrossEncoder.predict`` computes for a one-label model. A pair longer than
the model is cut on the document side only (the query is kept whole, so it may be at most
``config.RERANK_MAX_QUERY_TOKENS`` tokens) and says so (``truncated``). Every pair of a request
goes to the slot's micro-batcher in one call, so the pairs of concurrent requests (the page, the
API, a batch run) run together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from electra_demo import config
from electra_demo.checks import InputError, check_text, describe, whole_number
from electra_demo.runtime.models import LoadedModel, ModelUnavailable
from electra_demo.tasks.common import Models
from electra_demo.tasks.explain_inputs import FieldError
from electra_demo.text.processing import sigmoid
from electra_demo.text.tables import text_lines

SLOT = config.RERANK
MAX_DOCUMENTS = config.RERANK_MAX_DOCUMENTS
MAX_DOCUMENT_CHARS = config.MAX_CONTEXT_CHARS  # a document past the model's length is cut anyway


@dataclass(frozen=True)
class Scored:
    """One (query, document) pair, scored."""

    index: int  # the document's position in the request
    text: str  # the document as given
    logit: float  # the head's one logit (raw score)
    score: float  # sigmoid(logit): the relevance score
    truncated: bool  # the document was cut to fit the model
    tokens: int  # tokens the model read for the pair, special tokens included

    def to_json(self) -> dict:
        return {
            "index": self.index,
            "relevance_score": self.score,
            "text": self.text,
            "truncated": self.truncated,
        }


@dataclass
class RerankResult:
    query: str
    results: list[Scored]  # highest first, cut to top_n
    scored: list[Scored]  # every document, in input order
    model: LoadedModel = field(repr=False)

    @property
    def tokens(self) -> int:
        return sum(s.tokens for s in self.scored)

    def to_json(self) -> dict:
        return {"results": [s.to_json() for s in self.results], "model": self.model.resolved.source}

    def pair(self) -> PairScore:
        """The first document's score alone (a batch row is one pair)."""
        first = self.scored[0]
        return PairScore(first.score, first.truncated, self.model.resolved.source)


@dataclass(frozen=True)
class PairScore:
    relevance_score: float
    truncated: bool
    model: str

    def to_json(self) -> dict:
        return {"relevance_score": self.relevance_score, "truncated": self.truncated, "model": self.model}


# ---- preprocess (pure) ------------------------------------------------------------------------
def check_query(query: object, name: str = "query") -> str:
    try:
        return check_text(query, max_chars=config.MAX_TEXT_CHARS, what=name)
    except InputError as error:
        raise FieldError(name, str(error)) from None


def split_documents(documents: object) -> object:
    """Documents given as one text (the page, the Gradio API): one a line, blank lines skipped."""
    if isinstance(documents, str):
        return [line for line in text_lines(documents) if line.strip()]
    return documents


def check_documents(documents: object, name: str = "documents") -> list[str]:
    """1 to :data:`MAX_DOCUMENTS` non-empty texts; the message names the one at fault."""
    documents = split_documents(documents)
    if not isinstance(documents, list | tuple):
        raise FieldError(name, f"The {name} must be a list of texts; got {describe(documents)}.")
    if not documents:
        raise FieldError(name, f"Please give at least one document to rank ({name} is empty).")
    if len(documents) > MAX_DOCUMENTS:
        raise FieldError(
            name, f"There are {len(documents):,} documents; the limit is {MAX_DOCUMENTS:,} a request."
        )
    for index, document in enumerate(documents):
        if not isinstance(document, str):
            raise FieldError(name, f"{name}[{index}] must be a text; got {describe(document)}.")
        try:
            check_text(document, max_chars=MAX_DOCUMENT_CHARS, what=f"document {name}[{index}]")
        except InputError as error:
            raise FieldError(name, str(error)) from None
    return list(documents)


def check_top_n(top_n: object) -> int:
    """0 (every document) or a positive whole number (more than the documents: every document);
    None (a cleared number box) is 0."""
    top_n = 0 if top_n is None else whole_number(top_n)
    if isinstance(top_n, float) and top_n.is_integer():
        top_n = int(top_n)
    if isinstance(top_n, bool) or not isinstance(top_n, int) or top_n < 0:
        raise FieldError(
            "top_n", f"top_n must be 0 (every document) or a positive whole number; got {describe(top_n)}."
        )
    return top_n


def preprocess(query: object, documents: object, top_n: object = 0) -> tuple[str, list[str], int]:
    """The query, the documents (a list, or one text with a document a line) and top_n, checked."""
    return check_query(query), check_documents(documents), check_top_n(top_n)


def check_query_tokens(loaded: LoadedModel, queries: Sequence[str], name: str = "query") -> dict[str, int]:
    """Each query's tokens (no special tokens); a query that would leave the document too little
    room in the model's input (over ``config.RERANK_MAX_QUERY_TOKENS``) is refused."""
    options = {"split_special_tokens": True, "verbose": False}
    unique = list(dict.fromkeys(queries))
    alone = loaded.tokenizer(unique, add_special_tokens=False, **options)["input_ids"]
    counts = dict(zip(unique, map(len, alone), strict=True))
    limit = min(config.RERANK_MAX_QUERY_TOKENS, loaded.max_tokens // 2)
    for count in counts.values():
        if count > limit:
            raise FieldError(
                name,
                f"The {name} is {count} tokens long; the limit is {limit}, so that the document keeps "
                "room in the model's input. Shorten it.",
            )
    return counts


def encode(
    loaded: LoadedModel, pairs: Sequence[tuple[str, str]], query_name: str = "query"
) -> tuple[list[tuple[list[int], list[int]]], list[bool]]:
    """Each pair's input ids and token types, cut to the model's length on the document side
    (``only_second``), and whether it was cut (``split_special_tokens``: a typed "[SEP]" is text)."""
    tokenizer = loaded.tokenizer
    options = {"split_special_tokens": True, "verbose": False}
    query_tokens = check_query_tokens(loaded, [q for q, _ in pairs], query_name)
    documents = [d for _, d in pairs]
    lengths = [len(ids) for ids in tokenizer(documents, add_special_tokens=False, **options)["input_ids"]]
    specials = tokenizer.num_special_tokens_to_add(pair=True)
    encoded = tokenizer(
        [q for q, _ in pairs], documents, truncation="only_second", max_length=loaded.max_tokens, **options
    )
    types = encoded.get("token_type_ids") or [[0] * len(ids) for ids in encoded["input_ids"]]
    rows = list(zip(encoded["input_ids"], types, strict=True))
    cut = [
        query_tokens[q] + n + specials > loaded.max_tokens for (q, _), n in zip(pairs, lengths, strict=True)
    ]
    return rows, cut


# ---- the model call and postprocess ---------------------------------------------------------
def check_head(loaded: LoadedModel) -> None:
    """A reranker has one logit; another checkpoint in the slot is the operator's to fix."""
    labels = int(getattr(loaded.model.config, "num_labels", 1))
    if labels != 1:
        resolved = loaded.resolved
        raise ModelUnavailable(
            f"The {resolved.name} model '{resolved.source}' has {labels} labels; a reranker (a "
            f"cross-encoder) has one relevance logit. Set {resolved.slot.env_var} to such a checkpoint."
        )


def scores(logits: np.ndarray) -> np.ndarray:
    """Relevance scores: sigmoid of the logits (CrossEncoder's activation for one label)."""
    return sigmoid(np.asarray(logits, dtype=np.float32))


def rank(scored: Sequence[Scored], top_n: int) -> list[Scored]:
    """Highest score first (ties: input order); the first ``top_n`` (0: all)."""
    ordered = sorted(scored, key=lambda s: (-s.score, s.index))
    return ordered[:top_n] if top_n else ordered


def score_pairs(
    models: Models, pairs: Sequence[tuple[str, str]], query_name: str = "query"
) -> tuple[list[Scored], LoadedModel]:
    """Every pair scored in one call to the slot's micro-batcher, in input order."""
    loaded = models.load(SLOT)
    check_head(loaded)
    rows, cut = encode(loaded, pairs, query_name)
    outputs = loaded.batcher.run(rows)
    logits = np.array([np.asarray(o["logits"], dtype=np.float32).reshape(-1)[0] for o in outputs])
    relevance = scores(logits)
    scored = [
        Scored(i, doc, float(logits[i]), float(relevance[i]), cut[i], len(rows[i][0]))
        for i, (_, doc) in enumerate(pairs)
    ]
    return scored, loaded


def run(models: Models, query: str, documents: str | Sequence[str], top_n: int = 0) -> RerankResult:
    """The documents ranked by relevance to the query, highest first (top_n 0: every one)."""
    query, docs, top_n = preprocess(query, documents, top_n)
    scored, loaded = score_pairs(models, [(query, doc) for doc in docs])
    return RerankResult(query=query, results=rank(scored, top_n), scored=scored, model=loaded)
