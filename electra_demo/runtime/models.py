"""Loading one registry slot: checkpoint, tokenizer, backend runner and micro-batcher.

:func:`load_checkpoint` is the one loader (``ModelService._load_checkpoint`` calls it and is the
place to override it). It reads safetensors only, never runs remote code, refuses a checkpoint
whose head would be newly initialised, and fails in seconds with a hint when the Hub cannot be
reached and the checkpoint is not cached.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from electra_demo import config
from electra_demo.config import BackendChoice, ResolvedSlot
from electra_demo.optional import lazy_module
from electra_demo.runtime import hub
from electra_demo.runtime.batching import MicroBatcher
from electra_demo.runtime.precision import decide
from electra_demo.text.processing import label_names

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase, TokenClassificationPipeline

    from electra_demo.runtime.backends import Runner
else:  # imported on first use, so the page is up before torch and transformers are
    torch = lazy_module("torch")
    transformers = lazy_module("transformers")

log = logging.getLogger(__name__)

RANDOM_WEIGHTS_MARK = "electra_demo_random_weights"  # set in config.json by electra_demo.tiny
BACKGROUND_NICE = 19  # a background export's child runs at the lowest CPU priority
CAST = {"bf16": "bfloat16", "fp16": "float16"}  # precisions PyTorch serves by casting its weights


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
    architecture: str = ""  # the slot's, or config.ENCODER for its encoder alone
    exporting: bool = False  # served from PyTorch while its ONNX export runs in the background
    precision: str = "fp32"  # what serves it: fp32, bf16, int8 or fp16 (runtime/precision.py)
    _pipeline: TokenClassificationPipeline | None = field(default=None, repr=False)

    @property
    def special_ids(self) -> list[int]:
        return sorted(set(self.tokenizer.all_special_ids))

    @property
    def has_torch_weights(self) -> bool:
        """Whether PyTorch's weights are in memory (freed where ONNX Runtime serves the slot)."""
        return any(p.device.type != "meta" for p in self.model.parameters())

    @property
    def weight_bytes(self) -> int:
        """Bytes of PyTorch weights this model holds in memory (0 once freed for ONNX Runtime)."""
        return sum(p.numel() * p.element_size() for p in self.model.parameters() if p.device.type != "meta")

    @property
    def multi_label(self) -> bool:
        config_ = self.model.config
        return config_.problem_type == "multi_label_classification" or config_.num_labels == 1

    def token_pipeline(self) -> TokenClassificationPipeline:
        """transformers' own token-classification pipeline on this model, for its aggregation."""
        if self._pipeline is None:  # only its postprocess is used: no weights needed ("meta")
            device = self.device if self.has_torch_weights else torch.device("meta")
            self._pipeline = transformers.TokenClassificationPipeline(
                model=self.model, tokenizer=self.tokenizer, device=device
            )
        return self._pipeline


def pick_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def unavailable(resolved: ResolvedSlot, reason: str, offline: bool = False) -> str:
    """The message for a slot that cannot load: which, from where, why, and what to do."""
    slot = resolved.slot
    where = "local directory" if resolved.local else "Hub id"
    message = (
        f"The {slot.name} model could not be loaded from {where} '{resolved.source}' "
        f"({reason}). To fix it, set {slot.env_var} to a local directory that holds the "
        f"checkpoint (config.json, tokenizer files, model.safetensors) or to a Hub id this "
        f"machine can download, then try again: the next request reloads it."
    )
    if offline:
        message += (
            " The Hugging Face Hub cannot be reached from this machine: to try the demo offline, "
            "run `make run-tiny` (small random checkpoints), or point the slots at local copies."
        )
    return message


def marked_random(resolved: ResolvedSlot) -> bool:
    """Whether a local checkpoint says (in config.json) that its weights are random."""
    if not resolved.local:
        return False
    try:
        data = json.loads((Path(resolved.source) / "config.json").read_text())
    except (OSError, ValueError):
        return False
    return bool(data.get(RANDOM_WEIGHTS_MARK, False))


# transformers' from_pretrained is not safe to run in two threads at once: measured with 5.24, four
# base-shaped loads in four threads left the generator's tied head "missing" in two of three
# tries, and tiny ones in three of three (the load is then refused: tests/test_service.py).
# Loads are CPU-bound, so on a CPU little is lost by taking them one at a time; a request for a
# slot may wait for another slot's load (a few tenths of a second) while the warm-up runs.
_FROM_PRETRAINED = threading.Lock()


