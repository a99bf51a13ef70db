"""The ``/v1`` requests and responses, declared once: they validate requests and write the
OpenAPI document (``/v1/openapi.json``), where every field carries its description.

Shapes follow OpenAI (models, embeddings) and vLLM (classify; TEI's raw_scores); detect, tag and answer return
the page's JSON per input. Requests refuse unknown fields: a misspelt option is a 400 naming it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from electra_demo import config
from electra_demo.trained import kinds

FT, AD = kinds.KINDS["classify"], kinds.KINDS["adapt"]  # the Fine-tune tab's and the Adapt tab's
EXPLAINED = f"^(sentiment|emotion|nli|detect|qa|rerank|{kinds.id_pattern('classify', 'qa')})$"  # its tasks
MAX_INPUTS = 64  # inputs in one request
MAX_INPUT_TOKENS = 512  # embeddings and classify, special tokens included
MAX_BODY_BYTES = 2 * 1024 * 1024

Text = Annotated[str, Field(min_length=1, max_length=config.MAX_TEXT_CHARS)]
TokenIds = Annotated[list[Annotated[int, Field(ge=0, strict=True)]], Field(min_length=1)]
Pair = Annotated[list[Text], Field(min_length=2, max_length=2)]


def check_truncate(value: int | None) -> int | None:
    """vLLM's ``truncate_prompt_tokens``: -1 (the model's maximum) or a positive count."""
    if value is not None and value != -1 and value < 1:
        raise ValueError(f"expected -1 (the model's maximum) or a positive number of tokens; got {value}")
    return value


Truncate = Annotated[int | None, AfterValidator(check_truncate)]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # as the schema says: no "3" for 3


class Warned(BaseModel):  # an answer; its model may be one of --tiny's random checkpoints
    warning: str | None = Field(None, description="Only when the model has random weights (--tiny): so.")


# ---- errors -------------------------------------------------------------------------------
class ErrorDetail(BaseModel):
    message: str = Field(description="What went wrong and what was expected, in plain words.")
    type: str = Field(description="OpenAI's type: invalid_request_error, rate_limit_error or server_error.")
    param: str | None = Field(description="The request field at fault (for example input[3]), or null.")
    code: str | None = Field(
        description="A short machine-readable code: invalid_request, missing_field, unknown_field, "
        "invalid_json, invalid_api_key, model_not_found, request_too_large, input_too_long, "
        "rate_limit_exceeded, overloaded, model_unavailable, internal_error."
    )


class ErrorResponse(BaseModel):
    error: ErrorDetail = Field(description="The error, in OpenAI's shape.")


# ---- shared -------------------------------------------------------------------------------
class Usage(BaseModel):
    prompt_tokens: int = Field(description="Tokens read from the inputs (special tokens included).")
    total_tokens: int = Field(description="Equal to prompt_tokens: nothing is generated.")


class ModelCard(BaseModel):
    model_config = ConfigDict(extra="allow")  # the card may carry more than is documented here
    id: str = Field(description="The checkpoint id (a Hub id, or the operator's local directory).")
    object: Literal["model"] = Field("model", description='Always "model".')
    created: int = Field(description="Unix time at which this server started.")
    owned_by: str = Field(description="The Hub organisation of the checkpoint, or 'local'.")
    slot: str = Field(description="The demo's slot for it; accepted as an alias wherever a model is.")
    task: str = Field(description="What the slot's head does.")
    routes: list[str] = Field(description="The /v1 routes that take this model.")
    random_weights: bool = Field(description="A small random checkpoint (--tiny): meaningless output.")


class ModelList(BaseModel):
    object: Literal["list"] = Field("list", description='Always "list".')
    data: list[ModelCard] = Field(description="One entry per slot.")


# ---- embeddings ---------------------------------------------------------------------------
class EmbeddingRequest(Request):
    model: str = Field(
        description="A checkpoint id from GET /v1/models or a slot name (discriminator, generator, "
        "sentiment, emotion, nli, ner, qa); the checkpoint's encoder embeds the input. The id of "
        f"{FT.origin} ({FT.prefix}...) or {AD.origin} ({AD.prefix}...) is taken too, though never listed.",
        examples=["discriminator"],
    )
    input: (
        Text
        | Annotated[list[Text], Field(min_length=1, max_length=MAX_INPUTS)]
        | TokenIds
        | Annotated[list[TokenIds], Field(min_length=1, max_length=MAX_INPUTS)]
    ) = Field(
        description=f"A text, a list of texts, a list of token ids, or a list of lists of token ids; "
        f"at most {MAX_INPUTS} inputs, {config.MAX_TEXT_CHARS:,} characters a text and "
        f"{MAX_INPUT_TOKENS} tokens an input. Texts get [CLS] and [SEP]; token ids are used as given.",
        examples=["The chef cooked the meal."],
    )
    encoding_format: Literal["float", "base64"] = Field(
        "float",
        description='"float": a list of numbers; "base64": the little-endian float32 bytes, base64 '
        "encoded (what the openai client asks for by default, and decodes).",
    )
    dimensions: int | None = Field(None, description="Accepted only when equal to the model's hidden size.")
    user: str | None = Field(None, description="Accepted for compatibility and ignored.")
    pooling: Literal["mean", "cls"] = Field(
        "mean",
        description="Extension. mean: the average of the encoder's last hidden state over every "
        "position (special tokens included); cls: the first position ([CLS]). Either is L2-normalised.",
    )
    truncate_prompt_tokens: Truncate = Field(
        None,
        description="vLLM's option: cut each input to its first this-many tokens (-1: the model's "
        f"maximum) instead of refusing inputs over {MAX_INPUT_TOKENS} tokens.",
    )


class Embedding(BaseModel):
    object: Literal["embedding"] = Field("embedding", description='Always "embedding".')
    embedding: list[float] | str = Field(
        description="Unit-length: numbers, or base64 of little-endian float32."
    )
    index: int = Field(description="The input's position in the request.")


class EmbeddingResponse(Warned):
    object: Literal["list"] = Field("list", description='Always "list".')
    data: list[Embedding] = Field(description="One embedding per input, in input order.")
    model: str = Field(description="The checkpoint id that embedded the input.")
    usage: Usage = Field(description="Tokens read.")


# ---- classify -----------------------------------------------------------------------------
class ClassifyRequest(Request):
    model: str = Field(
        description="A classification head: sentiment, emotion or nli (a slot name or its checkpoint id), "
        f"or the id of {FT.origin} ({FT.prefix}...; taken, though never listed).",
        examples=["sentiment"],
    )
    input: Text | Annotated[list[Text | Pair], Field(min_length=1, max_length=MAX_INPUTS)] = Field(
        description="A text, or a list whose items are texts or, for a pair head such as nli, "
        f"two-item lists [text, text_pair]; at most {MAX_INPUTS} inputs and {MAX_INPUT_TOKENS} "
        "tokens an input (special tokens included).",
        examples=["A wonderful film."],
    )
    truncate_prompt_tokens: Truncate = Field(
        None,
        description="vLLM's option: cut each input to this many tokens (-1: the model's maximum), as "
        f"the page does, instead of refusing inputs over {MAX_INPUT_TOKENS} tokens.",
    )
    user: str | None = Field(None, description="Accepted for compatibility and ignored.")
    raw_scores: bool = Field(False, description="TEI's flag: probs and scores are the logits, unnormalised.")


class LabelScore(BaseModel):
    label: str = Field(description="A class name.")
    score: float = Field(description="Its probability (its logit with raw_scores).")


class ClassifyData(BaseModel):
    index: int = Field(description="The input's position in the request.")
    label: str = Field(description="The most probable class.")
    probs: list[float] = Field(description="Each class's probability (logit: raw_scores), in label-id order.")
    num_classes: int = Field(description="How many classes the head has.")
    labels: list[LabelScore] = Field(description="Every class with its probability, highest first.")


class ClassifyResponse(Warned):
    id: str = Field(description="A unique id for this response.")
    object: Literal["list"] = Field("list", description='Always "list".')
    created: int = Field(description="Unix time of the response.")
    model: str = Field(description="The checkpoint id of the head.")
    data: list[ClassifyData] = Field(description="One result per input, in input order.")
    usage: Usage = Field(description="Tokens read.")


# ---- detect, tag, answer ------------------------------------------------------------------
TextInputs = Text | Annotated[list[Text], Field(min_length=1, max_length=MAX_INPUTS)]


class DetectRequest(Request):
    model: str = Field(
        "discriminator",
        description="The discriminator (its slot name or checkpoint id), or the id of "
        f"{AD.origin} ({AD.prefix}...; taken, though never listed).",
    )
    input: TextInputs = Field(
        description=f"A text or a list of texts (at most {MAX_INPUTS}, {config.MAX_TEXT_CHARS:,} characters "
        "each); long texts are scored in overlapping windows, as on the page.",
        examples=["I drank a cup of hot keyboard this morning."],
    )
    threshold: float = Field(
        config.DEFAULT_THRESHOLD, ge=0.0, le=1.0, description="Replaced above this probability."
    )


class TagRequest(Request):
    model: str = Field(
        "ner", description="The tagger: ner (slot name or checkpoint id), or a Fine-tune tab tagger's id."
    )
    input: TextInputs = Field(
        description=f"A text or a list of texts (at most {MAX_INPUTS}, {config.MAX_TEXT_CHARS:,} characters "
        "each); long texts are tagged in overlapping windows, as on the page.",
        examples=["Marie Curie worked in Paris."],
    )
    aggregation: Literal["none", "simple", "first", "average", "max"] = Field(
        config.DEFAULT_AGGREGATION,
        description="How word pieces merge into entities (transformers' token-classification strategies).",
    )


class QAInput(Request):
    question: str = Field(
        min_length=1,
        max_length=config.MAX_QUESTION_CHARS,
        description=f"The question (at most {config.QA_MAX_QUESTION_LEN} tokens).",
    )
    context: str = Field(
        min_length=1,
        max_length=config.MAX_CONTEXT_CHARS,
        description=f"The text to search (at most {config.MAX_CONTEXT_CHARS:,} characters); every "
        "window of it is read.",
    )


class AnswerRequest(Request):
    model: str = Field(
        "qa", description="The reader: qa (slot name or checkpoint id), or a Fine-tune tab reader's id."
    )
    input: QAInput | Annotated[list[QAInput], Field(min_length=1, max_length=MAX_INPUTS)] = Field(
        description=f"A {{question, context}} object or a list of them (at most {MAX_INPUTS}).",
        examples=[{"question": "Where did Marie Curie work?", "context": "Marie Curie worked in Paris."}],
    )
    top_k: int = Field(
        config.QA_TOP_K, ge=1, le=config.QA_MAX_TOP_K, description="How many candidate answers to return."
    )
    max_answer_len: int = Field(
        config.QA_MAX_ANSWER_LEN, ge=1, le=512, description="The longest answer considered, in tokens."
    )
    handle_impossible_answer: bool = Field(True, description='Whether "no answer" may win, as in SQuAD 2.0.')
    max_seq_len: int | None = Field(
        None,
        ge=32,
        le=config.MODEL_MAX_TOKENS,
        description=f"Window size in tokens, question included (default {config.QA_MAX_SEQ_LEN}, or the "
        "model's maximum when smaller).",
    )
    doc_stride: int | None = Field(
        None,
        ge=0,
        le=config.MODEL_MAX_TOKENS,
        description=f"Tokens shared by neighbouring windows (default {config.QA_DOC_STRIDE}, or half "
        "the window when smaller); must be smaller than the room left for the context.",
    )


class Span(BaseModel):
    text: str = Field(description="The input's own characters, input[start:end].")
    start: int = Field(description="Start offset in the input (characters).")
    end: int = Field(description="End offset in the input (characters).")
    probability: float = Field(description="P(replaced); for a word, the highest of its pieces.")
    replaced: bool = Field(description="probability > threshold.")


class DetectData(BaseModel):
    index: int = Field(description="The input's position in the request.")
    tokens: list[Span] = Field(description="Every WordPiece token ([CLS]/[SEP] left out).")
    words: list[Span] = Field(description="Every word.")
    threshold: float = Field(description="The threshold used.")


class EntityOut(BaseModel):
    text: str = Field(description="The input's own characters, input[start:end].")
    label: str = Field(description="The entity type (PER, ORG, LOC, MISC; B-/I- tags with aggregation none).")
    score: float = Field(description="The model's confidence.")
    start: int = Field(description="Start offset in the input (characters).")
    end: int = Field(description="End offset in the input (characters).")


class TagData(BaseModel):
    index: int = Field(description="The input's position in the request.")
    entities: list[EntityOut] = Field(description="The entities, in text order.")


class AnswerOut(BaseModel):
    text: str = Field(description="context[start:end]; empty for the no-answer.")
    score: float = Field(description="p_start x p_end (summed over equal answers).")
    start: int = Field(description="Start offset in the context (0 for the no-answer).")
    end: int = Field(description="End offset in the context (0 for the no-answer).")


class AnswerData(BaseModel):
    index: int = Field(description="The input's position in the request.")
    answers: list[AnswerOut] = Field(description="The top candidates, best first.")
    no_answer: bool = Field(description="Whether the empty answer won.")
    settings: dict[str, Any] = Field(
        description="The settings used: top_k, max_answer_len, doc_stride, max_seq_len, "
        "max_question_len, handle_impossible_answer."
    )


class TaskResponse(Warned):
    object: Literal["list"] = Field("list", description='Always "list".')
    model: str = Field(description="The checkpoint id that answered.")
    usage: Usage = Field(description="Tokens read.")


class DetectResponse(TaskResponse):
    data: list[DetectData] = Field(description="The page's /detect JSON per input, with its index.")


class TagResponse(TaskResponse):
    data: list[TagData] = Field(description="The page's /tag JSON per input, with its index.")


class AnswerResponse(TaskResponse):
    data: list[AnswerData] = Field(description="The page's /answer JSON per input, with its index.")


# ---- explain ------------------------------------------------------------------------------
class ExplainRequest(Request):
    task: str = Field(
        description="What to explain: sentiment, emotion, nli (text = premise, text_pair = hypothesis), "
        "detect, qa (text = question, text_pair = context), rerank (query + passage), or the id "
        f"({FT.prefix}...) of a classifier or a reader (as qa) fine-tuned in the Fine-tune tab.",
        max_length=100,
        examples=["emotion"],
        # documented here, checked by the task (whose message lists the tasks)
        json_schema_extra={"pattern": EXPLAINED},
    )
    text: str = Field(
        min_length=1,
        max_length=config.MAX_TEXT_CHARS,
        description=f"The text (for qa the question, at most {config.MAX_QUESTION_CHARS:,} characters); past "
        "the model's 512 tokens the first window is explained.",
        examples=["I can't believe they threw me a surprise party!"],
    )
    text_pair: str = Field(
        "",
        max_length=config.MAX_CONTEXT_CHARS,
        description=f"The hypothesis for nli, the context for qa (at most {config.MAX_CONTEXT_CHARS:,} "
        "characters); empty otherwise.",
    )
    target: str = Field(
        "",
        max_length=1_000,
        description="What to explain; empty: the model's own pick. A label for a classification head, a "
        "piece of the text for detect (its first token), a piece of the context for qa (default: the "
        "best answer of /v1/answer with its defaults).",
    )
    method: Literal["gradient_x_input", "integrated_gradients"] = Field(
        "gradient_x_input",
        description="gradient_x_input: sum over d of e * df/de at the word-embedding output; "
        "integrated_gradients: Captum's LayerIntegratedGradients from a baseline of [PAD] for every "
        "non-special token ([CLS]/[SEP] kept).",
    )
    steps: int = Field(32, ge=1, le=256, description="Integrated-gradients steps (Gauss-Legendre).")


class Attribution(BaseModel):
    text: str = Field(description="source[start:end], where source is the segment's own text.")
    start: int = Field(description="Start offset in the segment's text (characters).")
    end: int = Field(description="End offset in the segment's text (characters).")
    segment: int = Field(description="0: text, 1: text_pair.")
    attribution: float = Field(description="Signed: positive pushes the explained logit up.")


class ExplainResponse(Warned):
    task: str = Field(description="The task explained.")
    model: str = Field(description="The checkpoint id whose PyTorch weights were differentiated.")
    method: str = Field(description="gradient_x_input or integrated_gradients.")
    steps: int | None = Field(description="Integrated-gradients steps; null for gradient x input.")
    target: dict[str, Any] = Field(
        description='The output explained: {"label"} for a classification head, {"text", "start", "end"} '
        "for detect (a token of the text) and qa (the span, offsets in the context)."
    )
    score: float = Field(description="f(input): the target's logit (qa: start logit + end logit).")
    baseline_score: float | None = Field(description="f(baseline); null for gradient x input.")
    delta: float | None = Field(
        description="sum(attributions) - (score - baseline_score), Captum's convergence delta; null for "
        "gradient x input."
    )
    truncated: bool = Field(description="Whether part of the input lies outside the explained window.")
    tokens: list[Attribution] = Field(description="Every non-special token of the window, in input order.")
    words: list[Attribution] = Field(description="Words: their tokens' attributions summed.")
