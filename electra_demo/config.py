"""The model registry and the demo's limits: data only, no torch, no gradio.

Every model the demo runs has a *slot* here. A slot names its default Hub checkpoint and the
facts its model card reports; the operator can point any slot at a local directory or another
Hub id with the environment variable ``ELECTRA_DEMO_<SLOT>`` (and pin a revision with
``ELECTRA_DEMO_<SLOT>_REVISION``) without touching code. Model ids come only from here and from
the operator's environment, never from a request.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, overload

ENV_PREFIX = "ELECTRA_DEMO_"


# ---- Numeric settings ----------------------------------------------------------------------
class SettingError(ValueError):
    """A setting in the environment is wrong; the message names the variable, what it takes and
    what it got (one shape for every numeric setting, wherever it is read)."""


def _parse(raw: str, whole: bool) -> float | None:
    """``raw`` as a number (an int when ``whole``, else a float), or None when it is not one."""
    try:
        value = int(raw) if whole else float(raw)
    except ValueError:
        try:
            value = float(raw)  # a whole number may be written "3.0" or "1e3"
        except ValueError:
            return None
        return int(value) if math.isfinite(value) and value.is_integer() else None
    return value


def _expected(whole: bool, low: float | None, above: float | None) -> str:
    """What a setting takes, in words: "a whole number, at least 1", "a number above 0", ..."""
    kind = "a whole number" if whole else "a number"
    if low is not None:
        return f"{kind}, at least {low:g}"
    if above is not None:
        return f"{kind} above {above:g}"
    return kind


@overload
def env_number(
    environ: Mapping[str, str],
    name: str,
    default: int,
    *,
    low: float | None = None,
    above: float | None = None,
    whole: Literal[True],
) -> int: ...
@overload
def env_number(
    environ: Mapping[str, str],
    name: str,
    default: float,
    *,
    low: float | None = None,
    above: float | None = None,
    whole: Literal[False] = False,
) -> float: ...
def env_number(
    environ: Mapping[str, str],
    name: str,
    default: float,
    *,
    low: float | None = None,
    above: float | None = None,
    whole: bool = False,
) -> float:
    """The number in ``environ[name]`` (``default`` when unset or blank), at least ``low`` and
    more than ``above`` where given; a whole number (an int) when ``whole``.

    Raises :class:`SettingError` ("ELECTRA_DEMO_FT_MAX must be a whole number above 0; got '0'.")
    for anything else. ``inf`` is a number (a time limit that never ends); ``nan`` is not.
    """
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    value = _parse(raw, whole)
    if value is None or not (low is None or value >= low) or not (above is None or value > above):
        raise SettingError(f"{name} must be {_expected(whole, low, above)}; got {raw[:40]!r}.")
    return value


@dataclass(frozen=True)
class Slot:
    """One model the demo can run, as its default checkpoint describes it."""

    name: str
    hub_id: str
    task: str
    display_name: str
    license: str
    architecture: str  # the transformers Auto class family the service loads it with
    revision: str | None = None
    labels: tuple[str, ...] = ()
    reported: str = ""  # the figure the checkpoint's card (or the paper) reports
    pair: bool = False  # sequence-pair head (text + text_pair)
    kind: str = ""  # a visitor's trained model: its kind (trained.kinds.KINDS key); "" for the registry's

    @property
    def link(self) -> str:
        return f"https://huggingface.co/{self.hub_id}"

    @property
    def env_var(self) -> str:
        return ENV_PREFIX + self.name.upper()


REGISTRY: dict[str, Slot] = {
    slot.name: slot
    for slot in (
        Slot(
            name="discriminator",
            hub_id="google/electra-base-discriminator",
            task="replaced-token detection",
            display_name="ELECTRA-Base discriminator",
            license="apache-2.0",
            architecture="pretraining",
            labels=("original", "replaced"),
            reported=(
                "GLUE dev 85.1 average for ELECTRA-Base in the paper; released Base: SST-2 95.1, MNLI 88.8"
            ),
        ),
        Slot(
            name="generator",
            hub_id="google/electra-base-generator",
            task="masked language modelling (ELECTRA's generator)",
            display_name="ELECTRA-Base generator",
            license="apache-2.0",
            architecture="masked-lm",
            reported="none: the generator is a training aid; its card reports no benchmark",
        ),
        Slot(
            name="sentiment",
            hub_id="TehranNLP-org/electra-base-sst2",
            task="sentiment (SST-2)",
            display_name="Sentiment (SST-2)",
            license="see the model card",
            architecture="sequence-classification",
            labels=("negative", "positive"),
            reported="SST-2 dev accuracy 95.07",
        ),
        Slot(
            name="emotion",
            hub_id="bhadresh-savani/electra-base-emotion",
            task="emotion",
            display_name="Emotion",
            license="apache-2.0",
            architecture="sequence-classification",
            labels=("sadness", "joy", "love", "anger", "fear", "surprise"),
            reported="emotion test accuracy 92.65",
        ),
        Slot(
            name="nli",
            hub_id="TehranNLP-org/electra-base-mnli",
            task="natural language inference (MNLI, sentence pair)",
            display_name="NLI (MNLI: premise + hypothesis)",
            license="see the model card",
            architecture="sequence-classification",
            labels=("entailment", "neutral", "contradiction"),
            reported="MNLI accuracy 88.79",
            pair=True,
        ),
        Slot(
            name="ner",
            hub_id="bhadresh-savani/electra-base-discriminator-finetuned-conll03-english",
            task="named entities (CoNLL-03)",
            display_name="Entities (CoNLL-03)",
            license="apache-2.0",
            architecture="token-classification",
            labels=("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"),
            reported="CoNLL-03 test F1 94.8",
        ),
        Slot(
            name="qa",
            hub_id="deepset/electra-base-squad2",
            task="extractive question answering (SQuAD 2.0)",
            display_name="Question answering (SQuAD 2.0)",
            license="cc-by-4.0",
            architecture="question-answering",
            reported="SQuAD 2.0 dev EM 77.3 / F1 81.35 (trained with max_seq_len 384, doc_stride 128)",
        ),
        Slot(
            name="rerank",
            hub_id="cross-encoder/ms-marco-electra-base",
            task="passage reranking (MS MARCO cross-encoder: query + passage, one relevance logit)",
            display_name="Reranker (MS MARCO cross-encoder)",
            license="apache-2.0",
            architecture="sequence-classification",
            labels=("relevance",),
            reported="MS MARCO dev MRR@10 36.41, TREC DL 2019 NDCG@10 71.99",
            pair=True,
        ),
    )
}

# architecture -> the transformers Auto class that loads it; "feature-extraction" is any slot's
# encoder alone (the checkpoint's head weights are left out), for embeddings
AUTO_CLASSES: dict[str, str] = {
    "pretraining": "AutoModelForPreTraining",
    "masked-lm": "AutoModelForMaskedLM",
    "sequence-classification": "AutoModelForSequenceClassification",
    "token-classification": "AutoModelForTokenClassification",
    "question-answering": "AutoModelForQuestionAnswering",
    "feature-extraction": "AutoModel",
}
ENCODER = "feature-extraction"

RERANK = "rerank"  # the cross-encoder: a sequence-classification slot, but not a /classify head
CLASSIFY_HEADS = tuple(
    n for n, s in REGISTRY.items() if s.architecture == "sequence-classification" and n != RERANK
)
AGGREGATIONS = ("none", "simple", "first", "average", "max")
DEFAULT_AGGREGATION = "simple"


@dataclass(frozen=True)
class ResolvedSlot:
    """A slot together with where this process will load it from."""

    slot: Slot
    source: str  # a Hub id or a local directory
    revision: str | None
    overridden: bool
    local: bool = field(default=False)

    @property
    def name(self) -> str:
        return self.slot.name

    @property
    def link(self) -> str | None:
        if self.local:
            return None
        return f"https://huggingface.co/{self.source}"


def looks_local(source: str) -> bool:
    """A source is a local directory when it exists or is written as a path, not an id."""
    return (
        Path(source).expanduser().exists()
        or source.startswith(("/", "./", "../", "~"))
        or os.sep + os.sep in source
        or source.count("/") > 1
    )


def resolve(name: str, environ: Mapping[str, str] | None = None) -> ResolvedSlot:
    """Where to load slot ``name`` from, honouring ``ELECTRA_DEMO_<SLOT>`` overrides."""
    if name not in REGISTRY:
        known = ", ".join(sorted(REGISTRY))
        raise KeyError(f"unknown model slot {name!r}; expected one of: {known}")
    slot = REGISTRY[name]
    env = os.environ if environ is None else environ
    override = env.get(slot.env_var, "").strip()
    source = override or slot.hub_id
    revision = env.get(slot.env_var + "_REVISION", "").strip() or (None if override else slot.revision)
    local = looks_local(source)
    if local:
        source = str(Path(source).expanduser())
    return ResolvedSlot(slot=slot, source=source, revision=revision, overridden=bool(override), local=local)


def precision_setting(environ: Mapping[str, str]) -> str:
    """``ELECTRA_DEMO_PRECISION``: auto (blank), fp32, bf16 or int8 (runtime/precision.py decides
    auto). ``ELECTRA_DEMO_INT8=1``, the older switch, still means int8, whatever else is set."""
    raw = environ.get("ELECTRA_DEMO_PRECISION", "").strip()
    asked = raw.lower() or "auto"
    if asked not in ("auto", "fp32", "bf16", "int8"):
        raise SettingError(f"ELECTRA_DEMO_PRECISION must be auto, fp32, bf16 or int8; got {raw[:40]!r}.")
    int8 = environ.get("ELECTRA_DEMO_INT8", "").strip().lower() in ("1", "true", "yes", "on")
    if int8 and asked not in ("auto", "int8"):
        logging.getLogger(__name__).warning("ELECTRA_DEMO_INT8=1 wins over ELECTRA_DEMO_PRECISION=%s", asked)
    return "int8" if int8 else asked


@dataclass(frozen=True)
class BackendChoice:
    backend: str  # "auto", "torch" or "onnx"
    precision: str  # as asked: auto, fp32, bf16 or int8
    cache_dir: Path

    @property
    def int8(self) -> bool:
        return self.precision == "int8"

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> BackendChoice:
        backend = environ.get("ELECTRA_DEMO_BACKEND", "auto").strip().lower() or "auto"
        if backend not in ("auto", "torch", "onnx"):
            raise ValueError(f"ELECTRA_DEMO_BACKEND must be auto, torch or onnx; got {backend!r}")
        cache = Path(environ.get("ELECTRA_DEMO_CACHE", "") or app_dir(environ) / "onnx").expanduser()
        return cls(backend=backend, precision=precision_setting(environ), cache_dir=cache)


# ---- Persistent storage ----------------------------------------------------------------------
# A Space with persistent storage mounts it at /data; what the app builds (ONNX exports, fine-tuned
# models, the Hugging Face download cache) goes there by default, so a restart finds it again.
DATA_DIR_VAR = ENV_PREFIX + "DATA_DIR"  # where to look instead of /data (tests point it at a folder)
DEFAULT_DATA_DIR = "/data"


def data_dir(environ: Mapping[str, str]) -> Path | None:
    """The persistent storage folder when it exists and is writable, else None."""
    path = Path(environ.get(DATA_DIR_VAR, "").strip() or DEFAULT_DATA_DIR).expanduser()
    return path if path.is_dir() and os.access(path, os.W_OK | os.X_OK) else None


def app_dir(environ: Mapping[str, str]) -> Path:
    """The app's own default folder: ``<data>/electra-demo`` on persistent storage, else
    ``~/.cache/electra-demo``. The export cache is ``onnx/`` under it (``ELECTRA_DEMO_CACHE``
    overrides), and the fine-tuned models and example outputs live beside the export cache."""
    data = data_dir(environ)
    return data / "electra-demo" if data else Path(os.path.expanduser("~/.cache/electra-demo"))


def persist_defaults(environ: MutableMapping[str, str]) -> None:
    """Point ``HF_HOME`` at persistent storage unless it is set (call it before anything imports
    huggingface_hub, which reads it once)."""
    data = data_dir(environ)
    if data is not None and not environ.get("HF_HOME", "").strip():
        environ["HF_HOME"] = str(data / ".huggingface")


def storage_lines(environ: Mapping[str, str]) -> list[str]:
    """Where everything the app builds goes, for the start-up log."""
    data = data_dir(environ)
    cache = BackendChoice.from_environ(environ).cache_dir
    hf_home = environ.get("HF_HOME", "").strip() or "~/.cache/huggingface (default)"
    where = f"persistent storage {data} found" if data else "no persistent storage (/data) found"
    return [
        f"{where}: ONNX exports in {cache}, fine-tuned models in {cache.parent / 'finetuned'}, "
        f"Hugging Face cache in {hf_home}"
    ]


# The warm-up's order: the default tab's slot first, then each tab's default model in page order
# (Corrupt & detect's generator, Classify's first head, Entities, QA, Rerank), then Classify's
# other heads.
WARMUP_ORDER = ("discriminator", "generator", "sentiment", "ner", "qa", "rerank", "emotion", "nli")


def preload_slots(environ: Mapping[str, str]) -> tuple[str, ...]:
    """The slots ``ELECTRA_DEMO_PRELOAD`` asks the server to load at start, in :data:`WARMUP_ORDER`.
    Unset, ``1``/``on``/``all``: every slot; ``0``/``off``: none; or a comma-separated list."""
    raw = environ.get(ENV_PREFIX + "PRELOAD", "").strip().lower()
    if raw in ("", "1", "on", "true", "yes", "all"):
        return WARMUP_ORDER
    if raw in ("0", "off", "false", "no", "none"):
        return ()
    names = [name.strip() for name in raw.split(",") if name.strip()]
    unknown = [name for name in names if name not in REGISTRY]
    if unknown:
        raise ValueError(
            f"ELECTRA_DEMO_PRELOAD must be 1, 0 or a comma-separated list of slots "
            f"({', '.join(REGISTRY)}); got unknown {', '.join(map(repr, unknown))}"
        )
    return tuple(name for name in WARMUP_ORDER if name in names)


# ---- Limits -------------------------------------------------------------------------------
MAX_TEXT_CHARS = 20_000  # characters accepted per text box
MAX_CONTEXT_CHARS = 50_000  # a question-answering context (about 10,000 tokens)
MAX_QUESTION_CHARS = 1_000
MODEL_MAX_TOKENS = 512  # ELECTRA-Base's position embeddings
WINDOW_STRIDE = 128  # tokens shared by neighbouring windows on long texts
DEFAULT_THRESHOLD = 0.5
DEFAULT_FRACTION = 0.15
DEFAULT_SEED = 0

# Serving: requests run concurrently up to this limit (the micro-batcher then merges the
# model calls), and at most QUEUE_MAX_SIZE wait; beyond that, "busy, try again".
CONCURRENCY = env_number(os.environ, "ELECTRA_DEMO_CONCURRENCY", 8, whole=True)
QUEUE_MAX_SIZE = env_number(os.environ, "ELECTRA_DEMO_QUEUE_SIZE", 64, whole=True)

# Question answering, as transformers 4.x's question-answering pipeline defined its defaults
QA_TOP_K = 3
QA_MAX_ANSWER_LEN = 15
QA_MAX_SEQ_LEN = 384
QA_DOC_STRIDE = 128
QA_MAX_QUESTION_LEN = 64  # tokens; a longer question is refused with a message
QA_MAX_TOP_K = 20

# Reranking: one query and at most this many documents a request; each (query, document) pair is
# cut to the model's length on the document side only, so the query must leave room for it
RERANK_MAX_DOCUMENTS = 1_000
RERANK_MAX_QUERY_TOKENS = 256
