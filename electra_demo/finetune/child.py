"""One run's child process, from the parent's side: start it, read its events, stop it, collect.

Used by :class:`electra_demo.finetune.jobs.Trainings` (see there for the whole picture). What it
needs of the run is :class:`ChildRun` (``jobs.Run`` is one): it reports every change through
``run.changed(...)`` and knows nothing of the queue.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from electra_demo.finetune.data import TrainingPlan
from electra_demo.finetune.memory import MemoryPlan
from electra_demo.runtime import hub
from electra_demo.runtime.models import marked_random
from electra_demo.trained.kinds import KINDS
from electra_demo.trained.store import Meta, Store

log = logging.getLogger(__name__)

PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the folder that holds electra_demo/
CANCEL_GRACE = 3.0  # seconds between SIGTERM and SIGKILL
OVERRUN = 300.0  # seconds past the time limit (loading, evaluating, saving) before a child is killed
POLL = 0.1  # seconds between two reads of the events file


class ChildRun(Protocol):
    """What the child's driver needs of its run: who and what it is, where its files go, the
    loss history it appends to, the cancel flag, and one method to report a change with."""

    id: str
    model_id: str
    owner: str
    plan: TrainingPlan
    workdir: Path
    history: list[dict[str, Any]]
    cancel_requested: threading.Event
    memory: MemoryPlan | None  # how it trains (micro-batches, checkpointing, precision)

    def changed(self, **fields: Any) -> None: ...  # set these fields, wake the run's followers

    def cancelled_result(self) -> dict[str, Any]: ...  # the run's JSON when cancelled


class Child:
    """The child process of one run: ``python`` runs the run's worker module with ``threads``
    threads; ``time_limit`` (seconds) is the run's; the model it trains goes into ``store``."""

    def __init__(self, run: ChildRun, store: Store, python: str, threads: int, time_limit: float):
        self.run_ = run
        self.store = store
        self.python = python
        self.threads = threads
        self.time_limit = time_limit
        self.events = run.workdir / "events.jsonl"
        self.zip_path = run.workdir / f"{run.model_id}.zip"
        self.offset = 0
        self.done: dict[str, Any] | None = None
        self.failure: str | None = None
        self.overran = False

    def spec(self) -> dict[str, Any]:
        run, plan = self.run_, self.run_.plan
        base, slot = plan.base, plan.base.slot
        base_id = base.source if not base.local else f"a local checkpoint ({Path(base.source).name})"
        time_limit, memory = self.time_limit, run.memory
        return {
            "model_id": run.model_id,
            "staging": str(self.store.staging(run.model_id)),
            "zip": str(self.zip_path),
            "events": str(self.events),
            "base": {
                "slot": slot.name,
                "source": base.source,
                "revision": base.revision,
                "local_files_only": not base.local and not hub.reachable(),
                "id": base_id,
            },
            "task": plan.task,
            **plan.payload(),
            "settings": plan.settings.to_json(),
            "public_settings": {**plan.public_settings(time_limit), **(memory.public() if memory else {})},
            "memory": memory.to_json() if memory else None,
            "rows": plan.rows(),
            "time_limit": time_limit,
            "threads": self.threads,
            "card": {
                "base_name": slot.display_name,
                "base_id": base_id,
                "base_license": slot.license if not base.overridden else "other",
                "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M"),
                "file": plan.file,
                "random_base": marked_random(base),
            },
        }

    def run(self) -> None:
        run = self.run_
        run.workdir.mkdir(parents=True, exist_ok=True)
        spec_path = run.workdir / "spec.json"
        spec_path.write_text(json.dumps(self.spec()), encoding="utf-8")
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(PACKAGE_ROOT), os.environ.get("PYTHONPATH")])),
            "OMP_NUM_THREADS": str(self.threads),
            "TOKENIZERS_PARALLELISM": "false",
        }
        log_path = run.workdir / "child.log"
        with open(log_path, "wb") as output:
            process = subprocess.Popen(
                [self.python, "-m", KINDS[run.plan.task].worker, str(spec_path)],
                cwd=PACKAGE_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
            run.changed(pid=process.pid)
            try:
                self.watch(process)
            finally:
                if process.poll() is None:
                    process.kill()
                process.wait()
        self.read()
        self.collect(process.returncode, log_path)
        for name in ("spec.json", "events.jsonl", "child.log"):
            (run.workdir / name).unlink(missing_ok=True)

    def watch(self, process: subprocess.Popen) -> None:
        """Read events until the child ends; signal it on cancel, kill it 3 s later or on overrun."""
        run = self.run_
        signalled: float | None = None
        deadline = time.monotonic() + self.time_limit + OVERRUN
        while process.poll() is None:
            self.read()
            now = time.monotonic()
            if run.cancel_requested.is_set():
                if signalled is None:
                    process.terminate()  # SIGTERM: the child stops at its next step
                    signalled = now
                elif now - signalled >= CANCEL_GRACE:
                    process.kill()
            elif now > deadline:
                self.overran = True
                process.kill()
            run.cancel_requested.wait(POLL)
            if signalled is not None:
                time.sleep(POLL)  # the event stays set: don't spin

    def read(self) -> None:
        """Apply the complete lines the child appended since the last read."""
        try:
            with open(self.events, "rb") as handle:
                handle.seek(self.offset)
                data = handle.read()
        except FileNotFoundError:
            return
        end = data.rfind(b"\n") + 1  # a line being written waits for the next read
        self.offset += end
        for line in data[:end].splitlines():
            try:
                self.apply(json.loads(line))
            except ValueError:
                log.warning("run %s: unreadable event line", self.run_.id)

    def apply(self, event: dict[str, Any]) -> None:
        run = self.run_
        kind = event.get("event")
        if kind == "training":
            run.changed(state="training", max_steps=int(event["max_steps"]))
        elif kind == "progress":
            entry = {k: event[k] for k in ("step", "epoch", "loss", "mlm_loss", "rtd_loss") if k in event}
            run.history.append(entry)
            progress = {**entry, "elapsed": event["elapsed"], "remaining": event["remaining"]}
            run.changed(progress=progress, max_steps=int(event["max_steps"]))
        elif kind in ("evaluating", "saving"):
            run.changed(state=kind)
        elif kind == "done":
            self.done = event
        elif kind == "error":
            self.failure = str(event.get("message") or "unknown error")

    def collect(self, returncode: int | None, log_path: Path) -> None:
        """The run's outcome: the stored model, "cancelled", or a message saying what failed."""
        run = self.run_
        if self.done is not None and not self.overran:
            result = self.done["result"]
            self.store.add(self.meta(result), run.owner)
            run.changed(result=result, zip_path=self.zip_path, peak_rss_mb=self.done.get("peak_rss_mb"))
            return
        if run.cancel_requested.is_set():
            run.changed(result=run.cancelled_result())
            return
        tail = log_path.read_text(errors="replace")[-2000:] if log_path.is_file() else ""
        log.warning("training run %s failed (exit code %s); its log ends:\n%s", run.id, returncode, tail)
        if self.failure is not None:
            message = f"The training failed: {self.failure}"
        elif self.overran:
            message = (
                f"The training did not finish within {self.time_limit + OVERRUN:.0f} seconds "
                f"(time limit and loading, evaluation and saving) and was stopped."
            )
        else:
            message = f"The training process stopped unexpectedly (exit code {returncode}); please try again."
        run.changed(error=message)

    def meta(self, result: dict[str, Any]) -> Meta:
        plan = self.run_.plan
        fields = {"pair": False, **plan.meta_fields(result)}
        return Meta(
            model_id=self.run_.model_id,
            name=plan.model_name(),
            base=plan.settings.base,
            base_name=plan.base.slot.display_name,
            base_license=plan.base.slot.license if not plan.base.overridden else "other",
            mode=plan.settings.mode,
            labels=tuple(plan.labels()),
            created=time.time(),
            eval_rows=result["rows"]["eval"],
            task=plan.task,
            **fields,
        )
