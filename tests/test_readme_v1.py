"""The README's /v1 snippets (``py`` and ``bash`` blocks of its JSON API section) run against
the page and API served together on small checkpoints, with a key, so they never go stale."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from electra_demo import config
from electra_demo.service import ModelService
from tests.v1_helpers import serve

README = (Path(__file__).parent.parent / "README.md").read_text()
SECTION = README.split("## JSON API (`/v1`)", 1)[1].split("\n## ", 1)[0]
PYTHON = re.findall(r"```py\n(.*?)```", SECTION, flags=re.DOTALL)
BASH = re.findall(r"```bash\n(.*?)```", SECTION, flags=re.DOTALL)
KEY = "YOUR_KEY"
ADDRESS = "http://127.0.0.1:7860"


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


def test_section_has_openai_and_curl_snippets():
    assert len(PYTHON) >= 2 and BASH
    assert any("from openai import OpenAI" in s and "embeddings.create" in s for s in PYTHON)
    assert any("/v1/classify" in s for s in PYTHON)
    for variable in ("ELECTRA_DEMO_API_KEYS", "ELECTRA_DEMO_API_KEYS_FILE", "ELECTRA_DEMO_RATE_LIMIT"):
        assert variable in SECTION
    assert "secret" in SECTION and "/v1/docs" in SECTION


@pytest.mark.parametrize("snippet", PYTHON, ids=[f"py{i}" for i in range(len(PYTHON))])
def test_python_snippet_runs(snippet, keyed, service):
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(localise(snippet, keyed, service), "README.md", "exec"), {})  # our own README
    assert printed.getvalue().strip()


@pytest.mark.parametrize("snippet", BASH, ids=[f"bash{i}" for i in range(len(BASH))])
def test_curl_snippet_runs(snippet, keyed, service):
    if not shutil.which("curl"):
        pytest.skip("curl is not installed")
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", localise(snippet, keyed, service)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    replies = [json.loads(line) for line in done.stdout.replace("}{", "}\n{").splitlines() if line.strip()]
    assert replies and all("error" not in reply for reply in replies), done.stdout
    detect = next(r for r in replies if r.get("data") and "tokens" in r["data"][0])
    assert detect["model"] == service.resolve("discriminator").source
    assert any(r.get("status") == "ok" for r in replies)  # /health
