"""Micro-batching: rows for the same model that arrive together run as one padded batch.

Written here rather than with Gradio's ``batch=True`` because requests of *different* endpoints
share a model (``/detect`` and ``/corrupt`` both run the discriminator) and one request may
bring several rows (the windows of a long text); a batched Gradio handler would also fail every
request in a batch when one of them is bad. Rows are sorted by length before padding so little
is wasted, and each row's outputs are cut back to its own length, so every caller gets what it
would get alone (up to float rounding, ~1e-6).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np

Row = tuple[Sequence[int], Sequence[int]]  # input ids, token type ids
RunFn = Callable[[Mapping[str, np.ndarray]], dict[str, np.ndarray]]


@dataclass
class _Request:
    rows: Sequence[Row]
    future: Future


def pad_rows(rows: Sequence[Row], pad_id: int) -> dict[str, np.ndarray]:
    width = max(len(ids) for ids, _ in rows)
    input_ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    token_types = np.zeros((len(rows), width), dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for i, (ids, types) in enumerate(rows):
        input_ids[i, : len(ids)] = ids
        token_types[i, : len(types)] = types
        mask[i, : len(ids)] = 1
    return {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": token_types}


def plan_batches(lengths: Sequence[int], max_rows: int, max_tokens: int) -> list[list[int]]:
    """Row indices grouped into batches: sorted by length, at most ``max_rows`` rows and
    ``max_tokens`` padded tokens each."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches: list[list[int]] = []
    for i in order:
        if batches:
            current = batches[-1]
            width = max(lengths[i], max(lengths[j] for j in current))
            if len(current) < max_rows and width * (len(current) + 1) <= max_tokens:
                current.append(i)
                continue
        batches.append([i])
    return batches


def run_rows(
    run: RunFn, rows: Sequence[Row], per_token: bool, pad_id: int, max_rows: int, max_tokens: int
) -> list[dict[str, np.ndarray]]:
    """Run ``rows`` in length-sorted padded batches; each row's outputs cut to its length."""
    results: list[dict[str, np.ndarray] | None] = [None] * len(rows)
    for batch in plan_batches([len(ids) for ids, _ in rows], max_rows, max_tokens):
        outputs = run(pad_rows([rows[i] for i in batch], pad_id))
        for position, i in enumerate(batch):
            length = len(rows[i][0])
            results[i] = {
                name: value[position, :length] if per_token and value.ndim > 1 else value[position]
                for name, value in outputs.items()
            }
    return results  # type: ignore[return-value]


class MicroBatcher:
    """Collects rows from concurrent callers and runs them together on one worker thread.

    The worker serialises model calls (no thread oversubscription on a small CPU); requests
    that arrive while a batch runs are merged into the next one.
    """

    def __init__(
        self,
        run: RunFn,
        per_token: bool,
        pad_id: int = 0,
        max_rows: int = 8,
        max_tokens: int = 8 * 512,
        enabled: bool = True,
    ):
        self._run = run
        self.per_token = per_token
        self.pad_id = pad_id
        self.max_rows = max_rows
        self.max_tokens = max_tokens
        self.enabled = enabled
        self._pending: list[_Request] = []
        self._condition = threading.Condition()
        self._worker: threading.Thread | None = None
        self.batches_run = 0  # for tests and the status panel
        self.largest_batch = 0
        # told (rows, tokens) of each batch before its callers get their outputs; must not raise
        self.observer: Callable[[int, int], None] | None = None

    @property
    def queued(self) -> int:
        """Rows waiting for the next batch (the queue depth)."""
        with self._condition:
            return sum(len(request.rows) for request in self._pending)

    def _observe(self, rows: Sequence[Row]) -> None:
        if self.observer is not None:
            self.observer(len(rows), sum(len(ids) for ids, _ in rows))

    def swap(self, run: RunFn) -> None:
        """Serve the next batches with ``run`` (a batch already running finishes on the old one)."""
        self._run = run

    def run(self, rows: Sequence[Row]) -> list[dict[str, np.ndarray]]:
        """Outputs for ``rows``, in order; blocks until they are computed."""
        if not rows:
            return []
        if not self.enabled:  # e.g. ZeroGPU, where the GPU is lent to the request's own thread
            outputs = run_rows(self._run, rows, self.per_token, self.pad_id, self.max_rows, self.max_tokens)
            self._observe(rows)
            return outputs
        request = _Request(rows, Future())
        with self._condition:
            self._pending.append(request)
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._loop, name="electra-batcher", daemon=True)
                self._worker.start()
            self._condition.notify()
        return request.future.result()

    def _loop(self) -> None:
        while True:
            with self._condition:
                while not self._pending:
                    if not self._condition.wait(timeout=30):
                        self._worker = None  # idle: let the thread end; the next call starts one
                        return
                taken, self._pending = self._pending, []
            self._serve(taken)

    def _serve(self, requests: list[_Request]) -> None:
        rows = [row for request in requests for row in request.rows]
        try:
            outputs = run_rows(self._run, rows, self.per_token, self.pad_id, self.max_rows, self.max_tokens)
        except Exception as error:  # noqa: BLE001 - retried alone, so one failing request fails alone
            if len(requests) == 1:
                requests[0].future.set_exception(error)
                return
            for request in requests:
                self._serve([request])
            return
        self.batches_run += 1
        self.largest_batch = max(self.largest_batch, len(rows))
        self._observe(rows)
        start = 0
        for request in requests:
            request.future.set_result(outputs[start : start + len(request.rows)])
            start += len(request.rows)
