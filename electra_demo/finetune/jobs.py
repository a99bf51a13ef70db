"""Training runs, server side: a child process per run, one at a time, a bounded queue, cancel.

:class:`Trainings` takes a checked plan, queues it (at most ``ELECTRA_DEMO_TRAIN_QUEUE``
runs wait, default 4; ``ELECTRA_DEMO_TRAIN_CONCURRENCY`` train at once, default 1) and runs it in
its own process (``python -m electra_demo.finetune.worker``: a fresh interpreter, so the Trainer's
and accelerate's process-wide state never touch the server, and its memory goes back when it
ends). The child appends progress to a JSON-lines file that a driver thread here reads into the
:class:`Run`, which the page follows. Cancel is SIGTERM (the child stops at its next step); a
child still there 3 seconds later is killed, so a cancel takes effect within 5 seconds. The time
limit (``ELECTRA_DEMO_TRAIN_SECONDS``, default 900) is kept by the child, which then evaluates
and saves the model trained so far; a child that overruns it by far is killed. No child outlives
its run, nor the server (it watches its parent, and :meth:`Trainings.shutdown` runs at exit).

A run's plan is any :class:`~electra_demo.finetune.data.TrainingPlan`: classification's
:class:`~electra_demo.finetune.data.Plan`, the tagging and QA plans in :mod:`.tag_data` and
:mod:`.qa_data`, Adapt's in :mod:`electra_demo.adapt.plan`. Its ``task`` picks the child's module
(:data:`electra_demo.trained.kinds.KINDS`); its ``payload()`` is what that child reads.
"""

from __future__ import annotations

import atexit
import logging
import os
import secrets
import shutil
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

from electra_demo import optional
from electra_demo.checks import InputError
from electra_demo.config import env_number, precision_setting
from electra_demo.finetune import memory
from electra_demo.finetune.child import CANCEL_GRACE, Child
from electra_demo.finetune.data import TrainingPlan
from electra_demo.runtime.telemetry import Telemetry
from electra_demo.trained import kinds
from electra_demo.trained.kinds import KINDS
from electra_demo.trained.store import Store

log = logging.getLogger(__name__)

FINISHED = "finished"
OUTCOMES = ("completed", "time_limit", "cancelled", "failed")  # how a run ends, for /metrics


class TrainingFailed(RuntimeError):
    """The run failed; the message says why (shown to the visitor as is)."""


class Run:
    """One training request, from the queue to its result (thread-safe through its manager)."""

    def __init__(self, plan: TrainingPlan, owner: str, manager: Trainings):
        self.id = secrets.token_hex(6)
        self.plan = plan
        self.owner = owner
        self.manager = manager
        self.model_id = kinds.new_id(plan.task)
        self.state = "queued"  # queued, starting, training, evaluating, saving, finished
        self.version = 0  # bumped on every change, for followers
        self.max_steps = 0
        self.progress: dict[str, Any] = {}
        self.history: list[dict[str, Any]] = []
        self.result: dict[str, Any] | None = None
        self.error: str | None = None
        self.zip_path: Path | None = None
        self.pid: int | None = None
        self.peak_rss_mb: float | None = None
        self.memory: memory.MemoryPlan | None = None  # how it trains, decided as it starts
        self.cancel_requested = threading.Event()
        self.workdir = manager.root / self.id

    @property
    def finished(self) -> bool:
        return self.state == FINISHED

    def cancel(self) -> None:
        """Stop the run: out of the queue, or its child signalled (killed 3 s later if still there)."""
        self.cancel_requested.set()
        with self.manager.cond:
            self.manager.cond.notify_all()

    def snapshot(self) -> dict[str, Any]:
        """What the page shows now: the state, the queue position or the latest progress."""
        with self.manager.cond:
            shown: dict[str, Any] = {"status": self.state}
            if self.state == "queued":
                shown.update(self.manager.positions().get(self.id, {}))
            shown.update(self.progress)
            if self.max_steps:
                shown["max_steps"] = self.max_steps
            return shown

    def follow(self, heartbeat: float = 0.5) -> Iterator[tuple[dict[str, Any], bool]]:
        """``(snapshot, changed)`` on every change (its queue position too), and at least every
        ``heartbeat`` seconds (so a follower can be closed promptly), until the run is finished."""
        seen: list[Any] = [-1]
        last: dict[str, Any] | None = None
        while True:
            with self.manager.cond:
                self.manager.cond.wait_for(
                    lambda: self.version != seen[0] or self.finished, timeout=heartbeat
                )
                seen[0] = self.version
                done = self.finished
            shown = self.snapshot()
            yield shown, shown != last
            last = shown
            if done:
                return

    def outcome(self) -> dict[str, Any]:
        """The run's JSON once finished; :class:`TrainingFailed` if it failed."""
        if self.error is not None:
            raise TrainingFailed(self.error)
        if self.result is None:
            raise TrainingFailed("The training has not finished.")
        return self.result

    def release(self) -> None:
        """Delete the run's files (its zip included): call once the zip has been handed out."""
        if self.finished:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def changed(self, **fields: Any) -> None:
        """Set ``fields`` and wake the followers (the child's driver reports through this)."""
        with self.manager.cond:
            for key, value in fields.items():
                setattr(self, key, value)
            self.version += 1
            self.manager.cond.notify_all()

    def cancelled_result(self) -> dict[str, Any]:
        plan = self.plan
        return {
            "model_id": None,
            "base": plan.settings.base,
            "mode": plan.settings.mode,
            "task": plan.task,
            "labels": plan.labels(),
            "rows": plan.rows(),
            "settings": {
                **plan.public_settings(self.manager.time_limit),
                **(self.memory.public() if self.memory else {}),
            },
            "metrics": None,
            "history": list(self.history),
            "seconds": round(float(self.progress.get("elapsed", 0.0)), 3),
            "stopped": "cancelled",
        }


