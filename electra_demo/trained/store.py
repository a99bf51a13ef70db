"""Trained models on disk under their ids (:mod:`.kinds`), for a while, a few at a time.

Layout under the root (``<cache>/finetuned``, beside the ONNX export cache): ``<id>/checkpoint/``
is a standard checkpoint (config.json with the labels, model.safetensors, tokenizer files,
training_args.json, README.md) and ``<id>/meta.json`` what the demo needs to serve and show it.
A trained model is kept ``ELECTRA_DEMO_FT_TTL`` seconds after its training (default 86400), and
at most ``ELECTRA_DEMO_FT_MAX`` models are kept (default 5): the least recently used goes first.
Models on disk from an earlier run of the server are served again while their time lasts.

The id is the key: its kind's prefix and 16 random hex characters (:func:`.kinds.new_id`); the store
never lists its models to anyone but the visitor (the browser session) that trained them.
No torch, no gradio here.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from electra_demo.checks import InputError
from electra_demo.config import ResolvedSlot, Slot, env_number
from electra_demo.trained.kinds import KINDS, PREFIXES, is_model_id, kinds_for_id

log = logging.getLogger(__name__)

DEFAULT_TTL = 86_400.0
DEFAULT_MAX = 5
CHECKPOINT = "checkpoint"
META = "meta.json"
STAGING = ".staging"  # where a training child writes its checkpoint before it is added


class UnknownModel(InputError):
    """A trained model's id that is not (or no longer) here; the message names the tab of the
    kind its prefix is (the Fine-tune tab when it is no id at all)."""

    def __init__(self, model_id: object):
        shown = model_id if is_model_id(model_id) and len(str(model_id)) <= 40 else "that id"
        kind = next(iter(kinds_for_id(model_id)), KINDS["classify"])
        super().__init__(
            f"Unknown or expired model id {shown}: {kind.made} models are kept for a limited time (and "
            f"only a few at once); train it again in the {kind.tab} tab."
        )


@dataclass(frozen=True)
class Meta:
    """What the demo knows about one trained model."""

    model_id: str
    name: str  # shown in the head lists
    base: str  # the registry slot it started from
    base_name: str
    base_license: str
    mode: str
    labels: tuple[str, ...]
    pair: bool
    created: float
    accuracy: float | None = None
    eval_rows: int = 0
    task: str = "classify"  # its kind (a key of trained.kinds.KINDS), written when it was taken in
    summary: str = ""  # its held-out figures in words (other tasks than classify)

    def slot(self) -> Slot:
        """A registry-like slot, so the service loads and serves it as it does the others; its
        ``kind`` is this model's (the one source every kind check reads)."""
        reported = (
            f"held-out accuracy {self.accuracy:.3f} on {self.eval_rows:,} rows, in this demo"
            if self.accuracy is not None
            else self.summary or "not evaluated"
        )
        kind = KINDS[self.task]
        return Slot(
            name=self.model_id,
            hub_id=self.model_id,
            task=f"your {kind.noun}, fine-tuned in this demo from {self.base_name} ({self.mode} mode)",
            display_name=self.name,
            license=f"{self.base_license} (the base model's)",
            architecture=kind.architecture,
            labels=self.labels,
            reported=reported,
            pair=self.pair,
            kind=self.task,
        )

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "labels": list(self.labels)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Meta:
        return cls(**{**data, "labels": tuple(data["labels"])})


# Every store's models by id, process-wide: the pure checks of a task (is this head a pair head?)
# look here. Ids are random, so stores never collide; the store that holds a model decides.
_KNOWN: dict[str, Slot] = {}
_KNOWN_LOCK = threading.Lock()


def known_slot(model_id: str) -> Slot | None:
    with _KNOWN_LOCK:
        return _KNOWN.get(model_id)


def _know(meta: Meta | None, model_id: str) -> None:
    with _KNOWN_LOCK:
        if meta is None:
            _KNOWN.pop(model_id, None)
        else:
            _KNOWN[model_id] = meta.slot()


