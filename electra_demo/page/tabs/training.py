"""What the training tabs (Fine-tune, Adapt) share: one endpoint maker, one settings block, the
stream of a run's updates, clean errors, the upload's path and the Cancel button.

A training endpoint is made from its kind's *plan function*: a function whose signature (names,
order, defaults) and docstring are the endpoint's public Gradio API, and whose body checks the
settings and reads the upload into a plan for the training queue (:mod:`electra_demo.finetune.jobs`).
:meth:`Training.endpoint` turns it into the streaming handler: it adds the request and the progress
bar, queues the plan, honours a Cancel pressed meanwhile and streams the run as the kind's
:class:`Results` show it. A tab's inputs are found by those parameter names (:func:`inputs_for`)
and its settings start at those defaults (:func:`parameter_defaults`), so neither can drift from
the signature.
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
import typing
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import gradio as gr
from gradio.components import Component

from electra_demo.checks import InputError
from electra_demo.finetune import views
from electra_demo.finetune.data import TrainingPlan
from electra_demo.finetune.jobs import Run, TrainingFailed, Trainings
from electra_demo.optional import MissingDependency
from electra_demo.page.cancels import Cancels
from electra_demo.page.tabs.common import RAW, enqueued_at
from electra_demo.service import ModelUnavailable

log = logging.getLogger(__name__)

PlanFunction = Callable[..., TrainingPlan]  # an endpoint's public signature and docstring -> its plan


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


def owner_of(request: gr.Request | None) -> str:
    """The browser session a run belongs to ("" over the API without one: nobody can cancel it)."""
    return (request.session_hash if request else "") or ""


def zip_of(run: Run) -> str | None:
    """The finished run's zip (None: no model was kept)."""
    return str(run.zip_path) if run.zip_path else None


@dataclass(frozen=True)
class Results:
    """How one kind's endpoint shows its run. Its outputs are the status line, then what
    ``training`` gives while it waits or trains, then the JSON; at the end ``finished`` gives all."""

    status_line: Callable[[Mapping[str, Any]], str]
    training: Callable[[list[dict[str, Any]], bool], tuple]  # (history so far, first update?) -> values
    finished: Callable[[Run, float], tuple]  # (the ended run, the models' time to live in hours) -> all


def follow(run: Run, progress: gr.Progress, ttl_hours: float, results: Results) -> Iterator[tuple]:
    """The endpoint's updates for one run: its queue position or progress, then its results."""
    first = True
    try:
        for shown, changed in run.follow():
            if run.finished:
                break
            if not changed:
                yield gr.skip()  # lets Gradio close this generator promptly (cancel, disconnect)
                continue
            line = results.status_line(shown)
            progress(views.progress_fraction(shown) or 0.0, desc=line, unit="steps")
            yield line, *results.training(run.history, first), shown
            first = False
        yield results.finished(run, ttl_hours)
    finally:
        if not run.finished:
            run.cancel()  # the visitor left or cancelled the request: the child stops too
        run.release()  # Gradio has copied the zip by the time the generator resumes


def parameter_names(plan: PlanFunction) -> list[str]:
    """The endpoint's parameters, in order (its inputs)."""
    return list(inspect.signature(plan).parameters)


def parameter_defaults(plan: PlanFunction) -> dict[str, Any]:
    """The endpoint's documented defaults, by parameter."""
    parameters = inspect.signature(plan).parameters.values()
    return {p.name: p.default for p in parameters if p.default is not inspect.Parameter.empty}


def inputs_for(plan: PlanFunction, controls: Mapping[str, Component]) -> list[Component]:
    """The components that feed ``plan``'s endpoint, in its signature's order."""
    missing = [name for name in parameter_names(plan) if name not in controls]
    if missing:
        raise ValueError(
            f"{plan.__name__} takes {missing}, which the tab does not offer; it offers {sorted(controls)}"
        )
    return [controls[name] for name in parameter_names(plan)]


def streaming_signature(plan: PlanFunction) -> inspect.Signature:
    """``plan``'s signature with the request and the progress bar (found by Gradio by their
    annotation and default) added, and no return annotation (the endpoint streams)."""
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    extra = [
        inspect.Parameter("request", kind, default=None, annotation=gr.Request),
        inspect.Parameter("progress", kind, default=gr.Progress()),
    ]
    public = inspect.signature(plan)
    return public.replace(parameters=[*public.parameters.values(), *extra], return_annotation=public.empty)


