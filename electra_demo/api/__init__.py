"""A plain JSON API under ``/v1`` (OpenAI's and vLLM's shapes) beside the page, on its port.

:func:`create_api` builds the API app around the page's own :class:`ModelService` (so both share
models and micro-batchers); :func:`electra_demo.api.mount.app_kwargs` puts it in front of the
Gradio app that ``Blocks.launch`` starts, and ``app.py`` does that for ``python app.py``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from electra_demo import __version__, config
from electra_demo.api.catalog import Catalog, trained_kinds
from electra_demo.api.edge import Edge
from electra_demo.api.errors import install_handlers
from electra_demo.api.metrics import PATH as METRICS_PATH
from electra_demo.api.metrics import Measure, Metrics, metrics_router, scrape_keys
from electra_demo.api.routes import build_router, health_router
from electra_demo.api.schemas import MAX_BODY_BYTES
from electra_demo.api.security import Guard
from electra_demo.service import ModelService
from electra_demo.trained import kinds

log = logging.getLogger(__name__)

DESCRIPTION = (
    "ELECTRA's models over plain JSON. `/v1/models` and `/v1/embeddings` follow OpenAI's API (the "
    "official `openai` client works unchanged), `/v1/classify` follows vLLM's, and `/v1/detect`, "
    "`/v1/tag` and `/v1/answer` return the page's JSON for each input, and `/v1/explain` the page's "
    "/explain JSON for one input, as does `/v1/proofread` its /proofread JSON; `/v1/rerank` "
    "takes Cohere's and Jina's rerank body and `/v1/score` "
    "vLLM's, as do `/v1/tokenize` and `/v1/detokenize`. When the server has API keys, "
    "every `/v1` route (these docs included) needs `Authorization: Bearer <key>`, and so does "
    "`/metrics` (Prometheus' text format; or its own key); `/health` never does. "
    'Errors always read `{"error": {"message", "type", "param", "code"}}`.'
)


def create_api(service: ModelService, environ: Mapping[str, str] | None = None) -> FastAPI:
    """The ``/v1`` API and ``/health`` around ``service``, behind the edge (keys, rate, size,
    in-flight bound); settings come from ``environ`` (default: the process environment)."""
    environ = os.environ if environ is None else environ
    guard = Guard.from_environ(environ)
    (log.warning if not guard.keys.required else log.info)(guard.describe())
    app = FastAPI(
        title="ELECTRA demo API",
        version=__version__,
        description=DESCRIPTION,
        openapi_url="/v1/openapi.json",
        docs_url="/v1/docs",
        redoc_url=None,
    )
    install_handlers(app)
    catalog = Catalog(service.resolve)
    routers = [build_router(service, catalog, config.CONCURRENCY), health_router(service)]
    for router in routers:
        app.include_router(router)
    paths = [route.path for router in routers for route in router.routes]  # /metrics' route labels
    metrics = Metrics(service, guard.in_flight, [*paths, app.openapi_url, app.docs_url, METRICS_PATH])
    app.include_router(metrics_router(metrics))
    app.openapi = lambda: openapi(app, guard, catalog)  # type: ignore[method-assign]
    keys = {METRICS_PATH: scrape_keys(environ, guard.keys)}
    app.add_middleware(
        Edge, guard=guard, max_body=MAX_BODY_BYTES, path_keys=keys, precision=lambda: service.precision
    )
    app.add_middleware(Measure, metrics=metrics)  # outermost: the edge's refusals are counted too
    app.state.guard = guard
    app.state.metrics = metrics  # the app holds its metrics (the service's telemetry, weakly)
    return app


def finetuned_id(*tasks: str) -> dict[str, str]:
    """The schema of the ids of the kinds ``tasks`` of trained model (any kind's for none)."""
    return {"type": "string", "pattern": f"^{kinds.id_pattern(*tasks)}$"}


REQUESTS = {  # request schema -> its route, for the models each takes
    "EmbeddingRequest": "/v1/embeddings",
    "ClassifyRequest": "/v1/classify",
    "DetectRequest": "/v1/detect",
    "TagRequest": "/v1/tag",
    "AnswerRequest": "/v1/answer",
    "RerankRequest": "/v1/rerank",
    "ScoreRequest": "/v1/score",
    "TokenizeRequest": "/v1/tokenize",
    "DetokenizeRequest": "/v1/detokenize",
}


def openapi(app: FastAPI, guard: Guard, catalog: Catalog) -> dict[str, Any]:
    """FastAPI's document, told what this server does: a bad request is a 400 (not FastAPI's
    422), the key is required only when the server has keys, and each route's ``model`` lists
    the names it takes (slot names and checkpoint ids)."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        for path in schema.get("paths", {}).values():
            for operation in path.values():
                operation.get("responses", {}).pop("422", None)
                if not guard.keys.required:
                    operation.pop("security", None)
        components = schema.get("components", {})
        if not guard.keys.required:
            components.pop("securitySchemes", None)
        for name in ("HTTPValidationError", "ValidationError"):
            components.get("schemas", {}).pop(name, None)
        for name, route in REQUESTS.items():
            model = components["schemas"][name]["properties"]["model"]
            model.pop("type", None)
            names = {"type": "string", "enum": catalog.names(route)}
            # a trained model's id is taken too (never listed: it is its trainer's to share)
            served = trained_kinds(route)
            if served:
                model["anyOf"] = [names, finetuned_id(*served)]
            else:
                model.update(names)
            body = components["schemas"][name]
            body["examples"] = [{key: body["properties"][key]["examples"][0] for key in body["required"]}]
        app.openapi_schema = schema
    return app.openapi_schema
