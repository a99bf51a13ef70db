"""The app as an MCP server: every documented endpoint is a tool, described from its docstring."""

from __future__ import annotations

import httpx
import pytest

from electra_demo.page.demo import build_demo, launch_kwargs

ENDPOINTS = {
    "detect": ["text", "threshold", "model"],
    "corrupt": ["text", "fraction", "seed", "model"],
    "proofread": ["text", "threshold", "top_k", "model"],
    "classify": ["head", "text", "text_pair"],
    "zeroshot": ["text", "candidate_labels", "hypothesis_template", "method", "multi_label"],
    "tag": ["text", "aggregation", "model"],
    "answer": [
        "question",
        "context",
        "top_k",
        "max_answer_len",
        "handle_impossible_answer",
        "max_seq_len",
        "doc_stride",
        "model",
    ],
    "batch": [
        "file",
        "task",
        "text_column",
        "pair_column",
        "question_column",
        "context_column",
        "head",
        "aggregation",
        "threshold",
        "top_k",
    ],
    "explain": ["task", "text", "text_pair", "target", "method", "steps"],
    "rerank": ["query", "documents", "top_n"],
    "finetune": [
        "file",
        "text_column",
        "label_column",
        "pair_column",
        "base",
        "mode",
        "epochs",
        "learning_rate",
        "batch_size",
        "max_length",
        "eval_fraction",
        "seed",
    ],
    "finetune_tag": [
        "file",
        "base",
        "mode",
        "epochs",
        "learning_rate",
        "batch_size",
        "max_length",
        "eval_fraction",
        "seed",
    ],
    "finetune_qa": [
        "file",
        "base",
        "mode",
        "epochs",
        "learning_rate",
        "batch_size",
        "max_length",
        "doc_stride",
        "eval_fraction",
        "seed",
    ],
    "adapt": [
        "file",
        "text_column",
        "steps",
        "learning_rate",
        "batch_size",
        "max_length",
        "mask_fraction",
        "eval_fraction",
        "seed",
    ],
}


@pytest.fixture(scope="module")
def mcp_url(service):
    demo = build_demo(service)
    demo.launch(prevent_thread_lock=True, quiet=True, mcp_server=True, **launch_kwargs())
    try:
        yield demo.local_url + "gradio_api/mcp/"
    finally:
        demo.close()


def test_mcp_schema_lists_every_documented_endpoint(mcp_url):
    reply = httpx.get(mcp_url + "schema", timeout=30)
    assert reply.status_code == 200
    tools = {tool["name"]: tool for tool in reply.json()}
    assert set(tools) == set(ENDPOINTS)  # helpers (links, examples, status) are not tools
    for name, parameters in ENDPOINTS.items():
        tool = tools[name]
        assert len(tool["description"]) > 40
        properties = tool["inputSchema"]["properties"]
        assert list(properties) == parameters
        for parameter in parameters:
            description = properties[parameter].get("description", "")
            assert len(description) > 10, (name, parameter)
            assert description.rstrip().endswith((".", ")")), (name, parameter, description)  # not cut


def test_mcp_endpoint_answers_the_protocol(mcp_url):
    """An MCP client's first request (initialize) over streamable HTTP gets a JSON-RPC answer."""
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-03-26",
            "capabilities": {},
            "clientInfo": {"name": "electra-demo-tests", "version": "0"},
        },
    }
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    reply = httpx.post(mcp_url, json=body, headers=headers, timeout=30)
    assert reply.status_code == 200
    assert '"serverInfo"' in reply.text and '"tools"' in reply.text
