"""With the API mounted, the page, its deep links, its upload cap and MCP behave as before, and
page and API share one model service (their rows batch together)."""

from __future__ import annotations

import concurrent.futures
from urllib.parse import urlencode

import httpx
import pytest

TEXT = "The chef cooked the meal in the kitchen."
SERVE = {"environ": {"ELECTRA_DEMO_RATE_LIMIT": "0"}, "mcp_server": True}  # for conftest's url


def test_mcp_tools_beside_the_api(url):
    tools = {tool["name"] for tool in httpx.get(url + "/gradio_api/mcp/schema", timeout=30).json()}
    assert tools == {
        "detect",
        "corrupt",
        "proofread",
        "classify",
        "zeroshot",
        "rerank",
        "tag",
        "answer",
        "explain",
        "batch",
        "finetune",
        "finetune_tag",
        "finetune_qa",
        "adapt",
    }
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-03-26",
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "0"},
        },
    }
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    reply = httpx.post(url + "/gradio_api/mcp/", json=body, headers=headers, timeout=30)
    assert reply.status_code == 200 and '"serverInfo"' in reply.text
    assert httpx.get(url + "/v1/models").status_code == 200


def test_upload_cap_still_applies(url):
    big = ("row\n" * 700_000).encode()  # 2.8 MB, over the batch tab's 2 MB
    reply = httpx.post(
        url + "/gradio_api/upload", files={"files": ("big.txt", big, "text/plain")}, timeout=60
    )
    assert reply.status_code == 413


def test_page_and_api_share_the_service_and_its_batcher(url, service):
    from gradio_client import Client

    client = Client(url + "/", verbose=False)
    batcher = service.load("discriminator").batcher
    before = batcher.batches_run

    def page_call(i: int):
        return client.predict(f"{TEXT} {i}", 0.5, api_name="/detect")[-1]

    def api_call(i: int):
        return httpx.post(url + "/v1/detect", json={"input": f"{TEXT} {i}"}, timeout=60).json()["data"][0]

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        pages = list(pool.map(page_call, range(4)))
        apis = list(pool.map(api_call, range(4)))
    for i in range(4):
        assert [t["text"] for t in pages[i]["tokens"]] == [t["text"] for t in apis[i]["tokens"]]
        assert [t["probability"] for t in pages[i]["tokens"]] == pytest.approx(
            [t["probability"] for t in apis[i]["tokens"]], abs=1e-5
        )
    assert batcher.batches_run > before  # the same batcher served both


@pytest.mark.browser
def test_deep_link_opens_and_runs_with_the_api_mounted(page, url, service):
    expect = pytest.importorskip("playwright.sync_api").expect
    page.goto(url + "/?" + urlencode({"tab": "detect", "text": TEXT, "threshold": 0.6}))
    summary = page.locator("#detect-summary")
    expected = service.detect(TEXT, 0.6)
    expect(summary).to_contain_text(f"{len(expected.tokens)} tokens scored", timeout=30_000)
    expect(page.locator("#detect-text textarea")).to_have_value(TEXT)
    reply = httpx.post(url + "/v1/detect", json={"input": TEXT, "threshold": 0.6}, timeout=60).json()
    assert len(reply["data"][0]["tokens"]) == len(expected.tokens)
