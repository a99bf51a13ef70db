"""The ``/v1/rerank`` and ``/v1/score`` requests and responses.

``/v1/rerank`` takes Cohere's and Jina's body (which vLLM and Infinity serve too) and ``/v1/score``
vLLM's; both run the ``rerank`` slot, a cross-encoder. Requests refuse unknown fields, as every
``/v1`` request does (:class:`~electra_demo.api.schemas.Request`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, field_validator

from electra_demo import config
from electra_demo.api.schemas import Request, Usage, Warned
from electra_demo.checks import describe

MAX_DOCUMENTS = config.RERANK_MAX_DOCUMENTS
DOCUMENT_CHARS = config.MAX_CONTEXT_CHARS
Query = Annotated[str, Field(min_length=1, max_length=config.MAX_TEXT_CHARS)]
DocumentText = Annotated[str, Field(min_length=1, max_length=DOCUMENT_CHARS)]
Texts = Annotated[list[DocumentText], Field(min_length=1, max_length=MAX_DOCUMENTS)]
MODEL = (
    "The reranker: rerank (the slot's name) or its checkpoint id from GET /v1/models, a cross-encoder "
    "with one relevance logit."
)


def check_documents(value: Any, name: str) -> Any:
    """Before pydantic's own checks: the count and each item's shape, in one clear message."""
    if not isinstance(value, list):
        return value  # pydantic says what was expected
    if len(value) > MAX_DOCUMENTS:
        raise ValueError(f"{len(value):,} documents were sent; the limit is {MAX_DOCUMENTS:,} a request")
    for index, item in enumerate(value):
        if isinstance(item, str):
            continue
        if isinstance(item, dict) and set(item) == {"text"} and isinstance(item["text"], str):
            continue
        got = describe(item)
        if isinstance(item, dict):  # its keys are the caller's text: counted, never echoed
            got = (
                "an object without text"
                if "text" not in item
                else "an object whose text is not a string"
                if not isinstance(item["text"], str)
                else f"an object with {len(item) - 1} key(s) besides text"
            )
        raise ValueError(f'{name}[{index}] must be a string or {{"text": string}}; got {got}')
    return value


class Document(Request):
    text: DocumentText = Field(description="The document's text.")


Documents = Annotated[list[DocumentText | Document], Field(min_length=1, max_length=MAX_DOCUMENTS)]


class RerankRequest(Request):
    model: str = Field(config.RERANK, description=MODEL)
    query: Query = Field(
        description=f"The query (at most {config.RERANK_MAX_QUERY_TOKENS} tokens: it is never cut).",
        examples=["Where is the Eiffel Tower?"],
    )
    documents: Documents = Field(
        description='The documents to rank: texts or {"text"} objects, '
        f"1 to {MAX_DOCUMENTS:,} a request (at most {DOCUMENT_CHARS:,} characters each). Each (query, "
        "document) pair is cut to the model's 512 tokens on the document side; each result says so.",
        examples=[["The Eiffel Tower is in Paris.", "Berlin is the capital of Germany."]],
    )
    top_n: int | None = Field(
        None, ge=0, description="Return the best top_n documents; null or 0: every document."
    )
    return_documents: bool = Field(False, description='Whether each result carries its {"text"}.')
    raw_scores: bool = Field(
        False, description="The head's logit as relevance_score instead of its sigmoid (as TEI's flag)."
    )

    @field_validator("documents", mode="before")
    @classmethod
    def documents_shape(cls, value: Any) -> Any:
        return check_documents(value, "documents")


class DocumentOut(BaseModel):
    text: str = Field(description="The document as sent.")


class RerankResult(BaseModel):
    index: int = Field(description="The document's position in the request.")
    relevance_score: float = Field(description="sigmoid(logit) in (0, 1), or the logit with raw_scores.")
    document: DocumentOut | None = Field(None, description="Only with return_documents: the document.")
    truncated: bool = Field(description="Whether the document was cut to fit the model's 512 tokens.")


class RerankUsage(BaseModel):
    total_tokens: int = Field(description="Tokens the model read, every pair's special tokens included.")


class RerankResponse(Warned):
    id: str = Field(description="A unique id for this response.")
    model: str = Field(description="The checkpoint id of the reranker.")
    results: list[RerankResult] = Field(description="The documents, most relevant first (top_n of them).")
    usage: RerankUsage = Field(description="Tokens read.")


class ScoreRequest(Request):
    model: str = Field(config.RERANK, description=MODEL)
    text_1: Query | Annotated[list[Query], Field(min_length=1, max_length=MAX_DOCUMENTS)] = Field(
        description="The query: a text scored against every text_2, or a list as long as text_2 "
        "(scored pair by pair); a list of one is a single query.",
        examples=["Where is the Eiffel Tower?"],
    )
    text_2: DocumentText | Texts = Field(
        description=f"The documents: a list of 1 to {MAX_DOCUMENTS:,} texts (a text: a list of one), "
        "each cut to the model's length with its query.",
        examples=[["The Eiffel Tower is in Paris.", "Berlin is the capital of Germany."]],
    )

    @field_validator("text_1", "text_2", mode="before")
    @classmethod
    def count(cls, value: Any) -> Any:
        if isinstance(value, list) and len(value) > MAX_DOCUMENTS:
            raise ValueError(f"{len(value):,} texts were sent; the limit is {MAX_DOCUMENTS:,} a request")
        return value


class ScoreData(BaseModel):
    index: int = Field(description="The pair's position (text_2's order).")
    object: Literal["score"] = Field("score", description='Always "score".')
    score: float = Field(description="sigmoid(logit) of the pair, in (0, 1).")


class ScoreResponse(Warned):
    id: str = Field(description="A unique id for this response.")
    object: Literal["list"] = Field("list", description='Always "list".')
    model: str = Field(description="The checkpoint id of the reranker.")
    data: list[ScoreData] = Field(description="One score per pair, in input order.")
    usage: Usage = Field(description="Tokens read.")