def default_threads() -> int:
    """Leave a core to the server (its models answer the other tabs while a run trains)."""
    return max(1, len(os.sched_getaffinity(0)) - 1)


class Trainings:
    """The server's training runs: ``concurrency`` at once, at most ``queue_size`` waiting."""

    def __init__(
        self,
        store: Store,
        *,
        concurrency: int = 1,
        queue_size: int = 4,
        time_limit: float = 900.0,
        threads: int | None = None,
        root: str | Path | None = None,
        python: str = sys.executable,
        telemetry: Telemetry | None = None,
        precision: str = "auto",
        free_memory: Callable[[], float | None] = memory.free_mb,
    ):
        self.store = store
        self.precision = precision  # ELECTRA_DEMO_PRECISION as asked (auto: bf16 where the CPU has it)
        self.free_memory = free_memory  # MB a new child may take (None: unknown)
        self.telemetry = telemetry  # told each run's kind and outcome as it ends (for /metrics)
        self.concurrency = concurrency
        self.queue_size = queue_size
        self.time_limit = time_limit
        self.threads = threads or default_threads()
        self._own_root = root is None  # a temporary folder of ours: removed at exit
        self.root = Path(root) if root else Path(tempfile.mkdtemp(prefix="electra-demo-train-"))
        self.root.mkdir(parents=True, exist_ok=True)
        self.python = python
        self.cond = threading.Condition()
        self._runs: list[Run] = []  # unfinished, in submission order
        atexit.register(self.shutdown)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], store: Store, **kwargs: Any) -> Trainings:
        return cls(
            store,
            concurrency=int(env_number(environ, "ELECTRA_DEMO_TRAIN_CONCURRENCY", 1, low=1)),
            queue_size=int(env_number(environ, "ELECTRA_DEMO_TRAIN_QUEUE", 4, low=0)),
            time_limit=env_number(environ, "ELECTRA_DEMO_TRAIN_SECONDS", 900.0, low=1),
            threads=int(env_number(environ, "ELECTRA_DEMO_TRAIN_THREADS", default_threads(), low=1)),
            precision=precision_setting(environ),
            **kwargs,
        )

    # ---- the queue ---------------------------------------------------------------------------
    def submit(self, plan: TrainingPlan, owner: str = "") -> Run:
        """Queue ``plan``; refused (InputError) when the queue is full or the run would not fit in
        the memory left (the running children's counted as coming back), and
        (MissingDependency) when a package its child needs is not installed."""
        for module in KINDS[plan.task].needs:
            optional.check(module, "Fine-tuning (the Fine-tune tab)")
        with self.cond:
            pids = [r.pid for r in self._runs if r.state != "queued"]
        self.memory_plan(plan, spare=sum(memory.rss_mb(pid) for pid in pids))
        with self.cond:
            running = sum(1 for r in self._runs if r.state != "queued")
            waiting = sum(1 for r in self._runs if r.state == "queued")
            if running >= self.concurrency and waiting >= self.queue_size:
                raise InputError(
                    f"The training queue is full ({running} training, {waiting} waiting; at most "
                    f"{self.queue_size} may wait). Please try again in a few minutes."
                )
            run = Run(plan, owner, self)
            self._runs.append(run)
        threading.Thread(target=self._drive, args=(run,), name=f"electra-train-{run.id}", daemon=True).start()
        return run

    def positions(self) -> dict[str, dict[str, int]]:
        """Each waiting run's place: ``{"position": 1 for the next to start, "ahead", "running"}``."""
        with self.cond:
            running = sum(1 for r in self._runs if r.state != "queued")
            queued = [r for r in self._runs if r.state == "queued"]
            return {r.id: {"position": i + 1, "running": running} for i, r in enumerate(queued)}

    def cancel(self, owner: str) -> int:
        """Cancel every unfinished run of ``owner`` (a browser session); how many there were."""
        with self.cond:
            mine = [r for r in self._runs if r.owner == owner and owner]
        for run in mine:
            run.cancel()
        return len(mine)

    def active(self) -> list[Run]:
        with self.cond:
            return list(self._runs)

    def shutdown(self) -> None:
        """Cancel every run, wait for their children, remove the runs' files (at exit)."""
        for run in self.active():
            run.cancel()
        deadline = time.monotonic() + CANCEL_GRACE + 2
        with self.cond:
            self.cond.wait_for(lambda: not self._runs, timeout=max(0.0, deadline - time.monotonic()))
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def memory_plan(self, plan: TrainingPlan, spare: float = 0.0) -> memory.MemoryPlan:
        """How ``plan`` will train (:func:`electra_demo.finetune.memory.plan_for`) with the memory
        free now plus ``spare`` MB; InputError, naming a smaller setting, when it would not fit."""
        free = self.free_memory()
        free = None if free is None else free + spare
        planned = memory.plan_for(plan, self.precision, free, memory.device_type())
        memory.check_fits(planned, free, plan.settings.mode)
        return planned

    def _may_start(self, run: Run) -> bool:
        running = sum(1 for r in self._runs if r.state != "queued")
        first = next(r for r in self._runs if r.state == "queued")
        return first is run and running < self.concurrency

    # ---- one run -----------------------------------------------------------------------------
    def _drive(self, run: Run) -> None:
        try:
            with self.cond:
                self.cond.wait_for(lambda: run.cancel_requested.is_set() or self._may_start(run))
                if run.cancel_requested.is_set():
                    run.result = run.cancelled_result()
                    return
                run.state = "starting"
                run.version += 1
                self.cond.notify_all()
            try:  # the memory now: another process may have taken some while it waited
                run.memory = self.memory_plan(run.plan)
            except InputError as error:
                run.error = str(error)
                return
            Child(run, self.store, self.python, self.threads, self.time_limit).run()
        except Exception:
            log.exception("training run %s failed", run.id)
            run.error = "The training failed on the server; the error was logged. Please try again."
        finally:
            shutil.rmtree(self.store.staging(run.model_id), ignore_errors=True)
            with self.cond:
                run.state = FINISHED
                run.version += 1
                self._runs.remove(run)
                self.cond.notify_all()
            if self.telemetry is not None:
                self.telemetry.training(run.plan.task, outcome_of(run))


def outcome_of(run: Run) -> str:
    """How a finished run ended, for /metrics: completed, time_limit, cancelled or failed."""
    stopped = run.result.get("stopped") if run.error is None and run.result is not None else None
    return stopped if stopped in OUTCOMES else "failed"


class _Service(Protocol):
    environ: Mapping[str, str]
    finetuned: Store
    telemetry: Telemetry


_MANAGERS: weakref.WeakKeyDictionary[Any, Trainings] = weakref.WeakKeyDictionary()
_MANAGERS_LOCK = threading.Lock()


def trainings_for(service: _Service) -> Trainings:
    """The one :class:`Trainings` of a model service (every page built on it shares the queue)."""
    with _MANAGERS_LOCK:
        manager = _MANAGERS.get(service)
        if manager is None:
            manager = _MANAGERS[service] = Trainings.from_environ(
                service.environ, service.finetuned, telemetry=service.telemetry
            )
        return manager
