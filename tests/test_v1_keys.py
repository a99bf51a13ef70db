"""Keys, the rate limit, the in-flight bound and the body limit at the /v1 edge."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest

from electra_demo import config
from electra_demo.api import create_api
from electra_demo.api.edge import Edge
from electra_demo.api.security import Guard, InFlight, Keys, RateLimiter, SettingsError
from electra_demo.service import ModelService
from tests.helpers.serving import serve

KEYS = {"ELECTRA_DEMO_API_KEYS": "sk-first, sk-second", "ELECTRA_DEMO_RATE_LIMIT": "3"}
ROUTES = [
    ("GET", "/v1/models"),
    ("POST", "/v1/embeddings"),
    ("POST", "/v1/classify"),
    ("POST", "/v1/detect"),
    ("POST", "/v1/tag"),
    ("POST", "/v1/answer"),
    ("GET", "/v1/openapi.json"),
    ("GET", "/v1/docs"),
    ("GET", "/v1/no-such-route"),
]


@pytest.fixture(scope="module")
def keyed(service: ModelService):
    with serve(service, KEYS) as base:
        yield base


def test_every_v1_route_needs_a_key_and_health_does_not(keyed):
    for method, path in ROUTES:
        for headers in ({}, {"Authorization": "Bearer sk-wrong"}, {"Authorization": "Basic sk-first"}):
            reply = httpx.request(method, keyed + path, headers=headers, json={}, timeout=30)
            assert reply.status_code == 401, (method, path, headers)
            error = reply.json()["error"]
            assert error["type"] == "invalid_request_error" and "sk-" not in error["message"]
            assert reply.headers["x-request-id"]
    assert httpx.get(keyed + "/health").status_code == 200
    assert httpx.get(keyed + "/").status_code == 200  # the page is not behind the API's keys


def test_openai_client_with_keys_and_each_error_class(keyed, caplog):
    caplog.set_level(logging.DEBUG)
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=keyed + "/v1", api_key="sk-wrong", max_retries=0).models.list()
    first = openai.OpenAI(base_url=keyed + "/v1", api_key="sk-first", max_retries=0)
    second = openai.OpenAI(base_url=keyed + "/v1", api_key="sk-second", max_retries=0)
    assert len(first.models.list().data) == len(config.REGISTRY)
    with pytest.raises(openai.NotFoundError):
        first.embeddings.create(model="gpt-4", input="x")
    with pytest.raises(openai.BadRequestError):
        first.embeddings.create(model="discriminator", input="x", dimensions=1)
    with pytest.raises(openai.RateLimitError) as limited:  # 3 a minute per key: this is the 4th
        first.embeddings.create(model="discriminator", input="x")
    retry = int(limited.value.response.headers["Retry-After"])
    assert 1 <= retry <= 20 and limited.value.body["code"] == "rate_limit_exceeded"
    assert second.embeddings.create(model="discriminator", input="x").data  # its own bucket
    assert "sk-first" not in caplog.text and "sk-second" not in caplog.text  # never logged


def test_keys_file_and_start_up_log(service, tmp_path, caplog):
    path = tmp_path / "keys.txt"
    path.write_text("# one a line\nsk-from-file\n\n")
    keys = Keys.from_environ({"ELECTRA_DEMO_API_KEYS_FILE": str(path), "ELECTRA_DEMO_API_KEYS": "sk-env"})
    assert keys.check("sk-from-file") and keys.check("sk-env") and not keys.check("sk-from")
    assert not keys.check("# one a line")
    with pytest.raises(SettingsError, match="cannot be read"):
        create_api(service, {"ELECTRA_DEMO_API_KEYS_FILE": str(tmp_path / "missing")})
    with pytest.raises(SettingsError, match="ELECTRA_DEMO_RATE_LIMIT"):
        create_api(service, {"ELECTRA_DEMO_RATE_LIMIT": "fast"})
    with caplog.at_level(logging.INFO):
        create_api(service, {})
        create_api(service, {"ELECTRA_DEMO_API_KEYS_FILE": str(path)})
    assert "is OPEN" in caplog.text and "needs one of 1 API key" in caplog.text
    assert "sk-from-file" not in caplog.text


def test_token_bucket_refills_and_reports_the_wait():
    now = [0.0]
    limiter = RateLimiter(per_minute=6, clock=lambda: now[0])  # one every 10 s, bursts of 6
    assert all(limiter.take("a") is None for _ in range(6))
    assert limiter.take("a") == 10
    assert limiter.take("b") is None  # another caller has its own bucket
    now[0] = 5.0
    assert limiter.take("a") == 5
    now[0] = 10.0
    assert limiter.take("a") is None and limiter.take("a") == 10
    assert RateLimiter(per_minute=0).take("a") is None  # 0 turns it off
    small = RateLimiter(per_minute=1, max_callers=2, clock=lambda: now[0])
    for caller in ("x", "y", "z"):
        small.take(caller)
    assert len(small._buckets) == 2  # the least recently seen is forgotten


def test_past_the_in_flight_bound_is_503_with_retry_after():
    """The edge itself, around an app whose requests wait until released."""
    release = asyncio.Event()
    started = asyncio.Event()

    async def slow(scope, receive, send):
        started.set()
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    guard = Guard(keys=Keys(), limiter=RateLimiter(0), in_flight=InFlight(1))
    edge = Edge(slow, guard, max_body=100)

    async def scenario():
        transport = httpx.ASGITransport(app=edge)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            first = asyncio.create_task(client.post("/v1/embeddings", json={}))
            await started.wait()
            busy = await client.post("/v1/embeddings", json={})
            too_big = await client.post("/v1/embeddings", content=b"x" * 101)
            release.set()
            return await first, busy, too_big

    # a fresh loop in its own thread: an earlier test (Playwright's sync API) may leave a
    # running loop on the main thread, where asyncio.run refuses to start
    with ThreadPoolExecutor(1) as pool:
        first, busy, too_big = pool.submit(asyncio.run, scenario()).result(timeout=60)
    assert first.status_code == 200 and guard.in_flight.count == 0
    assert busy.status_code == 503 and busy.headers["Retry-After"] == "1"
    assert busy.json()["error"]["code"] == "overloaded" and busy.headers["x-request-id"]
    assert too_big.status_code == 413
