"""The model service: loads each registry slot once, on first use, and reaches the tasks.

It keeps only what the tasks share: slot resolution (the registry and its environment
overrides), loading once per slot under the slot's lock (:func:`electra_demo.runtime.models.load_checkpoint`,
which picks the backend and wraps it in a micro-batcher), status and model cards. Each task lives
in its own module under :mod:`electra_demo.tasks` (preprocess, one model call, postprocess) and is
reached as a method here (``service.detect(...)``); a new task is a new module plus one line.
Tests and benchmarks swap checkpoints through the registry's environment variables, or subclass and
override :meth:`ModelService._load_checkpoint`.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from electra_demo import config
from electra_demo.config import BackendChoice, ResolvedSlot
from electra_demo.optional import lazy_module
from electra_demo.runtime.models import (
    LoadedModel,
    ModelUnavailable,
    finish_export,
    load_checkpoint,
    load_tokenizer,
    marked_random,
    pick_device,
)
from electra_demo.runtime.precision import decide
from electra_demo.runtime.telemetry import Telemetry
from electra_demo.runtime.warmup import Background, Job
from electra_demo.tasks import (
    answer,
    classify,
    corrupt,
    detect,
    embed,
    explain,
    proofread,
    rerank,
    tag,
    zeroshot,
)
from electra_demo.trained.kinds import is_model_id
from electra_demo.trained.store import Store

if TYPE_CHECKING:
    import torch
else:  # imported on first use, so the page is up before torch and transformers are
    torch = lazy_module("torch")

__all__ = ["LoadedModel", "ModelService", "ModelUnavailable"]

log = logging.getLogger(__name__)
R = TypeVar("R")


def _task(run: Callable[..., R]) -> Callable[..., R]:
    """A task module's ``run(models, ...)`` as a method of the service (same signature and doc)."""

    @functools.wraps(run)
    def method(self: ModelService, *args: Any, **kwargs: Any) -> R:
        with self._requests_lock:
            self._requests += 1
        try:
            return run(self, *args, **kwargs)
        finally:
            with self._requests_lock:
                self._requests -= 1
            if self.background is not None:
                self.background.nudge()  # the warm-up waits for the server to be idle

    return method


