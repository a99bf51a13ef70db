"""GET /metrics: Prometheus' text format, read back with prometheus_client's own parser over plain
HTTP. Its counters move with the requests made (routes, statuses, latency, tokens, micro-batches,
model loads and exports, training runs); it needs the API's key, or its own; no label holds user
text or a key; and each app has its own registry."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from electra_demo import config
from electra_demo.api import create_api
from electra_demo.config import ResolvedSlot, Slot
from electra_demo.finetune import data, jobs
from electra_demo.runtime import backends
from electra_demo.service import ModelService
from electra_demo.trained.store import Store
from tests.helpers.serving import serve
from tests.helpers.training import stub_python

API_KEY, SCRAPE_KEY = "sk-api-29", "sk-scrape-29"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
SECRET = "SECRET-USER-TEXT-29"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture(scope="module")
def metered(tiny_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelService]:
    """A service of its own (so its loads happen here) whose ONNX export is a stand-in that takes no
    time and leaves nothing: each slot then serves from PyTorch, as after a failed export."""
    cache = tmp_path_factory.mktemp("metrics-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(backends, "export_onnx", lambda *args, **kwargs: None)
        yield ModelService(environ={**tiny_env, "ELECTRA_DEMO_CACHE": str(cache)})


@pytest.fixture(scope="module")
def keyed(metered: ModelService) -> Iterator[str]:
    with serve(metered, {"ELECTRA_DEMO_API_KEYS": API_KEY, "ELECTRA_DEMO_RATE_LIMIT": "0"}) as base:
        yield base


def scrape(base: str, headers: dict[str, str] = AUTH) -> Samples:
    """Every sample of /metrics by name and labels, read with prometheus_client's parser."""
    reply = httpx.get(base + "/metrics", headers=headers, timeout=60)
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(reply.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def classify(base: str, body: dict) -> httpx.Response:
    return httpx.post(base + "/v1/classify", headers=AUTH, json=body, timeout=60)


def test_counters_move_with_the_requests_made(keyed):
    before = scrape(keyed)
    texts = ["A wonderful film.", "Dull."]
    done = classify(keyed, {"model": "sentiment", "input": texts})
    assert done.status_code == 200
    assert classify(keyed, {"model": "sentiment"}).status_code == 400
    assert classify(keyed, {"model": "x", "input": "a"}).status_code == 404
    assert httpx.post(keyed + "/v1/tokenize", json={"prompt": "a"}).status_code == 401
    assert httpx.get(keyed + f"/v1/{SECRET}", headers=AUTH).status_code == 404
    after = scrape(keyed)
    requests, route = "electra_demo_requests_total", "/v1/classify"
    for status in ("200", "400", "404"):
        assert moved(before, after, requests, route=route, status=status) == 1
    assert moved(before, after, requests, route="/v1/tokenize", status="401") == 1
    assert moved(before, after, requests, route="other", status="404") == 1
    assert moved(before, after, requests, route="/metrics", status="200") == 1  # the first scrape
    assert moved(before, after, "electra_demo_request_duration_seconds_count", route=route) == 3
    assert moved(before, after, "electra_demo_request_duration_seconds_sum", route=route) > 0
    tokens = done.json()["usage"]["total_tokens"]
    assert moved(before, after, "electra_demo_tokens_total", model="sentiment") == tokens
    assert moved(before, after, "electra_demo_batch_rows_count", model="sentiment") == 1  # one batch
    assert moved(before, after, "electra_demo_batch_rows_sum", model="sentiment") == 2  # of both rows
    assert value(after, "electra_demo_model_load_seconds_count", model="sentiment") == 1  # loaded once
    assert value(after, "electra_demo_model_export_seconds_count", model="sentiment") == 1
    assert value(after, "electra_demo_model_load_seconds_sum", model="sentiment") > 0
    assert value(after, "electra_demo_requests_in_flight") == 1  # this scrape
    assert value(after, "electra_demo_batch_queue_rows", model="sentiment") == 0


def test_metrics_need_the_api_key_and_never_label_user_text_or_a_key(keyed):
    for headers in ({}, {"Authorization": "Bearer sk-wrong"}, {"Authorization": f"Basic {API_KEY}"}):
        refused = httpx.get(keyed + "/metrics", headers=headers)
        assert refused.status_code == 401 and refused.json()["error"]["type"] == "invalid_request_error"
        assert refused.headers["x-request-id"] and refused.headers["x-compute-time"].isdigit()
    assert httpx.get(keyed + "/health").status_code == 200  # still open
    httpx.post(keyed + "/v1/tokenize", headers=AUTH, json={"model": "ner", "prompt": SECRET})
    httpx.post(keyed + "/v1/embeddings", headers=AUTH, json={"model": "ner", "input": SECRET})
    httpx.get(keyed + f"/v1/models/{SECRET}", headers={"Authorization": f"Bearer {SECRET}"})
    text = httpx.get(keyed + "/metrics", headers=AUTH).text
    assert SECRET not in text and API_KEY not in text
    labels = {(label, v) for _, pairs in scrape(keyed) for label, v in pairs}
    served = set(httpx.get(keyed + "/v1/openapi.json", headers=AUTH).json()["paths"])
    assert {v for label, v in labels if label == "route"} <= served | {"/metrics", "/v1/docs", "other"}
    slots = {name + part for name in config.REGISTRY for part in ("", ":encoder", ":torch")}
    assert {"sentiment", "ner:encoder"} <= {v for label, v in labels if label == "model"} <= slots


def test_metrics_own_key_and_one_registry_per_app(metered):
    """Through the API app alone (httpx's ASGI transport): a second and third app on one service."""
    own = create_api(metered, {"ELECTRA_DEMO_API_KEYS": API_KEY, "ELECTRA_DEMO_METRICS_KEY": SCRAPE_KEY})
    other = create_api(metered, {})

    async def scenario() -> list[httpx.Response]:
        async with (
            httpx.AsyncClient(transport=httpx.ASGITransport(app=own), base_url="http://own") as a,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=other), base_url="http://other") as b,
        ):
            await b.get("/v1/models")
            return [
                await a.get("/metrics", headers={"Authorization": f"Bearer {SCRAPE_KEY}"}),
                await a.get("/metrics", headers=AUTH),  # the API's key is not the scrape key
                await a.get("/v1/models", headers={"Authorization": f"Bearer {SCRAPE_KEY}"}),  # nor back
                await a.get("/v1/models", headers=AUTH),
                await b.get("/metrics"),  # open, as its API
            ]

    with ThreadPoolExecutor(1) as pool:  # a fresh event loop (Playwright may hold this thread's)
        scraped, wrong, crossed, listed, open_scrape = pool.submit(asyncio.run, scenario()).result(60)
    assert scraped.status_code == 200 and wrong.status_code == 401 and crossed.status_code == 401
    assert listed.status_code == 200 and open_scrape.status_code == 200
    own_text, other_text = scraped.text, open_scrape.text
    assert 'route="/v1/models"' not in own_text  # the other app's request is the other app's
    assert 'electra_demo_requests_total{route="/v1/models",status="200"} 1.0' in other_text