def _from_pretrained(resolved: ResolvedSlot, architecture: str, weights: bool = True) -> tuple[Any, Any]:
    """Tokenizer and model through transformers' ``from_pretrained`` (one load at a time in the
    process: see ``_FROM_PRETRAINED``), or a clear error."""
    with _FROM_PRETRAINED:
        return _load_pretrained(resolved, architecture, weights)


def _load_pretrained(resolved: ResolvedSlot, architecture: str, weights: bool) -> tuple[Any, Any]:
    """Tokenizer and model through transformers' ``from_pretrained``, or a clear error; with
    ``weights=False`` the model is built from its config on the "meta" device (no weights)."""
    source = resolved.source
    kwargs: dict[str, Any] = {"revision": resolved.revision, "trust_remote_code": False}
    offline = not resolved.local and not hub.reachable()
    if offline:
        kwargs["local_files_only"] = True  # a cached copy still loads; nothing else is tried
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(source, **kwargs)
        if not weights:
            model_config = transformers.AutoConfig.from_pretrained(source, **kwargs)
            return _checked_tokenizer(resolved, tokenizer), meta_model(architecture, model_config)
        model, info = getattr(transformers, config.AUTO_CLASSES[architecture]).from_pretrained(
            source, use_safetensors=True, output_loading_info=True, **kwargs
        )
    except Exception as error:
        reason = f"{type(error).__name__}: {str(error).strip().splitlines()[0][:300]}"
        raise ModelUnavailable(unavailable(resolved, reason, offline)) from error
    _checked_tokenizer(resolved, tokenizer)
    missing = list(info.get("missing_keys", []))
    if missing:
        reason = (
            f"its weights do not fit a {resolved.slot.task} model ({len(missing)} weights would be "
            f"newly initialised, e.g. {missing[0]}): wrong checkpoint for this slot"
        )
        raise ModelUnavailable(unavailable(resolved, reason))
    return tokenizer, model


def _checked_tokenizer(resolved: ResolvedSlot, tokenizer: Any) -> Any:
    if not tokenizer.is_fast:
        raise ModelUnavailable(unavailable(resolved, "it has no fast tokenizer"))
    return tokenizer


def meta_model(architecture: str, model_config: Any) -> torch.nn.Module:
    """The model's modules without weights (on the "meta" device): its config, labels and
    structure for the tasks, where ONNX Runtime holds the weights."""
    with torch.device("meta"):
        model = getattr(transformers, config.AUTO_CLASSES[architecture]).from_config(model_config)
    return model.eval()


def load_tokenizer(resolved: ResolvedSlot) -> tuple[PreTrainedTokenizerBase, int]:
    """A slot's tokenizer and its longest input in tokens, without its weights (for /v1/tokenize)."""
    _check_local(resolved)
    tokenizer, model = _from_pretrained(resolved, resolved.slot.architecture, weights=False)
    return tokenizer, int(getattr(model.config, "max_position_embeddings", config.MODEL_MAX_TOKENS))


def _check_local(resolved: ResolvedSlot) -> None:
    source = Path(resolved.source)
    if resolved.local and not (source / "config.json").is_file():
        reason = (
            "that directory does not exist" if not source.exists() else "that directory has no config.json"
        )
        raise ModelUnavailable(unavailable(resolved, reason))


def _labels(model: torch.nn.Module, resolved: ResolvedSlot) -> list[str]:
    """Label names in id order; LABEL_n names become the registry's (default slots only), and
    the config takes them too, so every consumer (ours and transformers' pipelines) agrees."""
    id2label = getattr(model.config, "id2label", None) or {}
    own = [str(id2label[i]) for i in sorted(id2label)]
    labels = label_names(own, resolved.slot.labels if not resolved.overridden else ())
    if id2label and labels != own:
        model.config.id2label = dict(enumerate(labels))
        model.config.label2id = {label: i for i, label in enumerate(labels)}
    return labels


