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
    marked_random,
    pick_device,
)
from electra_demo.runtime.warmup import Background, Job
from electra_demo.tasks import answer, classify, corrupt, detect, embed, explain, tag
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
        parts.append(("backend", self.backend_choice.backend, self.backend_choice.int8))
        return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]

    def examples_cache_dir(self) -> Path:
        """Where Gradio caches example outputs for exactly these checkpoints."""
        return self.backend_choice.cache_dir.parent / "examples" / self.fingerprint()

    def is_loaded(self, name: str) -> bool:
        return name in self._models

    # ---- background start-up work ----------------------------------------------------------------
    def start_background(self, preload: Sequence[str] = ()) -> Background:
        """Start the server's background work (once): load ``preload``'s slots in order, and from
        now on serve a slot from PyTorch while its ONNX export runs, then switch to ONNX Runtime
        (see :mod:`electra_demo.runtime.warmup`). A service that never starts it (scripts, most tests)
        loads and exports on first use, as before."""
        with self._locks_lock:
            if self.background is None:
                busy = lambda: self._requests > 0  # noqa: E731
                self.background = Background(self._background_job, busy, preload).start()
                log.info("warm-up: %s", ", ".join(preload) if preload else "off (ELECTRA_DEMO_PRELOAD=0)")
        return self.background

    def _background_job(self, job: Job) -> None:
        if job.kind == "load":
            self._load_once(job.key, job.key, None)
            return
        loaded = self._models.get(job.key)
        if loaded is None or not loaded.exporting:
            return
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
        """Slot ``name`` with its PyTorch weights in memory, for gradients (explanations).

        It is :meth:`load`'s model when that one runs on PyTorch; where ONNX Runtime serves the
        slot (and PyTorch's copy was freed), a second copy is loaded once (key ``"<name>:torch"``,
        shown in the status panel with its size)."""
        if is_model_id(name):
            return self.load(name)  # fine-tuned models always run on PyTorch
        main = self._models.get(name)
        if main is not None and main.has_torch_weights:
            return main
        if main is None and (self.backend_choice.backend == "torch" or self.device.type == "cuda"):
            return self.load(name)  # it will run on PyTorch
        return self._load_once(f"{name}:torch", name, None, torch_only=True)

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
        with lock:
            loaded = self._models.get(key)
            if loaded is None:
                self._loading.add(key)
                try:
                    if torch_only or finetuned:  # no ONNX export for a model that lives a day
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
                if finetuned:  # answers name the model by its id, not by a server path
                    loaded.resolved = dataclasses.replace(resolved, source=name)
                self._models[key] = loaded
                log.info("loaded %s from %s on %s", key, resolved.source, self.device)
                if loaded.exporting and self.background is not None:
                    self.background.add_export(key)  # PyTorch serves it until the export is done
        return loaded

    def _load_checkpoint(
        self, resolved: ResolvedSlot, architecture: str | None = None, backend: str | None = None
    ) -> LoadedModel:
        """Load one slot's model and tokenizer; override this to load something else.
        ``backend="torch"`` forces PyTorch whatever the operator chose (for gradients)."""
        choice = self.backend_choice
        if backend is not None:
            choice = dataclasses.replace(choice, backend=backend)
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
        }
