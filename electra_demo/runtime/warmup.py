"""The server's start-up work, in the background: load the slots before anyone asks, and finish
ONNX exports while PyTorch serves.

One worker thread does one job at a time: first the warm-up loads (``ELECTRA_DEMO_PRELOAD``'s
slots in :data:`config.WARMUP_ORDER`: the default tab's slot first, then each tab's default model in
page order, then Classify's other heads), then the ONNX exports of the
slots that PyTorch serves meanwhile (each in a child process at the lowest CPU priority, see
:func:`electra_demo.runtime.models.finish_export`). It yields to visitors: before each job it waits until
no request is running (a little while at most, so a busy server still warms up), and a request
never waits on it. A request for a slot that is not loaded loads it on the request's own thread
at once (another slot's load never holds it up, each slot has its own lock), and a request for a
slot that is still exporting moves that export to the front of the queue.

No gradio here, and torch only in :func:`import_runtime`; the service
(:meth:`ModelService.start_background`) owns the worker.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

log = logging.getLogger(__name__)

IDLE_WAIT_S = 5.0  # at most this long, before each job, for the running requests to finish


def import_runtime() -> float:
    """Import what loading a model needs (torch, transformers' model classes, ONNX Runtime) and
    return the seconds it took. The server does this before it serves the page when it warms up:
    it is the same work either way, but done first, the page's first requests find their
    (cached) models ready in a moment instead of waiting for these imports."""
    start = time.perf_counter()
    import onnxruntime  # noqa: F401
    import transformers

    from electra_demo.config import AUTO_CLASSES
    from electra_demo.runtime import backends  # noqa: F401 - spaces before torch, as ZeroGPU requires

    # the Auto classes, and ELECTRA's own modules they resolve to (transformers imports each lazily)
    for name in (
        "AutoTokenizer",
        "AutoConfig",
        *AUTO_CLASSES.values(),
        "ElectraModel",
        "ElectraTokenizerFast",
    ):
        getattr(transformers, name)
    return time.perf_counter() - start


@dataclass(frozen=True)
class Job:
    kind: str  # "load" (warm-up) or "export"
    key: str  # a slot, or "<slot>:encoder"


class Background:
    """One low-priority worker running :class:`Job` s through ``run(job)``, in queue order."""

    def __init__(self, run: Callable[[Job], None], busy: Callable[[], bool], preload: Sequence[str] = ()):
        self._run = run
        self._busy = busy  # whether a visitor's request is running now
        self._jobs: list[Job] = [Job("load", name) for name in preload]
        self._condition = threading.Condition()
        self._stopped = False
        self.current: Job | None = None
        self.done: list[Job] = []  # in the order they ran (tests and the status panel read it)
        self._thread = threading.Thread(target=self._loop, name="electra-warmup", daemon=True)

    def start(self) -> Background:
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._condition:
            self._stopped = True
            self._condition.notify_all()

    # ---- the queue ---------------------------------------------------------------------------
    def add_export(self, key: str) -> None:
        """Finish ``key``'s export after the warm-up loads (and the exports already waiting)."""
        with self._condition:
            if Job("export", key) not in self._jobs:
                self._jobs.append(Job("export", key))
            self._condition.notify_all()

    def prioritise(self, key: str) -> None:
        """A visitor asked for ``key``: its waiting jobs go to the front of the queue."""
        with self._condition:
            first = [job for job in self._jobs if job.key == key]
            if first and self._jobs[: len(first)] != first:
                self._jobs = first + [job for job in self._jobs if job.key != key]

    def waiting(self) -> list[Job]:
        with self._condition:
            return list(self._jobs)

    def idle(self) -> bool:
        """Nothing running and nothing waiting."""
        with self._condition:
            return self.current is None and not self._jobs

    def wait_idle(self, timeout: float) -> bool:
        """Block until :meth:`idle` (tests, benchmarks); False when ``timeout`` passed first."""
        with self._condition:
            return self._condition.wait_for(lambda: self.current is None and not self._jobs, timeout)

    def describe(self) -> str:
        """One line for the status panel: what runs now and what waits."""
        with self._condition:
            current, jobs = self.current, list(self._jobs)
        if current is None and not jobs:
            return ""
        words = {"load": "loading {}", "export": "exporting {} to ONNX (PyTorch serves it meanwhile)"}
        parts = [f"now {words[current.kind].format(current.key)}"] if current else []
        loads = [job.key for job in jobs if job.kind == "load"]
        exports = [job.key for job in jobs if job.kind == "export"]
        parts += [f"to load next: {', '.join(loads)}"] if loads else []
        parts += [f"ONNX exports waiting: {', '.join(exports)}"] if exports else []
        return "Warm-up: " + "; ".join(parts) + "."

    # ---- the worker --------------------------------------------------------------------------
    def nudge(self) -> None:
        """A request ended: the worker, waiting for the server to be idle, looks again."""
        with self._condition:
            self._condition.notify_all()

    def _next(self) -> Job | None:
        with self._condition:
            while True:
                self._condition.wait_for(lambda: self._stopped or bool(self._jobs))
                # visitors first: wait for the running requests to end (a while at most)
                self._condition.wait_for(lambda: self._stopped or not self._busy(), timeout=IDLE_WAIT_S)
                if self._stopped:
                    return None
                if self._jobs:
                    self.current = self._jobs.pop(0)
                    return self.current

    def _loop(self) -> None:
        while (job := self._next()) is not None:
            try:
                self._run(job)
            except Exception as error:  # noqa: BLE001 - a failed slot says so in its own state
                log.warning("background %s of %s failed: %s", job.kind, job.key, error)
            with self._condition:
                self.done.append(job)
                self.current = None
                self._condition.notify_all()