def load_checkpoint(
    resolved: ResolvedSlot,
    device: torch.device,
    choice: BackendChoice,
    batching: bool = True,
    architecture: str | None = None,
    defer_export: bool = False,
) -> LoadedModel:
    """Load one slot (or, with ``architecture=config.ENCODER``, its encoder alone) and wrap it in
    a backend runner behind a micro-batcher.

    Where ONNX Runtime serves it and an export checked at an earlier start is cached, PyTorch's
    weights are not loaded at all (config and tokenizer only). Otherwise the weights load; with
    ``defer_export`` the model is served from PyTorch at once, marked ``exporting``, and the caller
    finishes the export later (:func:`finish_export`), else the export runs now."""
    architecture = architecture or resolved.slot.architecture
    _check_local(resolved)
    choice = dataclasses.replace(choice, precision=decide(choice.precision, device.type))
    from electra_demo.runtime.backends import (  # spaces, then torch
        TorchRunner,
        cached_onnx_runner,
        make_runner,
        onnx_wanted,
    )

    wanted = onnx_wanted(choice, device)
    cached = cached_onnx_runner(resolved.source, resolved.revision, architecture, choice) if wanted else None
    if cached is not None:
        tokenizer, model = _from_pretrained(resolved, architecture, weights=False)
        return _assemble(resolved, model, tokenizer, device, cached, batching, architecture)
    tokenizer, model = _from_pretrained(resolved, architecture)
    if not wanted and choice.precision in CAST:  # PyTorch serves it: bf16, or fp16 on CUDA as before
        model = model.to(getattr(torch, CAST[choice.precision]))
    model.to(device).eval()
    if defer_export and wanted:
        runner = TorchRunner(model, architecture, note="serving while the ONNX export runs")
        loaded = _assemble(
            resolved, model, tokenizer, device, (runner, runner.description), batching, architecture
        )
        loaded.exporting = True
        return loaded
    made = make_runner(model, architecture, resolved.source, resolved.revision, choice)
    return _assemble(resolved, model, tokenizer, device, made, batching, architecture)


def _assemble(
    resolved: ResolvedSlot,
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    device: torch.device,
    made: tuple[Runner, str],
    batching: bool,
    architecture: str,
) -> LoadedModel:
    """The loaded model around its runner and micro-batcher."""
    runner, backend = made
    labels = _labels(model, resolved) if architecture != config.ENCODER else []
    log.info("%s (%s) runs on %s", resolved.name, architecture, backend)
    batcher = MicroBatcher(
        runner,
        per_token=architecture != "sequence-classification",
        pad_id=tokenizer.pad_token_id or 0,
        max_rows=2 if architecture == "masked-lm" else 8,  # vocabulary-wide outputs are big
        enabled=batching,
    )
    if not getattr(runner, "uses_torch_model", True):
        model.to("meta")  # ONNX Runtime holds the weights: free PyTorch's copy (config stays)
    return LoadedModel(
        resolved=resolved,
        model=model,
        tokenizer=tokenizer,
        device=device,
        max_tokens=int(getattr(model.config, "max_position_embeddings", config.MODEL_MAX_TOKENS)),
        random_weights=bool(getattr(model.config, RANDOM_WEIGHTS_MARK, False)),
        labels=labels,
        batcher=batcher,
        backend=backend,
        architecture=architecture,
        precision=getattr(runner, "precision", "fp32"),
    )


def finish_export(loaded: LoadedModel, choice: BackendChoice) -> LoadedModel:
    """Export (in a low-priority child) and check a model that :func:`load_checkpoint` left
    ``exporting``, then switch its micro-batcher to ONNX Runtime. The returned model replaces
    ``loaded`` (same tokenizer and batcher, no weights); ``loaded`` itself is left as it was, so
    whoever still holds it (a running explanation) keeps its weights until it lets go. When the
    export fails the slot stays on PyTorch, saying why."""
    from electra_demo.runtime.backends import fallback_runner, onnx_runner

    source = loaded.resolved.source
    choice = dataclasses.replace(choice, precision=decide(choice.precision, "cpu"))
    try:
        runner, backend = onnx_runner(
            loaded.model, loaded.architecture, source, loaded.resolved.revision, choice, nice=BACKGROUND_NICE
        )
    except Exception as error:  # noqa: BLE001 - any failure means: stay on PyTorch
        runner = fallback_runner(loaded.model, loaded.architecture, source, error)
        loaded.batcher.swap(runner)
        return dataclasses.replace(
            loaded, backend=runner.description, exporting=False, precision=runner.precision
        )
    loaded.batcher.swap(runner)
    log.info("%s (%s) switched to %s", loaded.resolved.name, loaded.architecture, backend)
    model = meta_model(loaded.architecture, loaded.model.config)
    precision = getattr(runner, "precision", "fp32")
    return dataclasses.replace(
        loaded, model=model, backend=backend, exporting=False, _pipeline=None, precision=precision
    )