def plan(tmp_path: Path, release: str) -> data.Plan:
    """A classification plan whose stand-in child ends as the file ``release`` says."""
    rows = "".join(f"text {i},{'ab'[i % 2]}\n" for i in range(6))
    base = ResolvedSlot(
        Slot("discriminator", "x", "t", "D", "apache-2.0", "pretraining"), "/nowhere", None, False, True
    )
    made = data.make_plan(
        f"text,label\n{rows}".encode(), "f.csv", "text", "label", "", data.Settings(), base, data.Limits()
    )
    made.file = str(tmp_path / release)
    return made


def test_training_runs_by_kind_and_outcome(keyed, metered, tmp_path):
    trainings = jobs.Trainings(
        Store(tmp_path / "store"),
        root=tmp_path / "runs",
        python=stub_python(tmp_path),
        telemetry=metered.telemetry,
    )
    before = scrape(keyed)
    (tmp_path / "done").write_text("done")
    (tmp_path / "fail").write_text("error")
    runs = [trainings.submit(plan(tmp_path, name)) for name in ("done", "fail", "never")]
    runs[2].cancel()
    for run in runs:
        for _ in run.follow(heartbeat=0.1):
            pass
    after = scrape(keyed)
    runs_total = "electra_demo_training_runs_total"
    for outcome in ("completed", "failed", "cancelled"):
        assert moved(before, after, runs_total, kind="classify", outcome=outcome) == 1, outcome
    assert value(after, runs_total, kind="adapt", outcome="time_limit") == 0  # every pair, from 0
