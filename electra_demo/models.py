"""Loading one registry slot: checkpoint, tokenizer, backend runner and micro-batcher.

:func:`load_checkpoint` is the one loader (``ModelService._load_checkpoint`` calls it and is the
place to override it). It reads safetensors only, never runs remote code, refuses a checkpoint
whose head would be newly initialised, and fails in seconds with a hint when the Hub cannot be
reached and the checkpoint is not cached.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import config, hub
from .batching import MicroBatcher
from .config import BackendChoice, ResolvedSlot
from .lazy import lazy_module
from .processing import label_names

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase, TokenClassificationPipeline
else:  # imported on first use, so the page is up before torch and transformers are
    torch = lazy_module("torch")
    transformers = lazy_module("transformers")

log = logging.getLogger(__name__)

RANDOM_WEIGHTS_MARK = "electra_demo_random_weights"  # set in config.json by electra_demo.tiny


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
        if self._pipeline is None:
            self._pipeline = transformers.TokenClassificationPipeline(
                model=self.model, tokenizer=self.tokenizer, device=self.device
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


def _from_pretrained(resolved: ResolvedSlot, architecture: str) -> tuple[Any, Any]:
    """Tokenizer and model through transformers' ``from_pretrained``, or a clear error."""
    source = resolved.source
    kwargs: dict[str, Any] = {"revision": resolved.revision, "trust_remote_code": False}
    offline = not resolved.local and not hub.reachable()
    if offline:
        kwargs["local_files_only"] = True  # a cached copy still loads; nothing else is tried
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(source, **kwargs)
        model, info = getattr(transformers, config.AUTO_CLASSES[architecture]).from_pretrained(
            source, use_safetensors=True, output_loading_info=True, **kwargs
        )
    except Exception as error:
        reason = f"{type(error).__name__}: {str(error).strip().splitlines()[0][:300]}"
        raise ModelUnavailable(unavailable(resolved, reason, offline)) from error
    if not tokenizer.is_fast:
        raise ModelUnavailable(unavailable(resolved, "it has no fast tokenizer"))
    missing = list(info.get("missing_keys", []))
    if missing:
        reason = (
            f"its weights do not fit a {resolved.slot.task} model ({len(missing)} weights would be "
            f"newly initialised, e.g. {missing[0]}): wrong checkpoint for this slot"
        )
        raise ModelUnavailable(unavailable(resolved, reason))
    return tokenizer, model


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
) -> LoadedModel:
    """Load one slot (or, with ``architecture=config.ENCODER``, its encoder alone) and wrap it in
    a backend runner behind a micro-batcher."""
    architecture = architecture or resolved.slot.architecture
    _check_local(resolved)
    tokenizer, model = _from_pretrained(resolved, architecture)
    if device.type == "cuda":
        model = model.half()
    model.to(device).eval()
    labels = _labels(model, resolved) if architecture != config.ENCODER else []
    from .backends import make_runner  # imports spaces, then torch

    runner, backend = make_runner(model, architecture, resolved.source, resolved.revision, choice)
    log.info("%s (%s) runs on %s", resolved.name, architecture, backend)
    batcher = MicroBatcher(
        runner,
        per_token=architecture != "sequence-classification",
        pad_id=tokenizer.pad_token_id or 0,
        max_rows=2 if architecture == "masked-lm" else 8,  # vocabulary-wide outputs are big
        enabled=batching,
    )
    loaded = LoadedModel(
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
    )
    if not getattr(runner, "uses_torch_model", True):
        # ONNX Runtime holds the weights now: free PyTorch's copy (config and tokenizer stay).
        # The token pipeline is built first; we only use its postprocess, which needs no weights.
        if architecture == "token-classification":
            loaded.token_pipeline()
        model.to("meta")
    return loaded