class Store:
    """The trained models under ``root``; thread-safe."""

    def __init__(
        self,
        root: str | Path,
        ttl: float = DEFAULT_TTL,
        max_models: int = DEFAULT_MAX,
        on_evict: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.root = Path(root)
        self.ttl = ttl
        self.max_models = max_models
        self.on_evict = on_evict
        self.clock = clock
        self._lock = threading.RLock()
        self._metas: dict[str, Meta] = {}
        self._used: dict[str, float] = {}
        self._owners: dict[str, str] = {}
        self._scan()

    @classmethod
    def from_environ(
        cls, environ: Mapping[str, str], root: str | Path, on_evict: Callable[[str], None] | None = None
    ) -> Store:
        ttl = env_number(environ, "ELECTRA_DEMO_FT_TTL", DEFAULT_TTL, above=0)
        most = env_number(environ, "ELECTRA_DEMO_FT_MAX", DEFAULT_MAX, above=0, whole=True)
        return cls(root, ttl=ttl, max_models=most, on_evict=on_evict)

    # ---- paths -------------------------------------------------------------------------------
    def checkpoint(self, model_id: str) -> Path:
        return self.root / model_id / CHECKPOINT

    def staging(self, model_id: str) -> Path:
        """Where a training run writes the checkpoint before :meth:`add` takes it in."""
        return self.root / STAGING / model_id

    # ---- adding, finding ---------------------------------------------------------------------
    def add(self, meta: Meta, owner: str | None = None) -> Meta:
        """Take the staged checkpoint of ``meta.model_id`` in; evict beyond the cap."""
        staged = self.staging(meta.model_id)
        if not (staged / "config.json").is_file():
            raise FileNotFoundError(f"no staged checkpoint at {staged}")
        folder = self.root / meta.model_id
        folder.mkdir(parents=True, exist_ok=False)
        staged.rename(folder / CHECKPOINT)
        (folder / META).write_text(json.dumps(meta.to_json(), indent=1))
        with self._lock:
            self._metas[meta.model_id] = meta
            self._used[meta.model_id] = self.clock()
            if owner:
                self._owners[meta.model_id] = owner
        _know(meta, meta.model_id)
        self._evict()
        return meta

    def get(self, model_id: object) -> Meta:
        """The model's facts, or :class:`UnknownModel` (never there, expired or evicted)."""
        self._evict()
        with self._lock:
            meta = self._metas.get(model_id) if isinstance(model_id, str) else None
        if meta is None:
            raise UnknownModel(model_id)
        return meta

    def touch(self, model_id: object) -> Meta:
        """:meth:`get`, counting it as a use (least recently used models go first)."""
        meta = self.get(model_id)
        with self._lock:
            self._used[meta.model_id] = self.clock()
        return meta

    def resolve(self, model_id: object, part: str = "") -> ResolvedSlot:
        """Where the service loads the model from (a local directory), as for a registry slot;
        ``part``: a sub-folder of its checkpoint (an adapted model's ``generator``)."""
        meta = self.touch(model_id)
        return ResolvedSlot(
            slot=meta.slot(),
            source=str(self.checkpoint(meta.model_id) / part),
            revision=None,
            overridden=False,
            local=True,
        )

    def owned_by(self, owner: str | None, task: str | None = None) -> list[Meta]:
        """The models trained by ``owner`` (a browser session) that are still here, oldest first;
        only those of ``task`` (a key of trained.kinds.KINDS) when given."""
        if not owner:
            return []
        self._evict()
        with self._lock:
            mine = [m for i, m in self._metas.items() if self._owners.get(i) == owner]
        return [m for m in mine if task is None or m.task == task]

    def __contains__(self, model_id: object) -> bool:
        try:
            self.get(model_id)
        except UnknownModel:
            return False
        return True

    # ---- expiry ------------------------------------------------------------------------------
    def _evict(self) -> list[str]:
        """Remove expired models, then the least recently used beyond the cap."""
        now = self.clock()
        with self._lock:
            gone = [i for i, m in self._metas.items() if now - m.created >= self.ttl]
            alive = sorted((i for i in self._metas if i not in gone), key=lambda i: self._used[i])
            gone += alive[: max(0, len(alive) - self.max_models)]
            for model_id in gone:
                self._metas.pop(model_id, None)
                self._used.pop(model_id, None)
                self._owners.pop(model_id, None)
        for model_id in gone:
            _know(None, model_id)
            shutil.rmtree(self.root / model_id, ignore_errors=True)
            log.info("fine-tuned model %s removed (expired or least recently used)", model_id)
            if self.on_evict is not None:
                self.on_evict(model_id)
        return gone

    def _scan(self) -> None:
        """Serve again the models an earlier run of the server left (while their time lasts), and
        clear what a run left half-written (an hour old: another store may be writing it now)."""
        if not self.root.is_dir():
            return
        stale = self.clock() - 3600
        folders = [f for d in (self.root / STAGING, self.root) for p in PREFIXES for f in d.glob(p + "*")]
        for folder in folders:
            if folder.is_dir() and folder.stat().st_mtime < stale and not (folder / META).is_file():
                shutil.rmtree(folder, ignore_errors=True)
        for folder in sorted(self.root.iterdir()):
            if not is_model_id(folder.name) or not (folder / META).is_file():
                continue
            try:
                meta = Meta.from_json(json.loads((folder / META).read_text()))
                complete = (folder / CHECKPOINT / "config.json").is_file() and meta.model_id == folder.name
            except (OSError, ValueError, TypeError, KeyError):
                complete = False
            if not complete:
                log.warning("removing %s: not a complete fine-tuned model", folder)
                shutil.rmtree(folder, ignore_errors=True)
                continue
            self._metas[meta.model_id] = meta
            self._used[meta.model_id] = meta.created
            _know(meta, meta.model_id)
        self._evict()
