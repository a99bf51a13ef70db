"""The README's Python snippets run against the app on small checkpoints, so they never go stale."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

README = (Path(__file__).parent.parent / "README.md").read_text()
SNIPPETS = re.findall(r"```python\n(.*?)```", README, flags=re.DOTALL)


def test_readme_has_a_client_snippet_per_endpoint():
    for endpoint in ("/detect", "/corrupt", "/classify", "/tag", "/answer"):
        assert any(f'api_name="{endpoint}"' in snippet for snippet in SNIPPETS), endpoint
        assert f"/gradio_api/call/{endpoint.strip('/')}" in README or endpoint != "/detect"


@pytest.mark.parametrize("snippet", SNIPPETS, ids=[f"snippet{i}" for i in range(len(SNIPPETS))])
def test_readme_snippet_runs(snippet, app_url):
    assert 'Client("http://127.0.0.1:7860/")' in snippet
    code = snippet.replace('Client("http://127.0.0.1:7860/")', f'Client("{app_url}", verbose=False)')
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, "README.md", "exec"), {})  # our own README, on purpose
    assert printed.getvalue().strip()


def test_readme_quick_start_has_exactly_two_commands():
    quick = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert re.findall(r"```bash\n(.*?)```", quick, flags=re.DOTALL) == ["make run\n", "make test\n"]
    ci = (Path(__file__).parent.parent / ".ci" / "run").read_text()
    assert ci.strip().splitlines()[-1] == "make test"


def test_readme_header_matches_requirements_and_registry():
    from electra_demo.config import REGISTRY

    header = README.split("---", 2)[1]
    requirements = (Path(__file__).parent.parent / "requirements.txt").read_text()
    version = re.search(r"gradio\[mcp\]==([\d.]+)", requirements).group(1)
    assert f"sdk_version: {version}" in header
    assert "app_file: app.py" in header and "license: apache-2.0" in header
    for slot in REGISTRY.values():
        assert f"  - {slot.hub_id}" in header