@dataclass(frozen=True)
class Training:
    """What a training tab's endpoints run on: the training queue and the tab's Cancel requests."""

    trainings: Trainings
    cancels: Cancels

    @property
    def ttl_hours(self) -> float:
        return self.trainings.store.ttl / 3600

    def submit(self, plan: TrainingPlan, request: gr.Request | None, since: float) -> Run:
        """Queue ``plan`` for the request's session; cancelled at once if Cancel came since ``since``."""
        owner = owner_of(request)
        run = self.trainings.submit(plan, owner=owner)
        if self.cancels.requested_since(owner, since):
            run.cancel()  # Cancel came while the file was read: the run ends "cancelled" at once
        return run

    def endpoint(self, plan: PlanFunction, results: Results) -> Callable[..., Iterator[tuple]]:
        """The streaming endpoint of ``plan``: its name, docstring and parameters, plus the request
        and the progress bar; it queues the plan and streams the run (see the module's docstring)."""
        signature = streaming_signature(plan)

        def stream(*args: Any, **kwargs: Any) -> Iterator[tuple]:
            since = enqueued_at()  # a Cancel pressed from now on stops this run, even before it is queued
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            request, progress = bound.arguments.pop("request"), bound.arguments.pop("progress")
            run = self.submit(plan(**bound.arguments), request, since)
            yield from follow(run, progress, self.ttl_hours, results)

        for name in ("__module__", "__name__", "__qualname__", "__doc__"):
            setattr(stream, name, getattr(plan, name))
        hints = typing.get_type_hints(plan)
        hints.pop("return", None)
        stream.__annotations__ = {**hints, "request": gr.Request}
        stream.__signature__ = signature  # type: ignore[attr-defined]
        return stream_errors(stream)

    def cancel_handler(self, tasks: Collection[str], doc: str) -> Callable[[gr.Request], None]:
        """The Cancel button's handler: this session's waiting requests and its runs of ``tasks``."""

        def cancel(request: gr.Request) -> None:
            owner = owner_of(request)
            self.cancels.cancel(owner)  # also a run whose request is still being read
            for run in self.trainings.active():
                if owner and run.owner == owner and run.plan.task in tasks:
                    run.cancel()

        cancel.__doc__ = doc
        return cancel


def wire_run(
    button: gr.Button, handler: Callable, inputs: list[Component], outputs: list[Component], api_name: str
) -> None:
    """A Train button: the named endpoint, its progress shown on its first output (the status)."""
    button.click(
        handler,
        inputs,
        outputs,
        api_name=api_name,
        concurrency_limit=None,  # every request reaches the training queue, which is bounded itself
        show_progress_on=[outputs[0]],
        **RAW,
    )


def wire_cancel(button: gr.Button, handler: Callable[[gr.Request], None], api_name: str) -> None:
    """A Cancel button: an undocumented endpoint outside the queue (it must not wait behind runs)."""
    button.click(handler, None, None, api_name=api_name, api_visibility="undocumented", queue=False)


# ---- the settings block ---------------------------------------------------------------------
@dataclass(frozen=True)
class Knob:
    """One numeric setting's control: the endpoint parameter it feeds, its label, the end of its
    ``elem_id``, and a slider's range and step (no range: a number box)."""

    name: str
    label: str
    elem: str
    span: tuple[float, float] | None = None
    step: float | None = None
    precision: int | None = None  # a number box's: 0 for whole numbers
    visible: bool = True

    def make(self, tab: str, value: Any) -> Component:
        if self.span is None:
            return gr.Number(value, label=self.label, precision=self.precision, elem_id=f"{tab}-{self.elem}")
        low, high = self.span
        return gr.Slider(
            low,
            high,
            value=value,
            step=self.step,
            label=self.label,
            visible=self.visible,
            elem_id=f"{tab}-{self.elem}",
        )


LEARNING_RATE = Knob("learning_rate", "Learning rate", "learning-rate")
SEED = Knob("seed", "Seed", "seed", precision=0)


def batch_size(span: tuple[int, int]) -> Knob:
    return Knob("batch_size", "Batch size", "batch", span, 1)


def max_length(span: tuple[int, int]) -> Knob:
    return Knob("max_length", "Max length (tokens)", "max-length", span, 8)


def eval_fraction(span: tuple[float, float]) -> Knob:
    return Knob("eval_fraction", "Held out (eval_fraction)", "fraction", span, 0.05)


Layout = Sequence[Sequence[Knob] | Knob]  # rows of knobs; a bare knob stands on its own line


def settings_block(tab: str, layout: Layout, defaults: Mapping[str, Any]) -> dict[str, Component]:
    """The settings' controls, laid out in rows, each starting at its endpoint's default; by name."""
    controls: dict[str, Component] = {}
    for line in layout:
        if isinstance(line, Knob):
            controls[line.name] = line.make(tab, defaults[line.name])
            continue
        with gr.Row():
            for knob in line:
                controls[knob.name] = knob.make(tab, defaults[knob.name])
    return controls
