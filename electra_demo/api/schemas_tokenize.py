"""``/v1/tokenize`` and ``/v1/detokenize``: requests and responses in vLLM's shape (declared here,
beside :mod:`electra_demo.api.schemas`, which holds the other routes'), plus ``return_offsets``."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from electra_demo import config
from electra_demo.api.schemas import Request

MAX_TOKEN_IDS = 100_000  # ids one detokenize request takes (far more than a text's limit makes)
MODEL = (
    "Whose tokenizer: a checkpoint id from GET /v1/models or a slot name (any slot), or the id of a "
    "model trained in the Fine-tune or Adapt tab (taken, though never listed)."
)


class TokenizeRequest(Request):
    model: str = Field("discriminator", description=MODEL)
    prompt: str = Field(
        max_length=config.MAX_TEXT_CHARS,
        description=f"The text to tokenize (at most {config.MAX_TEXT_CHARS:,} characters), as every "
        'route reads it: a "[SEP]" typed in it is text, not the special token.',
        examples=["The chef cooked the meal."],
    )
    add_special_tokens: bool = Field(True, description="Whether to add [CLS] and [SEP] (vLLM's option).")
    return_offsets: bool = Field(
        False, description="Extension: also answer each token's [start, end] in characters of the prompt."
    )


class TokenizeResponse(BaseModel):
    count: int = Field(description="How many tokens.")
    max_model_len: int = Field(description="The longest input the model reads, in tokens.")
    tokens: list[int] = Field(description="The token ids, in order.")
    offsets: list[Annotated[list[int], Field(min_length=2, max_length=2)]] | None = Field(
        None,
        description="Only with return_offsets: each token's [start, end] in characters of the prompt "
        "(prompt[start:end] is its text; [0, 0] for [CLS] and [SEP]).",
    )


class DetokenizeRequest(Request):
    model: str = Field("discriminator", description=MODEL)
    tokens: list[Annotated[int, Field(ge=0, strict=True)]] = Field(
        max_length=MAX_TOKEN_IDS,
        description=f"Token ids (at most {MAX_TOKEN_IDS:,}), each in the model's vocabulary.",
        examples=[[101, 1996, 102]],
    )


class DetokenizeResponse(BaseModel):
    prompt: str = Field(description="The tokenizer's decoding of the ids (special tokens kept).")
