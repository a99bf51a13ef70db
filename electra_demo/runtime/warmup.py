"""The server's start-up work, in the background: load the slots before anyone asks, and finish
ONNX exports while PyTorch serves.

One worker thread does one job at a time: first the warm-up loads (``ELECTRA_DEMO_PRELOAD``'s
slots in :data:`config.WARMUP_ORDER`: the default tab's slot first, then each tab's default model in
page order, then Classify's other heads), then the ONNX exports of the
slots that PyTorch serves meanwhile (each in a child process at the lowest CPU priority, see
:func:`electra_demo.runtime.models.finish_export`). It yields to visitors: before each job it waits until
no request is running (a little while at most, so a busy server still warms up), and a request
never waits for its queue. A request for a slot that is not loaded loads it on the request's own thread
at once (each slot has its own lock; transformers' own loading step is taken one at a time in the
process, see ``runtime.models``, so it may wait a few tenths of a second), and a request for a
slot that is still exporting moves that export to the front of the queue. ``app.py`` starts it
before it builds the page, so the first tab's model loads meanwhile, and holds the rest until the
page serves (they would slow its build); :attr:`Background.ready` is set once the loads are done
(``/health``'s ``warmup.ready``).

No gradio here, and torch only in :func:`import_runtime` and :func:`start_torch_threads`; the service
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
    (cached) models ready in a moment instead of waiting for these imports. Call it on the main
    thread: it also starts PyTorch's CPU threads from there (:func:`start_torch_threads`)."""
    start = time.perf_counter()
    import onnxruntime  # noqa: F401
    import transformers

    from electra_demo.config import AUTO_CLASSES
    from electra_demo.runtime import backends  # noqa: F401 - spaces before torch, as ZeroGPU requires

    start_torch_threads()

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


def start_torch_threads() -> None:
    """Run one parallel PyTorch operation on this thread, which should be the main one.

    PyTorch runs its CPU operations on an OpenMP thread pool (GNU libgomp). When no parallel
    region was ever started from the main thread, and only worker threads start them (the
    micro-batcher's, the warm-up's, a request's), their forwards burn CPU spinning: a 128-token
    electra-base forward on 2 cores took 0.3 CPU second instead of 0.15 (the first one 0.5
    instead of 0.18; up to four times as much on a busy machine), for as long as the process
    lives (``bench_start.py --torch-threads``). One operation large enough to run in parallel,
    here, avoids it."""
    import torch

    torch.ones(1 << 20).add_(1)  # 1M elements: over ATen's grain size, so it runs in parallel


@dataclass(frozen=True)
class Job:
    kind: str  # "load" (warm-up) or "export"
    key: str  # a slot, or "<slot>:encoder"


class Background:
    """One low-priority worker running :class:`Job` s through ``run(job)``, in queue order."""

    def __init__(
        self,
        run: Callable[[Job], None],
        busy: Callable[[], bool],
        preload: Sequence[str] = (),
        held: bool = False,
    ):
        self._run = run
        self._held = held  # after the first job, start no other until release()
        self._busy = busy  # whether a visitor's request is running now
        self._jobs: list[Job] = [Job("load", name) for name in preload]
        self._condition = threading.Condition()
        self._stopped = False
        self.current: Job | None = None
        self.done: list[Job] = []  # in the order they ran (tests and the status panel read it)
        # set once the warm-up's loads are done (exports may still run): /health's "ready"
        self.ready = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="electra-warmup", daemon=True)

    def start(self) -> Background:
        if not self._loading():
            self.ready.set()  # nothing to load (ELECTRA_DEMO_PRELOAD=0)
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._condition:
            self._stopped = True
            self._condition.notify_all()

    def release(self) -> None:
        """Go on past the first job: a worker made ``held`` waits after it until now (app.py holds
        the rest of the warm-up while it builds and serves the page, which the first load overlaps)."""
        with self._condition:
            self._held = False
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

    def _holding(self) -> bool:
        return self._held and bool(self.done)

    def _loading(self) -> bool:
        """Whether a warm-up load runs or waits (call with the condition held, or before start)."""
        jobs = [*self._jobs, *([self.current] if self.current else [])]
        return any(job.kind == "load" for job in jobs)

    def idle(self) -> bool:
        """Nothing running and nothing waiting."""
        with self._condition:
            return self.current is None and not self._jobs

    def wait_idle(self, timeout: float) -> bool:
        """Block until :meth:`idle` (tests, benchmarks); False when ``timeout`` passed first."""
        return self.wait_for(lambda: self.current is None and not self._jobs, timeout)

    def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Block until ``predicate()`` holds, looked at whenever a job starts or ends (tests)."""
        with self._condition:
            return self._condition.wait_for(predicate, timeout)

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
                self._condition.wait_for(lambda: self._stopped or (bool(self._jobs) and not self._holding()))
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
                if not self._loading():
                    self.ready.set()
                self._condition.notify_all()
