"""What the service's work reports about itself, for whoever listens (each API app's ``/metrics``).

A :class:`ModelService` owns one :class:`Telemetry`; its micro-batchers report each batch (rows
and tokens), the service each model load, the ONNX export each export, and the training queue each
finished run. Listeners (:class:`Sink`, the API's Prometheus metrics) subscribe and are held
weakly: an app that is gone stops listening. A listener that fails is logged, never the work.

Labels stay bounded and hold no user text: a model is named by its registry slot (with the part
loaded, ``sentiment:encoder``), and every visitor's trained model is just ``trained``, since its
id is the key to it. No prometheus here: the API layer turns these reports into metrics.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import logging
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import Protocol

from electra_demo import config

log = logging.getLogger(__name__)

TRAINED = "trained"  # the label of every visitor's trained model


class Sink(Protocol):
    """A listener: what it is told (every method may be called from any thread)."""

    def batch(self, model: str, rows: int, tokens: int) -> None: ...

    def load(self, model: str, seconds: float) -> None: ...

    def export(self, model: str, seconds: float) -> None: ...

    def training(self, kind: str, outcome: str) -> None: ...


def model_label(key: str) -> str:
    """A loaded model's key (``"sentiment"``, ``"sentiment:encoder"``, a trained id, a status
    panel's ``"fine-tuned #1"``) as a bounded label with no id in it."""
    name, sep, part = key.partition(":")
    return (name if name in config.REGISTRY else TRAINED) + sep + part


class Telemetry:
    """The service's reports, passed on to every subscribed :class:`Sink`."""

    def __init__(self) -> None:
        self._sinks: weakref.WeakSet[Sink] = weakref.WeakSet()  # type: ignore[type-var]
        self._lock = threading.Lock()

    def subscribe(self, sink: Sink) -> None:
        with self._lock:
            self._sinks.add(sink)

    def _tell(self, method: str, *args: object) -> None:
        with self._lock:
            sinks = list(self._sinks)
        for sink in sinks:
            try:
                getattr(sink, method)(*args)
            except Exception:  # a listener's failure must not fail the work (logged)
                log.exception("a telemetry listener failed on %s", method)

    # ``key``: a loaded model's key (a slot, ``"<slot>:encoder"``, a trained id); sinks get its label
    def batch(self, key: str, rows: int, tokens: int) -> None:
        self._tell("batch", model_label(key), rows, tokens)

    def load(self, key: str, seconds: float) -> None:
        self._tell("load", model_label(key), seconds)

    def export(self, key: str, seconds: float) -> None:
        self._tell("export", model_label(key), seconds)

    def training(self, kind: str, outcome: str) -> None:
        """A training run of ``kind`` (the kinds table's) ended: completed, time_limit, cancelled
        or failed."""
        self._tell("training", kind, outcome)

    def batch_observer(self, key: str) -> Callable[[int, int], None]:
        """What a model's micro-batcher calls after each batch: ``(rows, tokens)``."""
        return functools.partial(self.batch, key)

    @contextlib.contextmanager
    def loading(self, key: str) -> Iterator[None]:
        """Exports made inside (on this thread) are reported as ``key``'s (see :func:`exported`)."""
        token = _LOADING.set((self, key))
        try:
            yield
        finally:
            _LOADING.reset(token)


_LOADING: contextvars.ContextVar[tuple[Telemetry, str] | None] = contextvars.ContextVar(
    "electra_demo_loading", default=None
)


def exported(seconds: float) -> None:
    """An ONNX export took ``seconds``: told to the telemetry of the load it is part of, if any."""
    current = _LOADING.get()
    if current is not None:
        telemetry, key = current
        telemetry.export(key, seconds)
