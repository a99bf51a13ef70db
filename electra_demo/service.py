"""The model service: loads each registry slot once, on first use, and runs it.

Each task is one method, kept in three steps as transformers' pipelines do: preprocess (pure,
in :mod:`electra_demo.processing`), one small model call (a backend runner from
:mod:`electra_demo.backends` behind a :class:`~electra_demo.batching.MicroBatcher`, where the device,
``inference_mode`` and ZeroGPU are handled), and postprocess (pure again). Tests and benchmarks
swap checkpoints through the registry's environment variables, or subclass and override
:meth:`ModelService._load_checkpoint`.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import config, qa
from .batching import MicroBatcher
from .config import BackendChoice, ResolvedSlot
from .lazy import lazy_module
from .processing import (
    InputError,
    Span,
    apply_replacements,
    best_windows,
    check_choice,
    check_int,
    check_probability,
    check_seed,
    check_text,
    choose_words,
    join_wordpieces,
    label_names,
    maskable_words,
    match_case,
    merge_words,
    overlaps,
    plan_windows,
    precision_recall_f1,
    roc_auc,
    token_spans,
    word_groups,
)

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase, TokenClassificationPipeline
else:  # imported on first use, so the page is up before torch and transformers are
    torch = lazy_module("torch")
    transformers = lazy_module("transformers")

log = logging.getLogger(__name__)

SAMPLE_CHUNK_TOKENS = 256  # masked tokens whose vocabulary-wide logits are held at once
RANDOM_WEIGHTS_MARK = "electra_demo_random_weights"  # set in config.json by electra_demo.tiny

AUTO_CLASSES: dict[str, str] = {  # architecture -> transformers Auto class
    "pretraining": "AutoModelForPreTraining",
    "masked-lm": "AutoModelForMaskedLM",
    "sequence-classification": "AutoModelForSequenceClassification",
    "token-classification": "AutoModelForTokenClassification",
    "question-answering": "AutoModelForQuestionAnswering",
}


class ModelUnavailable(RuntimeError):
    """A slot could not be loaded; the message says which, from where, and how to fix it."""


@dataclass
class LoadedModel:
    resolved: ResolvedSlot
    model: torch.nn.Module
    tokenizer: PreTrainedTokenizerBase
    device: torch.device
    max_tokens: int
    random_weights: bool
    labels: list[str] = field(default_factory=list)  # id order; registry names for LABEL_n
    batcher: MicroBatcher | None = field(default=None, repr=False)
    backend: str = "PyTorch"
    _pipeline: TokenClassificationPipeline | None = field(default=None, repr=False)

    @property
    def special_ids(self) -> list[int]:
        return sorted(set(self.tokenizer.all_special_ids))

    @property
    def multi_label(self) -> bool:
        config_ = self.model.config
        return config_.problem_type == "multi_label_classification" or config_.num_labels == 1

    def token_pipeline(self) -> TokenClassificationPipeline:
        """transformers' own token-classification pipeline on this model, for its aggregation."""
        if self._pipeline is None:
            self._pipeline = transformers.TokenClassificationPipeline(
                model=self.model, tokenizer=self.tokenizer, device=self.device
            )
        return self._pipeline


@dataclass
class DetectResult:
    text: str
    threshold: float
    tokens: list[Span]
    words: list[Span]
    model: LoadedModel = field(repr=False)

    def to_json(self) -> dict:
        return {
            "tokens": [t.to_json() for t in self.tokens],
            "words": [w.to_json() for w in self.words],
            "threshold": self.threshold,
        }


@dataclass
class ClassifyResult:
    head: str
    labels: list[tuple[str, float]]  # highest first
    truncated: bool
    model: LoadedModel = field(repr=False)

    def to_json(self) -> dict:
        return {
            "head": self.head,
            "model": self.model.resolved.source,
            "labels": [{"label": label, "score": score} for label, score in self.labels],
            "truncated": self.truncated,
        }


@dataclass(frozen=True)
class Entity:
    text: str
    label: str
    score: float
    start: int
    end: int


