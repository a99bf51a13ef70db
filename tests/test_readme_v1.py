"""The docs' /v1 snippets (every ``py`` block, and every ``bash`` block that calls ``/v1/`` or
``/health``, in ``README.md`` and each ``docs/*.md``) run against the page and API served together
on small checkpoints, with a key, so they never go stale."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from electra_demo import config
from electra_demo.service import ModelService
from tests.helpers.docs import ADDRESS, Block, run_python, text, v1_blocks
from tests.helpers.serving import serve

V1 = text("docs/v1.md")
PYTHON = [block for block in v1_blocks() if block.language == "py"]
BASH = [block for block in v1_blocks() if block.language == "bash"]
KEY = "YOUR_KEY"


@pytest.fixture(scope="module")
def keyed(service: ModelService):
    with serve(service, {"ELECTRA_DEMO_API_KEYS": KEY}) as base:
        yield base


def localise(snippet: str, base: str, service: ModelService) -> str:
    """The snippet on this server: its address, and each slot's Hub id as its tiny checkpoint."""
    assert ADDRESS in snippet
    snippet = snippet.replace(ADDRESS, base)
    for name, slot in config.REGISTRY.items():
        snippet = snippet.replace(slot.hub_id, service.resolve(name).source)
    return snippet


def test_v1_doc_has_openai_and_curl_snippets():
    here = [block for block in v1_blocks() if block.path.name == "v1.md"]
    python = [block.code for block in here if block.language == "py"]
    assert len(python) >= 2 and any(block.language == "bash" for block in here)
    assert any("from openai import OpenAI" in s and "embeddings.create" in s for s in python)
    assert any("/v1/classify" in s for s in python)
    for variable in ("ELECTRA_DEMO_API_KEYS", "ELECTRA_DEMO_API_KEYS_FILE", "ELECTRA_DEMO_RATE_LIMIT"):
        assert variable in V1
    assert "secret" in V1 and "/v1/docs" in V1


@pytest.mark.parametrize("block", PYTHON, ids=[block.id for block in PYTHON])
def test_python_snippet_runs(block: Block, keyed: str, service: ModelService):
    assert run_python(block, localise(block.code, keyed, service)).strip()


@pytest.mark.parametrize("block", BASH, ids=[block.id for block in BASH])
def test_curl_snippet_runs(block: Block, keyed: str, service: ModelService):
    if not shutil.which("curl"):
        pytest.skip("curl is not installed")
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", localise(block.code, keyed, service)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    replies = [json.loads(line) for line in done.stdout.replace("}{", "}\n{").splitlines() if line.strip()]
    assert replies and all("error" not in reply for reply in replies), done.stdout
    if "/v1/detect" in block.code:
        detect = next(r for r in replies if r.get("data") and "tokens" in r["data"][0])
        assert detect["model"] == service.resolve("discriminator").source
    if "/health" in block.code:
        assert any(r.get("status") == "ok" for r in replies)
