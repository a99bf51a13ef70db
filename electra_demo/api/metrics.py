"""``GET /metrics``: the server's metrics in Prometheus' text format, with ``prometheus-client``.

Each API app has its own registry (not the library's global default one), so several apps in one
process (tests, an app rebuilt around the same service) never collide, and each counts its own
requests; what the service reports (:mod:`electra_demo.runtime.telemetry`: batches, loads,
exports, training runs) reaches every app built around it. Every name starts ``electra_demo_``:

- ``requests_total{route, status}`` and ``request_duration_seconds{route}`` (a histogram): this
  app's answers (``/v1/*``, ``/health``, ``/metrics``), refusals at the edge included;
- ``requests_in_flight`` and ``batch_queue_rows{model}``: read at each scrape;
- ``batch_rows{model}`` (rows per micro-batch) and ``tokens_total{model}`` (tokens the models
  read, padding left out): the page's work as well as the API's;
- ``model_load_seconds{model}`` and ``model_export_seconds{model}`` (histograms; a load includes an
  export made during it); ``training_runs_total{kind, outcome}``.

Labels are bounded and never hold user text or a key: a route is its template (an unknown path is
``other``), a model its slot (``trained`` for every visitor's model). ``/metrics`` needs a key when
the API has keys, or its own when ``ELECTRA_DEMO_METRICS_KEY`` is set (the edge checks it).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping

from fastapi import APIRouter
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from starlette.responses import Response

from electra_demo.api.edge import ASGIApp, Message, Receive, Scope, Send
from electra_demo.api.security import KEYS_VAR, InFlight, Keys
from electra_demo.finetune.jobs import OUTCOMES
from electra_demo.runtime.telemetry import model_label
from electra_demo.service import ModelService
from electra_demo.trained.kinds import KINDS

PATH = "/metrics"
KEY_VAR = "ELECTRA_DEMO_METRICS_KEY"
OTHER = "other"  # the route label of a path the app does not serve
SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
LOAD_SECONDS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
ROWS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


def scrape_keys(environ: Mapping[str, str], api_keys: Keys) -> Keys:
    """Who may read ``/metrics``: ``ELECTRA_DEMO_METRICS_KEY``'s key(s) (comma-separated) when set,
    else the API's keys (none: open)."""
    own = environ.get(KEY_VAR, "").strip()
    return Keys.from_environ({KEYS_VAR: own}) if own else api_keys


class Metrics:
    """One app's registry, its metrics, and a listener of its service's telemetry."""

    def __init__(self, service: ModelService, in_flight: InFlight, routes: Iterable[str]):
        self.routes = frozenset(routes)
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "electra_demo_requests", "API answers by route and status.", ["route", "status"], registry=r
        )
        self.latency = Histogram(
            "electra_demo_request_duration_seconds",
            "Time to answer, by route.",
            ["route"],
            buckets=SECONDS,
            registry=r,
        )
        self.rows = Histogram(
            "electra_demo_batch_rows", "Rows per micro-batch, by model.", ["model"], buckets=ROWS, registry=r
        )
        self.tokens = Counter(
            "electra_demo_tokens", "Tokens the models read (no padding), by model.", ["model"], registry=r
        )
        self.loads = Histogram(
            "electra_demo_model_load_seconds",
            "Time to load a model, any export made meanwhile included.",
            ["model"],
            buckets=LOAD_SECONDS,
            registry=r,
        )
        self.exports = Histogram(
            "electra_demo_model_export_seconds",
            "Time to export a model to ONNX.",
            ["model"],
            buckets=LOAD_SECONDS,
            registry=r,
        )
        self.trainings = Counter(
            "electra_demo_training_runs",
            "Training runs ended, by kind and outcome.",
            ["kind", "outcome"],
            registry=r,
        )
        for kind in KINDS:  # every pair shows from the start, at 0
            for outcome in OUTCOMES:
                self.trainings.labels(kind, outcome)
        r.register(Live(service, in_flight))
        service.telemetry.subscribe(self)

    def route(self, path: str) -> str:
        return path if path in self.routes else OTHER

    def answered(self, path: str, status: int, seconds: float) -> None:
        route = self.route(path)
        self.requests.labels(route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    # ---- the telemetry's listener (runtime.telemetry.Sink) --------------------------------------
    def batch(self, model: str, rows: int, tokens: int) -> None:
        self.rows.labels(model).observe(rows)
        self.tokens.labels(model).inc(tokens)

    def load(self, model: str, seconds: float) -> None:
        self.loads.labels(model).observe(seconds)

    def export(self, model: str, seconds: float) -> None:
        self.exports.labels(model).observe(seconds)

    def training(self, kind: str, outcome: str) -> None:
        self.trainings.labels(kind, outcome).inc()

    def exposition(self) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


class Live:
    """The gauges read at each scrape: requests in flight, rows waiting in each model's batcher."""

    def __init__(self, service: ModelService, in_flight: InFlight):
        self.service = service
        self.in_flight = in_flight

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "electra_demo_requests_in_flight", "API requests being served now.", value=self.in_flight.count
        )
        waiting: dict[str, int] = {}
        seen: set[int] = set()
        for key, loaded in self.service.loaded_models().items():
            batcher = loaded.batcher
            if batcher is None or id(batcher) in seen:
                continue
            seen.add(id(batcher))
            label = model_label(key)
            waiting[label] = waiting.get(label, 0) + batcher.queued
        queue = GaugeMetricFamily(
            "electra_demo_batch_queue_rows", "Rows waiting for a micro-batch, by model.", labels=["model"]
        )
        for label, rows in sorted(waiting.items()):
            queue.add_metric([label], rows)
        yield queue


class Measure:
    """ASGI middleware, outside the edge: every answer's route, status and time, into ``metrics``."""

    def __init__(self, app: ASGIApp, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless an answer starts: an error no handler caught

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            self.metrics.answered(scope["path"], status, time.perf_counter() - started)


def metrics_router(metrics: Metrics) -> APIRouter:
    router = APIRouter()

    @router.get(PATH, include_in_schema=False)
    async def scrape() -> Response:
        """Prometheus' text format (see the module's docstring)."""
        return metrics.exposition()

    return router
