"""The README's and docs/'s Gradio snippets run against the app on small checkpoints, so they never go
stale: every ``python`` block (gradio_client) and every ``bash`` block that calls ``/gradio_api/``
(plain HTTP), in ``README.md`` and each ``docs/*.md``. Also: the README's quick start is the CI's
command, its Spaces header matches the requirements and the registry, and the docs' tables match
the app."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from tests.helpers.docs import (
    ADDRESS,
    FILES,
    LANGUAGES,
    ROOT,
    Block,
    all_blocks,
    gradio_blocks,
    run_python,
    text,
    v1_blocks,
)

README = text("README.md")
PYTHON = [block for block in gradio_blocks() if block.language == "python"]
BASH = [block for block in gradio_blocks() if block.language == "bash"]
CLIENT = f'Client("{ADDRESS}/")'


def test_every_block_is_read_and_every_call_is_run():
    """No block hides from the tests: each fence is parsed, its language known, and a block that
    calls the app is run by this module or by test_readme_v1.py."""
    for path in FILES:
        fences = [line for line in path.read_text().splitlines() if line.lstrip().startswith("```")]
        found = [b for b in all_blocks() if b.path == path]
        assert len(fences) == 2 * len(found), f"{path.name}: a fence the tests do not read (indented?)"
    for block in all_blocks():
        assert block.language in LANGUAGES, f"{block.id}: unknown language {block.language!r}"
        if ADDRESS in block.code:
            assert block in gradio_blocks() or block in v1_blocks(), f"{block.id} calls the app, never run"


def test_docs_have_a_client_snippet_per_endpoint():
    everything = "".join(path.read_text() for path in FILES)
    for endpoint in ("/detect", "/corrupt", "/classify", "/tag", "/answer"):
        assert any(f'api_name="{endpoint}"' in block.code for block in PYTHON), endpoint
    assert "/gradio_api/call/detect" in everything
    assert any("/gradio_api/call/detect" in block.code for block in BASH)


@pytest.mark.parametrize("block", PYTHON, ids=[block.id for block in PYTHON])
def test_python_snippet_runs(block: Block, app_url: str):
    assert CLIENT in block.code, f"{block.id} must call {CLIENT}"
    code = block.code.replace(CLIENT, f'Client("{app_url}", verbose=False)')
    assert run_python(block, code).strip()


@pytest.mark.parametrize("block", BASH, ids=[block.id for block in BASH])
def test_plain_http_snippet_runs(block: Block, app_url: str):
    missing = [tool for tool in ("curl", "jq") if tool in block.code and not shutil.which(tool)]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed")
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block.code.replace(ADDRESS, app_url.rstrip("/"))],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "event: complete" in done.stdout and "event: error" not in done.stdout, done.stdout
    data = [line.removeprefix("data: ") for line in done.stdout.splitlines() if line.startswith("data: ")]
    outputs = json.loads(data[-1])
    if "/gradio_api/call/detect" in block.code:
        assert outputs[-1]["tokens"] and outputs[-1]["threshold"] == 0.5


def test_readme_quick_start_has_exactly_two_commands():
    quick = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert re.findall(r"```bash\n(.*?)```", quick, flags=re.DOTALL) == ["make run\n", "make test\n"]
    assert "make run-tiny" in quick
    ci = (ROOT / ".ci" / "run").read_text()
    assert ci.strip().splitlines()[-1] == "make test"


def test_readme_is_a_front_page():
    """At most 150 lines: the screenshot (its file there, the random weights said), the tabs
    table, and a link to every file of docs/."""
    assert len(README.splitlines()) <= 150
    assert "](docs/replaced-tokens.png)" in README and (ROOT / "docs" / "replaced-tokens.png").is_file()
    assert "random" in README.split("docs/replaced-tokens.png", 1)[1].split("\n## ", 1)[0]
    for path in FILES[1:]:
        assert f"](docs/{path.name})" in README, f"the README does not link docs/{path.name}"
    assert "](ARCHITECTURE.md)" in README


def test_readme_tables_name_every_tab_and_endpoint(client):
    """Every tab of the page is a row of the README's table, and every named endpoint of the app
    is in it or in docs/gradio-api.md."""
    from electra_demo.page.demo import TABS

    for tab in TABS:
        assert f"\n| {tab.title} | " in README, tab.title
    documented = README + text("docs/gradio-api.md")
    for endpoint in client.view_api(print_info=False, return_format="dict")["named_endpoints"]:
        assert f"`{endpoint}" in documented, endpoint


def test_readme_header_matches_requirements_and_registry():
    from electra_demo.config import REGISTRY

    header = README.split("---", 2)[1]
    requirements = (ROOT / "requirements.txt").read_text()
    version = re.search(r"gradio\[mcp\]==([\d.]+)", requirements).group(1)
    assert f"sdk_version: {version}" in header
    assert "app_file: app.py" in header and "license: apache-2.0" in header
    for slot in REGISTRY.values():
        assert f"  - {slot.hub_id}" in header


def test_models_table_matches_the_registry():
    from electra_demo.config import REGISTRY

    models = text("docs/models.md")
    for slot in REGISTRY.values():
        assert f"| {slot.name} | `{slot.hub_id}` | `{slot.env_var}` |" in models, slot.name
