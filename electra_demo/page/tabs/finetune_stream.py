"""What every Fine-tune endpoint shares: clean error messages for a streaming handler, the
uploaded file's path and name, and the stream of one run's updates (its queue position, its
progress and loss curve, then its results as the run's kind shows them)."""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import gradio as gr

from electra_demo.checks import InputError
from electra_demo.finetune import views
from electra_demo.finetune.jobs import Run, TrainingFailed
from electra_demo.optional import MissingDependency
from electra_demo.service import ModelUnavailable

log = logging.getLogger(__name__)


def stream_errors(fn: Callable[..., Iterator]) -> Callable[..., Iterator]:
    """:func:`~electra_demo.page.tabs.common.user_errors` for a generator: clean messages, no traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            yield from fn(*args, **kwargs)
        except (InputError, ModelUnavailable, MissingDependency, TrainingFailed) as error:
            raise gr.Error(str(error), print_exception=False) from None
        except gr.Error:
            raise
        except Exception:
            log.exception("request failed in %s", fn.__name__)
            raise gr.Error(
                "Something went wrong while training; the error was logged. Please try again.",
                print_exception=False,
            ) from None

    return wrapper


def upload_of(file: object, what: str = "a CSV, TSV or JSONL file with texts and labels") -> tuple[str, str]:
    """The uploaded file's path on the server and the name the visitor gave it. The handler gets
    Gradio's raw value (its file data, already checked to be an upload) so that it can check every
    setting itself, with messages that name them."""
    if isinstance(file, dict):
        path = file.get("path")
        name = file.get("orig_name") or (os.path.basename(path) if isinstance(path, str) else "")
    else:
        path, name = file, os.path.basename(file) if isinstance(file, str) else ""
    if not isinstance(path, str) or not path:
        raise InputError(f"Please upload {what} first.")
    return path, name


@dataclass(frozen=True)
class Results:
    """How a kind of run shows its end: its metric outputs (placeholders while it trains, then
    from the metrics) and its summary line."""

    blank: tuple  # the metric outputs' values at the first update (None: a new plot later)
    final: Callable[[Any], tuple]  # metrics -> the metric outputs' values
    summary: Callable[[Mapping[str, Any], float], str]  # (result, ttl hours) -> Markdown


CLASSIFY = Results(
    (views.class_rows(None), None),
    lambda metrics: (views.class_rows(metrics), views.confusion_frame(metrics)),
    views.summary,
)


def follow(run: Run, progress: gr.Progress, ttl_hours: float, results: Results = CLASSIFY) -> Iterator[tuple]:
    """The endpoint's updates for one run: its queue position or progress, then its results
    (outputs: status, loss, the metric outputs, the zip, the JSON)."""
    first, skips = True, (gr.skip(),) * (len(results.blank) + 1)
    try:
        for shown, changed in run.follow():
            if run.finished:
                break
            if not changed:
                yield gr.skip()  # lets Gradio close this generator promptly (cancel, disconnect)
                continue
            fraction = views.progress_fraction(shown)
            progress(fraction or 0.0, desc=views.status_line(shown), unit="steps")
            blank = (*results.blank, None) if first else skips
            first = False
            yield views.status_line(shown), views.loss_frame(run.history), *blank, shown
        result = run.outcome()
        zip_path = str(run.zip_path) if run.zip_path else None
        yield (
            results.summary(result, ttl_hours),
            views.loss_frame(result["history"]),
            *results.final(result["metrics"]),
            zip_path,
            result,
        )
    finally:
        if not run.finished:
            run.cancel()  # the visitor left or cancelled the request: the child stops too
        run.release()  # Gradio has copied the zip by the time the generator resumes