@dataclass
class TagResult:
    text: str
    aggregation: str
    entities: list[Entity]
    model: LoadedModel = field(repr=False)

    def to_json(self) -> dict:
        return {"entities": [asdict(e) for e in self.entities]}


@dataclass
class AnswerResult:
    question: str
    context: str
    answers: list[qa.Candidate]  # the top k, best first; may hold the empty (no) answer
    best_span: qa.Candidate | None  # the best non-empty span, even when "no answer" wins
    null_score: float | None  # the no-answer score, when no answer is allowed
    settings: dict[str, Any]
    windows: int
    model: LoadedModel = field(repr=False)

    @property
    def no_answer(self) -> bool:
        return not self.answers or self.answers[0].empty

    def to_json(self) -> dict:
        return {
            "answers": [
                {"text": a.text, "score": a.score, "start": a.start, "end": a.end} for a in self.answers
            ],
            "no_answer": self.no_answer,
            "settings": self.settings,
        }


@dataclass(frozen=True)
class Replacement:
    start: int  # in the corrupted text
    end: int
    original: str
    replacement: str
    original_start: int  # in the original text
    original_end: int


@dataclass
class CorruptResult:
    original: str
    corrupted: str
    fraction: float
    seed: int
    replacements: list[Replacement]
    unchanged: list[tuple[int, int]]  # words whose sample equalled the original (original text)
    detection: DetectResult
    truth: list[bool]  # per token of the corrupted text: inside a replacement
    metrics: dict[str, float | None]
    generator: LoadedModel = field(repr=False)

    def to_json(self) -> dict:
        return {
            "original": self.original,
            "corrupted": self.corrupted,
            "replacements": [
                {"start": r.start, "end": r.end, "original": r.original, "replacement": r.replacement}
                for r in self.replacements
            ],
            "tokens": [t.to_json() for t in self.detection.tokens],
            "metrics": self.metrics,
        }


