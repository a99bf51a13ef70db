"""The ``/v1/proofread`` request and response: the page's ``/proofread`` arguments and JSON.

The text comes as ``input`` (as in every ``/v1`` route) or ``text`` (as the page names it); the
route refuses a body with both or neither. Requests refuse unknown fields, as every ``/v1``
request does (:class:`~electra_demo.api.schemas.Request`).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from electra_demo import config
from electra_demo.api.schemas import Request, Span, Text, Warned
from electra_demo.tasks.detect import SLOT
from electra_demo.tasks.proofread import DEFAULT_TOP_K, MAX_SUGGESTED, MAX_TOP_K
from electra_demo.trained import kinds

MODEL_PATTERN = f"^(|{SLOT}|{kinds.id_pattern('adapt')})$"  # documented; the task checks it
EXAMPLE = "I drank a cup of hot keyboard this morning."


class ProofreadRequest(Request):
    input: Text | None = Field(
        None,
        description=f"The text to proofread (up to {config.MAX_TEXT_CHARS:,} characters); or send it as "
        "`text`: one of the two is required.",
        examples=[EXAMPLE],
    )
    text: Text | None = Field(None, description="The text, as the page's /proofread names it (or `input`).")
    threshold: float = Field(
        config.DEFAULT_THRESHOLD,
        ge=0.0,
        le=1.0,
        description="Words above this P(replaced) are flagged; a candidate passes below it.",
    )
    top_k: int = Field(
        DEFAULT_TOP_K, ge=1, le=MAX_TOP_K, description="The generator's proposals for each flagged word."
    )
    model: str = Field(
        "",
        max_length=100,
        description=f'"" (or "{SLOT}"): the demo\'s discriminator and generator; or the id of a pair '
        f"adapted in the Adapt tab ({kinds.KINDS['adapt'].prefix}...; taken, though never listed).",
        json_schema_extra={"pattern": MODEL_PATTERN},
    )

    model_config = ConfigDict(**Request.model_config, json_schema_extra={"examples": [{"input": EXAMPLE}]})


class CandidateOut(BaseModel):
    text: str = Field(description="The generator's word, with the original word's capitalisation.")
    generator_probability: float = Field(
        description="The generator's softmax probability of the word at the masked position."
    )
    replaced_probability: float = Field(
        description="The discriminator's P(replaced), the mean over the word's tokens, with the word "
        "in the text (as /v1/detect scores that text)."
    )


class SuggestionOut(BaseModel):
    start: int = Field(description="Start offset of the flagged word in the input (characters).")
    end: int = Field(description="End offset of the flagged word in the input (characters).")
    original: str = Field(description="The flagged word, input[start:end].")
    candidates: list[CandidateOut] = Field(
        description="Up to top_k, lowest replaced_probability first; one equal to the original is left out."
    )


class ProofreadResponse(Warned):
    tokens: list[Span] = Field(description="Every WordPiece token, as /v1/detect gives it.")
    words: list[Span] = Field(description="Every word, as /v1/detect gives it.")
    suggestions: list[SuggestionOut] = Field(
        description=f"One per checked flagged word, in text order (at most {MAX_SUGGESTED}, the most "
        "suspicious)."
    )
    corrected: str = Field(
        description="The input with each flagged word's first candidate below the threshold in its place."
    )
    threshold: float = Field(description="The threshold used.")
    flagged: int = Field(description="How many words were flagged (P(replaced) > threshold).")
    limited: bool = Field(description=f"Whether more than {MAX_SUGGESTED} were flagged (the rest got none).")
    model: str = Field(description="The discriminator's checkpoint id, or the adapted pair's id.")