class ModelService:
    """Loads registry slots lazily (once, even under concurrent first requests) and runs tasks."""

    # the tasks: each is electra_demo/tasks/<name>.py
    detect = _task(detect.run)
    corrupt = _task(corrupt.run)
    classify = _task(classify.run)
    tag = _task(tag.run)
    answer = _task(answer.run)
    embed = _task(embed.run)
    explain = _task(explain.run)
    proofread = _task(proofread.run)
    rerank = _task(rerank.run)
    zeroshot = _task(zeroshot.run)

    def __init__(self, environ: Mapping[str, str] | None = None, device: str | None = None):
        self._environ = environ
        self._device_name = device
        self._models: dict[str, LoadedModel] = {}
        self._errors: dict[str, str] = {}
        self._loading: set[str] = set()
        self._locks: dict[str, threading.Lock] = {}
        self._locks_lock = threading.Lock()
        self._requests = 0  # tasks running now (the background work yields to them)
        self._requests_lock = threading.Lock()
        self.background: Background | None = None  # start-up work, once the server starts it
        self.telemetry = Telemetry()  # loads, exports, batches and training runs, for /metrics
        self._tokenizers: dict[str, tuple[Any, int]] = {}  # tokenizer_for's, of slots not loaded
        self.backend_choice = BackendChoice.from_environ(os.environ if environ is None else environ)
        # ZeroGPU lends the GPU to the request's own thread: no batching worker there
        self.batching = not os.environ.get("SPACES_ZERO_GPU")

    @functools.cached_property
    def device(self) -> torch.device:
        """CUDA when present, else the CPU; decided on first load (importing torch then)."""
        return torch.device(self._device_name) if self._device_name else pick_device()

    # ---- slots -------------------------------------------------------------------------------
    @property
    def environ(self) -> Mapping[str, str]:
        return os.environ if self._environ is None else self._environ

    @functools.cached_property
    def finetuned(self) -> Store:
        """The models visitors trained (Fine-tune and Adapt tabs), kept beside the export cache."""
        root = self.backend_choice.cache_dir.parent / "finetuned"
        return Store.from_environ(self.environ, root, on_evict=self.unload)

    def resolve(self, name: str) -> ResolvedSlot:
        """A registry slot, or a fine-tuned model by its id (UnknownModel, an InputError, when it
        is not, or no longer, there)."""
        if is_model_id(name):
            return self.finetuned.resolve(name)
        return config.resolve(name, self._environ)

    def unload(self, name: str) -> None:
        """Forget a model (a fine-tuned one that was removed) and its encoder and PyTorch copies."""
        for key in (name, f"{name}:encoder", f"{name}:torch", f"{name}:generator"):
            self._models.pop(key, None)
            self._errors.pop(key, None)
        self._tokenizers.pop(name, None)

    def _state(self, name: str) -> str:
        if name in self._models:
            return "loaded"
        if name in self._loading:
            return "loading"
        if name in self._errors:
            return "failed: " + self._errors[name]
        return "not loaded"

    def status(self) -> dict[str, str]:
        """Each slot's state: not loaded, loading, loaded, or failed (with the reason)."""
        return {name: self._state(name) for name in config.REGISTRY}

    def fingerprint(self) -> str:
        """Identifies what this service would run: every slot's source and the backend."""
        parts = [(n, self.resolve(n).source, self.resolve(n).revision) for n in config.REGISTRY]
        parts.append(("backend", self.backend_choice.backend, self.precision))
        return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]

    def examples_cache_dir(self) -> Path:
        """Where Gradio caches example outputs for exactly these checkpoints."""
        return self.backend_choice.cache_dir.parent / "examples" / self.fingerprint()

    def is_loaded(self, name: str) -> bool:
        return name in self._models

    # ---- background start-up work ----------------------------------------------------------------
    def start_background(self, preload: Sequence[str] = (), held: bool = False) -> Background:
        """Start the server's background work (once): load ``preload``'s slots in order, and from
        now on serve a slot from PyTorch while its ONNX export runs, then switch to ONNX Runtime
        (see :mod:`electra_demo.runtime.warmup`). A service that never starts it (scripts, most tests)
        loads and exports on first use, as before. ``held``: after the first slot, wait for
        ``background.release()`` (app.py: once the page serves)."""
        with self._locks_lock:
            if self.background is None:
                busy = lambda: self._requests > 0  # noqa: E731
                self.background = Background(self._background_job, busy, preload, held).start()
                log.info("warm-up: %s", ", ".join(preload) if preload else "off (ELECTRA_DEMO_PRELOAD=0)")
        return self.background

    def warmup(self) -> dict[str, Any]:
        """``/health``'s ``warmup``: ``ready`` once the warm-up's loads are done (or when there is
        no warm-up to wait for), and each slot's ``loaded``, ``exported`` (served from its export,
        not from PyTorch's weights) and ``precision`` (what serves it; None until it is loaded)."""
        slots: dict[str, dict[str, Any]] = {}
        for name in config.REGISTRY:
            loaded = self._models.get(name)
            slots[name] = {"loaded": False, "exported": False, "precision": None}
            if loaded is not None:
                exported = not loaded.exporting and not loaded.backend.startswith("PyTorch")
                slots[name] = {"loaded": True, "exported": exported, "precision": loaded.precision}
        ready = self.background is None or self.background.ready.is_set()
        return {"ready": ready, "slots": slots}

    def _background_job(self, job: Job) -> None:
        if job.kind == "load":
            self._load_once(job.key, job.key, None)
            return
        loaded = self._models.get(job.key)
        if loaded is None or not loaded.exporting:
            return
        with self.telemetry.loading(job.key):
            done = finish_export(loaded, self.backend_choice)
        with self._locks_lock:
            if self._models.get(job.key) is loaded:
                self._models[job.key] = done

    def _asked_for(self, key: str) -> None:
        if self.background is not None:
            self.background.prioritise(key)

    # ---- loading -------------------------------------------------------------------------------
    def load(self, name: str) -> LoadedModel:
        """Slot ``name``'s model, loaded on first use (once, under the slot's lock)."""
        self._asked_for(name)
        return self._load_once(name, name, None)

    def load_encoder(self, name: str) -> LoadedModel:
        """Slot ``name``'s encoder alone (its head left out), for embeddings; its
        ``batcher.run`` gives ``{"last_hidden_state": [tokens, hidden]}`` per row."""
        self._asked_for(f"{name}:encoder")
        return self._load_once(f"{name}:encoder", name, config.ENCODER)

    def load_torch(self, name: str) -> LoadedModel:
        """Slot ``name`` (or a trained model) with PyTorch weights in fp32 (fp16 on CUDA, as
        before), for gradients (explanations): gradients never run in bf16.

        It is :meth:`load`'s model when PyTorch serves it at that precision; where an export serves
        the slot (PyTorch's copy freed) or PyTorch serves it in bf16, a second copy, in fp32, is
        loaded once (key ``"<name>:torch"``, shown in the status panel with its size)."""
        main = self._models.get(name)
        if main is not None and main.has_torch_weights and main.precision != "bf16":
            return main
        on_torch = is_model_id(name) or self.backend_choice.backend == "torch" or self.device.type == "cuda"
        if main is None and on_torch and self.precision != "bf16":
            return self.load(name)  # it will run on PyTorch, not in bf16
        return self._load_once(f"{name}:torch", name, None, torch_only=True)

    @property
    def precision(self) -> str:
        """The precision models serve at here (runtime/precision.py): ``ELECTRA_DEMO_PRECISION``,
        auto: bf16 where the CPU has it, else fp32; fp16 on CUDA. Read without importing torch:
        until the first model decides the device, the CPU's (or the device named at start)."""
        device = self.__dict__.get("device")  # the cached property, once decided
        kind = device.type if device is not None else (self._device_name or "cpu").partition(":")[0]
        return decide(self.backend_choice.precision, kind)

    def precision_of(self, name: str) -> str:
        """The precision that serves ``name`` (a slot, or a trained model's id) now: its loaded
        model's (its encoder's when only that is loaded), else :attr:`precision`."""
        for key in (name, f"{name}:encoder"):
            loaded = self._models.get(key)
            if loaded is not None:
                return loaded.precision
        return self.precision

    def loaded_models(self) -> dict[str, LoadedModel]:
        """Every loaded model by key: slot names, ``"<slot>:encoder"``, ``"<slot>:torch"``; a
        fine-tuned model's id is its owner's key, so it shows as ``"fine-tuned #n"`` here."""
        models = dict(self._models)
        ids = sorted({key.partition(":")[0] for key in models if is_model_id(key.partition(":")[0])})
        hidden = {model_id: f"fine-tuned #{n}" for n, model_id in enumerate(ids, start=1)}
        out: dict[str, LoadedModel] = {}
        for key, model in models.items():
            name, sep, copy = key.partition(":")
            out[hidden.get(name, name) + sep + copy] = model
        return out

    def load_generator(self, name: str) -> LoadedModel:
        """An adapted model's own generator (the Adapt tab's models: their checkpoint's
        ``generator/``), loaded once; a registry slot's name is :meth:`load`."""
        if not is_model_id(name):
            return self.load(name)
        return self._load_once(f"{name}:generator", name, "masked-lm", part="generator")

    def tokenizer_for(self, name: str) -> tuple[Any, int]:
        """Slot ``name``'s (or a trained model's) tokenizer and its longest input in tokens: the
        loaded model's, else read alone (no weights loaded), once."""
        if is_model_id(name):
            self.finetuned.touch(name)  # expired or evicted: UnknownModel
        for key in (name, f"{name}:encoder", f"{name}:torch"):
            loaded = self._models.get(key)
            if loaded is not None:
                return loaded.tokenizer, loaded.max_tokens
        if name not in self._tokenizers:  # two first calls at once both read it: harmless
            self._tokenizers[name] = load_tokenizer(self.resolve(name))
        return self._tokenizers[name]

    def _load_once(
        self, key: str, name: str, architecture: str | None, torch_only: bool = False, part: str = ""
    ) -> LoadedModel:
        finetuned = is_model_id(name)
        if finetuned:
            self.finetuned.touch(name)  # expired or evicted: UnknownModel, even when loaded
        loaded = self._models.get(key)
        if loaded is not None:
            return loaded
        # an unknown slot fails here, before any lock is made
        resolved = self.finetuned.resolve(name, part) if part else self.resolve(name)
        with self._locks_lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock, self.telemetry.loading(key):  # an export made while loading is key's
            loaded = self._models.get(key)
            if loaded is None:
                self._loading.add(key)
                started = time.perf_counter()
                try:
                    if torch_only:  # gradients: PyTorch in fp32 whatever serves the slot
                        loaded = self._load_checkpoint(resolved, architecture, "torch", "fp32")
                    elif finetuned:  # no ONNX export for a model that lives a day
                        loaded = self._load_checkpoint(resolved, architecture, backend="torch")
                    elif architecture is None:
                        loaded = self._load_checkpoint(resolved)
                    else:
                        loaded = self._load_checkpoint(resolved, architecture)
                except ModelUnavailable as error:
                    self._errors[key] = str(error)
                    raise
                finally:
                    self._loading.discard(key)
                self._errors.pop(key, None)
                self.telemetry.load(key, time.perf_counter() - started)
                if loaded.batcher is not None:
                    loaded.batcher.observer = self.telemetry.batch_observer(key)
                if finetuned:  # answers name the model by its id, not by a server path
                    loaded.resolved = dataclasses.replace(resolved, source=name)
                self._models[key] = loaded
                log.info("loaded %s from %s on %s", key, resolved.source, self.device)
                if loaded.exporting and self.background is not None:
                    self.background.add_export(key)  # PyTorch serves it until the export is done
        return loaded

    def _load_checkpoint(
        self,
        resolved: ResolvedSlot,
        architecture: str | None = None,
        backend: str | None = None,
        precision: str | None = None,
    ) -> LoadedModel:
        """Load one slot's model and tokenizer; override this to load something else.
        ``backend="torch"`` forces PyTorch whatever the operator chose (trained models, and with
        ``precision="fp32"`` gradients)."""
        choice = self.backend_choice
        if backend is not None:
            choice = dataclasses.replace(choice, backend=backend)
        if precision is not None:
            choice = dataclasses.replace(choice, precision=precision)
        defer = self.background is not None  # the server's: export in the background
        return load_checkpoint(resolved, self.device, choice, self.batching, architecture, defer)

    # ---- model cards ----------------------------------------------------------------------------
    def card(self, name: str) -> dict[str, Any]:
        """What the UI shows about a slot: registry facts, or the override in their place."""
        resolved = self.resolve(name)
        slot = resolved.slot
        loaded = self._models.get(name)
        return {
            "slot": name,
            "id": name if is_model_id(name) else resolved.source,
            "link": resolved.link,
            "task": slot.task,
            "labels": list(slot.labels),
            "license": slot.license if not resolved.overridden else "see the override's own card",
            "reported": slot.reported if not resolved.overridden else None,
            "default_id": slot.hub_id,
            "overridden": resolved.overridden,
            "env_var": slot.env_var,
            "random_weights": loaded.random_weights if loaded else marked_random(resolved),
            "state": self._state(name),
            "backend": loaded.backend if loaded else None,
            "precision": loaded.precision if loaded else self.precision,  # else: the one it will load in
        }