def pick_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class ModelService:
    """Loads registry slots lazily (once, even under concurrent first requests) and runs them."""

    def __init__(self, environ: Mapping[str, str] | None = None, device: str | None = None):
        self._environ = environ
        self._device_name = device
        self._models: dict[str, LoadedModel] = {}
        self._errors: dict[str, str] = {}
        self._loading: set[str] = set()
        self._locks = {name: threading.Lock() for name in config.REGISTRY}
        self.backend_choice = BackendChoice.from_environ(os.environ if environ is None else environ)
        # ZeroGPU lends the GPU to the request's own thread: no batching worker there
        self.batching = not os.environ.get("SPACES_ZERO_GPU")

    @functools.cached_property
    def device(self) -> torch.device:
        """CUDA when present, else the CPU; decided on first load (importing torch then)."""
        return torch.device(self._device_name) if self._device_name else pick_device()

    # ---- loading -------------------------------------------------------------------------
    def resolve(self, name: str) -> ResolvedSlot:
        return config.resolve(name, self._environ)

    def status(self) -> dict[str, str]:
        """Each slot's state: not loaded, loading, loaded, or failed (with the reason)."""
        out = {}
        for name in config.REGISTRY:
            if name in self._models:
                out[name] = "loaded"
            elif name in self._loading:
                out[name] = "loading"
            elif name in self._errors:
                out[name] = "failed: " + self._errors[name]
            else:
                out[name] = "not loaded"
        return out

    def fingerprint(self) -> str:
        """Identifies what this service would run: every slot's source and the backend."""
        import hashlib

        parts = [(n, self.resolve(n).source, self.resolve(n).revision) for n in config.REGISTRY]
        parts.append(("backend", self.backend_choice.backend, self.backend_choice.int8))
        return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]

    def examples_cache_dir(self) -> Path:
        """Where Gradio caches example outputs for exactly these checkpoints."""
        return self.backend_choice.cache_dir.parent / "examples" / self.fingerprint()

    def is_loaded(self, name: str) -> bool:
        return name in self._models

    def load(self, name: str) -> LoadedModel:
        loaded = self._models.get(name)
        if loaded is not None:
            return loaded
        with self._locks[name]:
            loaded = self._models.get(name)
            if loaded is None:
                resolved = self.resolve(name)
                self._loading.add(name)
                try:
                    loaded = self._load_checkpoint(resolved)
                except ModelUnavailable as error:
                    self._errors[name] = str(error)
                    raise
                finally:
                    self._loading.discard(name)
                self._errors.pop(name, None)
                self._models[name] = loaded
                log.info("loaded %s from %s on %s", name, resolved.source, self.device)
        return loaded

    def _load_checkpoint(self, resolved: ResolvedSlot) -> LoadedModel:
        """Load one slot's model and tokenizer; override this to load something else."""
        source, slot = resolved.source, resolved.slot
        if resolved.local and not (Path(source) / "config.json").is_file():
            reason = (
                "that directory does not exist"
                if not Path(source).exists()
                else "that directory has no config.json"
            )
            raise ModelUnavailable(self._unavailable(resolved, reason))
        kwargs: dict[str, Any] = {"revision": resolved.revision, "trust_remote_code": False}
        try:
            tokenizer = transformers.AutoTokenizer.from_pretrained(source, **kwargs)
            model, info = getattr(transformers, AUTO_CLASSES[slot.architecture]).from_pretrained(
                source, use_safetensors=True, output_loading_info=True, **kwargs
            )
        except Exception as error:
            reason = f"{type(error).__name__}: {str(error).strip().splitlines()[0][:300]}"
            raise ModelUnavailable(self._unavailable(resolved, reason)) from error
        if not tokenizer.is_fast:
            raise ModelUnavailable(self._unavailable(resolved, "it has no fast tokenizer"))
        missing = list(info.get("missing_keys", []))
        if missing:
            reason = (
                f"its weights do not fit a {slot.task} model ({len(missing)} weights would be "
                f"newly initialised, e.g. {missing[0]}): wrong checkpoint for this slot"
            )
            raise ModelUnavailable(self._unavailable(resolved, reason))
        if self.device.type == "cuda":
            model = model.half()
        model.to(self.device).eval()
        id2label = getattr(model.config, "id2label", None) or {}
        labels = label_names(
            [str(id2label[i]) for i in sorted(id2label)], slot.labels if not resolved.overridden else ()
        )
        from .backends import make_runner  # imports spaces, then torch

        runner, backend = make_runner(
            model, slot.architecture, source, resolved.revision, self.backend_choice
        )
        log.info("%s runs on %s", slot.name, backend)
        batcher = MicroBatcher(
            runner,
            per_token=slot.architecture != "sequence-classification",
            pad_id=tokenizer.pad_token_id or 0,
            max_rows=2 if slot.architecture == "masked-lm" else 8,  # vocabulary-wide outputs are big
            enabled=self.batching,
        )
        if id2label and labels != [str(id2label[i]) for i in sorted(id2label)]:
            # LABEL_n-style names: give the config the registry's, so every consumer (our code
            # and transformers' pipelines alike) reports the real ones
            model.config.id2label = dict(enumerate(labels))
            model.config.label2id = {label: i for i, label in enumerate(labels)}
        loaded = LoadedModel(
            resolved=resolved,
            model=model,
            tokenizer=tokenizer,
            device=self.device,
            max_tokens=int(getattr(model.config, "max_position_embeddings", config.MODEL_MAX_TOKENS)),
            random_weights=bool(getattr(model.config, RANDOM_WEIGHTS_MARK, False)),
            labels=labels,
            batcher=batcher,
            backend=backend,
        )
        if not getattr(runner, "uses_torch_model", True):
            # ONNX Runtime holds the weights now: free PyTorch's copy (config and tokenizer stay).
            # The token pipeline is built first; we only use its postprocess, which needs no weights.
            if slot.architecture == "token-classification":
                loaded.token_pipeline()
            model.to("meta")
        return loaded

    @staticmethod
    def _unavailable(resolved: ResolvedSlot, reason: str) -> str:
        slot = resolved.slot
        where = "local directory" if resolved.local else "Hub id"
        return (
            f"The {slot.name} model could not be loaded from {where} '{resolved.source}' "
            f"({reason}). To fix it, set {slot.env_var} to a local directory that holds the "
            f"checkpoint (config.json, tokenizer files, model.safetensors) or to a Hub id this "
            f"machine can download, then try again: the next request reloads it."
        )

    # ---- shared steps ----------------------------------------------------------------------
    @staticmethod
    def _encode(loaded: LoadedModel, text: str):
        """Tokenize without special tokens or truncation; windows add [CLS]/[SEP] later."""
        encoding = loaded.tokenizer(
            text,
            add_special_tokens=False,
            return_offsets_mapping=True,
            verbose=False,
            split_special_tokens=True,
        )
        return encoding["input_ids"], encoding["offset_mapping"], encoding.word_ids()

    def _token_logits(
        self, loaded: LoadedModel, ids: Sequence[int], positions: Sequence[int] | None = None
    ) -> dict[int, np.ndarray]:
        """Each wanted token's logits, from the window where it has the most context.

        Texts longer than the model are covered by overlapping windows, each wrapped in
        [CLS] ... [SEP] exactly as the tokenizer would wrap a single text.
        """
        size = loaded.max_tokens - 2
        windows = plan_windows(len(ids), size, stride=min(config.WINDOW_STRIDE, size // 2))
        best = best_windows(len(ids), windows)
        wanted = range(len(ids)) if positions is None else positions
        by_window: dict[int, list[int]] = {}
        for i in wanted:
            by_window.setdefault(best[i], []).append(i)
        needed = sorted(by_window)
        tok = loaded.tokenizer
        rows = []
        for w in needed:
            piece = [tok.cls_token_id, *ids[slice(*windows[w])], tok.sep_token_id]
            rows.append((piece, [0] * len(piece)))
        outputs = loaded.batcher.run(rows)
        out: dict[int, np.ndarray] = {}
        for w, output in zip(needed, outputs, strict=True):
            start = windows[w][0]
            for i in by_window[w]:
                out[i] = output["logits"][i - start + 1]
        return out

    # ---- tasks -------------------------------------------------------------------------------
    def detect(self, text: str, threshold: float = config.DEFAULT_THRESHOLD) -> DetectResult:
        """Replaced-token detection: P(replaced) for every token and word of ``text``."""
        text = check_text(text, max_chars=config.MAX_TEXT_CHARS)
        threshold = check_probability(threshold, what="threshold")
        return self._detect(text, threshold)

    def _detect(self, text: str, threshold: float) -> DetectResult:
        """Score a checked text (or one the generator made, which may outgrow the user limit)."""
        loaded = self.load("discriminator")
        ids, offsets, word_ids = self._encode(loaded, text)
        if not ids:
            raise InputError("The text has no characters the model can read (only control characters?).")
        logits = self._token_logits(loaded, ids)
        stacked = np.asarray([logits[i] for i in range(len(ids))], dtype=np.float32)
        probabilities = torch.sigmoid(torch.from_numpy(stacked)).tolist()
        tokens = token_spans(text, offsets, probabilities, threshold)
        words = merge_words(text, tokens, word_groups(word_ids), threshold)
        return DetectResult(text=text, threshold=threshold, tokens=tokens, words=words, model=loaded)

    def corrupt(
        self,
        text: str,
        fraction: float = config.DEFAULT_FRACTION,
        seed: int = config.DEFAULT_SEED,
    ) -> CorruptResult:
        """ELECTRA's training signal: mask words, let the generator sample replacements, then
        ask the discriminator which tokens of the corrupted text were replaced."""
        text = check_text(text, max_chars=config.MAX_TEXT_CHARS)
        fraction = check_probability(fraction, what="fraction of words to corrupt")
        seed = check_seed(seed)
        generator = self.load("generator")
        self.load("discriminator")  # fail before sampling if the second model is missing
        ids, offsets, word_ids = self._encode(generator, text)
        if not ids:
            raise InputError("The text has no characters the model can read (only control characters?).")
        groups = word_groups(word_ids)
        word_spans = [(offsets[g[0]][0], offsets[g[-1]][1]) for g in groups]
        chosen = choose_words(maskable_words(text, word_spans), fraction, seed)

        masked = list(ids)
        for w in chosen:
            for i in groups[w]:
                masked[i] = generator.tokenizer.mask_token_id
        sampler = torch.Generator().manual_seed(seed)
        banned = torch.tensor(generator.special_ids)
        samples: dict[int, list[int]] = {}
        # vocabulary-wide logits are big (30,522 floats a token): sample a bounded group of
        # words at a time, in order, so memory stays flat and the seed gives the same draws
        for group in _word_chunks(chosen, groups, SAMPLE_CHUNK_TOKENS):
            logits = self._token_logits(generator, masked, [i for w in group for i in groups[w]])
            for w in group:
                sampled = []
                for i in groups[w]:
                    scores = torch.from_numpy(logits[i].copy())
                    scores[banned[banned < scores.numel()]] = float("-inf")
                    probs = torch.softmax(scores, dim=-1)
                    sampled.append(int(torch.multinomial(probs, 1, generator=sampler)))
                samples[w] = sampled
            del logits

        edits: list[tuple[int, int, str]] = []
        unchanged: list[tuple[int, int]] = []
        originals: list[tuple[int, int]] = []
        for w in chosen:
            sampled = samples[w]
            start, end = word_spans[w]
            new = match_case(
                join_wordpieces(generator.tokenizer.convert_ids_to_tokens(sampled)), text[start:end]
            )
            same_ids = generator.tokenizer(new, add_special_tokens=False, split_special_tokens=True)[
                "input_ids"
            ] == [ids[i] for i in groups[w]]
            if same_ids or not new:
                unchanged.append((start, end))  # ELECTRA counts a sample equal to the original as real
            else:
                edits.append((start, end, new))
                originals.append((start, end))
        corrupted, new_spans = apply_replacements(text, edits)
        replacements = [
            Replacement(s, e, text[os_:oe], corrupted[s:e], os_, oe)
            for (s, e), (os_, oe) in zip(new_spans, originals, strict=True)
        ]
        detection = self._detect(corrupted, config.DEFAULT_THRESHOLD)
        truth = [overlaps((t.start, t.end), new_spans) for t in detection.tokens]
        precision, recall, f1 = precision_recall_f1(truth, [t.replaced for t in detection.tokens])
        auc = roc_auc(truth, [t.probability for t in detection.tokens])
        return CorruptResult(
            original=text,
            corrupted=corrupted,
            fraction=fraction,
            seed=seed,
            replacements=replacements,
            unchanged=unchanged,
            detection=detection,
            truth=truth,
            metrics={"precision": precision, "recall": recall, "f1": f1, "auc": auc},
            generator=generator,
        )

    def classify(self, head: str, text: str, text_pair: str | None = "") -> ClassifyResult:
        """Every class of a fine-tuned head with its probability, highest first."""
        head = check_choice(head, config.CLASSIFY_HEADS, what="head")
        slot = config.REGISTRY[head]
        text = check_text(text, max_chars=config.MAX_TEXT_CHARS)
        pair = text_pair if isinstance(text_pair, str) and text_pair.strip() else None
        if slot.pair and pair is None:
            raise InputError(f"The {head} head compares two texts: please give the second one (text_pair).")
        if not slot.pair and pair is not None:
            pairs = ", ".join(n for n in config.CLASSIFY_HEADS if config.REGISTRY[n].pair)
            raise InputError(
                f"The {head} head reads one text; a second text (text_pair) is only for: {pairs}."
            )
        if pair is not None:
            check_text(pair, max_chars=config.MAX_TEXT_CHARS, what="second text")
        loaded = self.load(head)
        # split_special_tokens: a "[SEP]" typed by the user is text, not a separator (everywhere)
        full = loaded.tokenizer(text, pair, verbose=False, split_special_tokens=True)["input_ids"]
        inputs = loaded.tokenizer(
            text, pair, truncation=True, max_length=loaded.max_tokens, split_special_tokens=True
        )
        types = inputs.get("token_type_ids") or [0] * len(inputs["input_ids"])
        logits = torch.from_numpy(loaded.batcher.run([(inputs["input_ids"], types)])[0]["logits"])
        # as transformers' text-classification pipeline: sigmoid for multi-label, else softmax
        scores = torch.sigmoid(logits) if loaded.multi_label else torch.softmax(logits, dim=-1)
        ranked = sorted(zip(loaded.labels, scores.tolist(), strict=True), key=lambda x: -x[1])
        return ClassifyResult(head=head, labels=ranked, truncated=len(full) > loaded.max_tokens, model=loaded)

    def tag(self, text: str, aggregation: str = config.DEFAULT_AGGREGATION) -> TagResult:
        """Named entities, aggregated exactly as transformers' token-classification pipeline.

        Our part is the windows (so texts over 512 tokens are tagged completely, for every
        strategy); the aggregation is the pipeline's own ``postprocess``, run once over the
        whole text's token scores.
        """
        text = check_text(text, max_chars=config.MAX_TEXT_CHARS)
        aggregation = check_choice(aggregation, config.AGGREGATIONS, what="aggregation")
        loaded = self.load("ner")
        ids, offsets, _ = self._encode(loaded, text)
        if not ids:
            raise InputError("The text has no characters the model can read (only control characters?).")
        logits = self._token_logits(loaded, ids)
        chunk = {
            "logits": torch.from_numpy(np.stack([logits[i] for i in range(len(ids))])).unsqueeze(0),
            "input_ids": torch.tensor([ids]),
            "offset_mapping": torch.tensor([offsets]),
            "special_tokens_mask": torch.zeros((1, len(ids)), dtype=torch.long),
            "sentence": text,
        }
        raw = loaded.token_pipeline().postprocess(
            [chunk], aggregation_strategy=_aggregation_strategy(aggregation)
        )
        entities = [
            Entity(
                text=text[e["start"] : e["end"]],
                label=e.get("entity_group") or e["entity"],
                score=float(e["score"]),
                start=int(e["start"]),
                end=int(e["end"]),
            )
            for e in raw
        ]
        return TagResult(text=text, aggregation=aggregation, entities=entities, model=loaded)

    def answer(
        self,
        question: str,
        context: str,
        top_k: int = config.QA_TOP_K,
        max_answer_len: int = config.QA_MAX_ANSWER_LEN,
        handle_impossible_answer: bool = True,
        max_seq_len: int | None = None,
        doc_stride: int | None = None,
    ) -> AnswerResult:
        """Extractive QA over a context of any length, decoded as transformers 4.x did.

        The context is split into windows of ``max_seq_len`` tokens (question included) that
        share ``doc_stride`` tokens, every window is searched, and the spans are decoded by
        :func:`electra_demo.qa.decode`. ``None`` settings take 4.x's defaults for the model.
        """
        question = check_text(question, max_chars=config.MAX_QUESTION_CHARS, what="question")
        context = check_text(context, max_chars=config.MAX_CONTEXT_CHARS, what="context")
        top_k = check_int(top_k, 1, config.QA_MAX_TOP_K, what="number of answers (top_k)")
        max_answer_len = check_int(max_answer_len, 1, 512, what="maximum answer length")
        if not isinstance(handle_impossible_answer, bool):
            raise InputError("handle_impossible_answer must be true or false.")
        loaded = self.load("qa")
        tokenizer = loaded.tokenizer
        limit = min(loaded.max_tokens, tokenizer.model_max_length or loaded.max_tokens)
        if max_seq_len is None:
            max_seq_len = min(limit, config.QA_MAX_SEQ_LEN)
        max_seq_len = check_int(max_seq_len, 32, limit, what="window size (max_seq_len)")
        if doc_stride is None:
            doc_stride = min(max_seq_len // 2, config.QA_DOC_STRIDE)
        doc_stride = check_int(doc_stride, 0, max_seq_len, what="stride (doc_stride)")
        question_tokens = len(
            tokenizer(question, add_special_tokens=False, verbose=False, split_special_tokens=True)[
                "input_ids"
            ]
        )
        if question_tokens > config.QA_MAX_QUESTION_LEN:
            raise InputError(
                f"The question is {question_tokens} tokens long; the limit is "
                f"{config.QA_MAX_QUESTION_LEN}. Please shorten it."
            )
        room = max_seq_len - question_tokens - 3  # [CLS] question [SEP] context [SEP]
        if doc_stride >= room:
            raise InputError(
                f"The stride ({doc_stride} tokens) must be smaller than the room left for the "
                f"context in each window ({room} tokens = window {max_seq_len} - question "
                f"{question_tokens} - 3 special tokens). Use a larger window or a smaller stride."
            )
        settings = {
            "top_k": top_k,
            "max_answer_len": max_answer_len,
            "doc_stride": doc_stride,
            "max_seq_len": max_seq_len,
            "max_question_len": config.QA_MAX_QUESTION_LEN,
            "handle_impossible_answer": handle_impossible_answer,
        }
        encoded = tokenizer(
            question,
            context,
            truncation="only_second",
            max_length=max_seq_len,
            stride=doc_stride,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
            return_token_type_ids=True,
            verbose=False,
            split_special_tokens=True,
        )
        n_windows = len(encoded["input_ids"])
        outputs = loaded.batcher.run(
            [(encoded["input_ids"][w], encoded["token_type_ids"][w]) for w in range(n_windows)]
        )
        windows = [
            qa.Window(
                start_logits=output["start_logits"],
                end_logits=output["end_logits"],
                p_mask=qa.p_mask(encoded.sequence_ids(w), encoded["input_ids"][w], tokenizer.cls_token_id),
                attention_mask=encoded["attention_mask"][w],
                encoding=encoded[w],
            )
            for w, output in enumerate(outputs)
        ]
        candidates = qa.decode(windows, context, top_k, max_answer_len, handle_impossible_answer)
        null = next((c.score for c in candidates if c.null), None)
        best_span = next((c for c in candidates if not c.empty), None)
        return AnswerResult(
            question=question,
            context=context,
            answers=candidates[:top_k],
            best_span=best_span,
            null_score=null,
            settings=settings,
            windows=n_windows,
            model=loaded,
        )

    # ---- model cards ------------------------------------------------------------------------
    def card(self, name: str) -> dict[str, Any]:
        """What the UI shows about a slot: registry facts, or the override in their place."""
        resolved = self.resolve(name)
        slot = resolved.slot
        loaded = self._models.get(name)
        random_weights = loaded.random_weights if loaded else _marked_random(resolved)
        return {
            "slot": name,
            "id": resolved.source,
            "link": resolved.link,
            "task": slot.task,
            "labels": list(slot.labels),
            "license": slot.license if not resolved.overridden else "see the override's own card",
            "reported": slot.reported if not resolved.overridden else None,
            "default_id": slot.hub_id,
            "overridden": resolved.overridden,
            "env_var": slot.env_var,
            "random_weights": random_weights,
            "state": self.status()[name],
            "backend": loaded.backend if loaded else None,
        }


def _word_chunks(chosen: Sequence[int], groups: Sequence[Sequence[int]], limit: int) -> Iterator[list[int]]:
    """Consecutive chosen words, at most ``limit`` tokens a chunk (a longer word goes alone)."""
    chunk: list[int] = []
    size = 0
    for w in chosen:
        if chunk and size + len(groups[w]) > limit:
            yield chunk
            chunk, size = [], 0
        chunk.append(w)
        size += len(groups[w])
    if chunk:
        yield chunk


def _aggregation_strategy(name: str):
    from transformers.pipelines.token_classification import AggregationStrategy

    return AggregationStrategy(name)


def _marked_random(resolved: ResolvedSlot) -> bool:
    """Whether a local checkpoint says (in config.json) that its weights are random."""
    if not resolved.local:
        return False
    try:
        data = json.loads((Path(resolved.source) / "config.json").read_text())
    except (OSError, ValueError):
        return False
    return bool(data.get(RANDOM_WEIGHTS_MARK, False))
