"""Shared fixtures: small random checkpoints built on the spot, the service, the app, a client.

Nothing here downloads: every slot points at a checkpoint written by ``electra_demo.tiny`` and
loaded through the same ``from_pretrained`` path as a real one.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a test that reaches for the Hub fails fast
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from electra_demo.service import ModelService
from electra_demo.tools.tiny import tiny_environ, write_tiny
from tests.helpers.serving import launch, serve

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("tiny")
    write_tiny(directory)
    return directory


@pytest.fixture(scope="session")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.fixture(scope="session")
def tiny_env(tiny_dir: Path, onnx_cache: Path) -> dict[str, str]:
    """Every slot on a tiny checkpoint; the default backend (ONNX Runtime on a CPU; OpenVINO in
    bf16), at the precision the environment names (``ELECTRA_DEMO_PRECISION=fp32 pytest`` runs
    the suite in fp32; unset: auto, bf16 where the CPU has it)."""
    precision = {k: v for k, v in os.environ.items() if k == "ELECTRA_DEMO_PRECISION"}
    return {**tiny_environ(tiny_dir), "ELECTRA_DEMO_CACHE": str(onnx_cache), **precision}


@pytest.fixture(scope="session")
def service(tiny_env: dict[str, str]) -> ModelService:
    return ModelService(environ=tiny_env)


@pytest.fixture(scope="session")
def app_url(service: ModelService) -> Iterator[str]:
    demo = launch(service)
    try:
        yield demo.local_url
    finally:
        demo.close()


@pytest.fixture(scope="session")
def client(app_url: str):
    from gradio_client import Client

    return Client(app_url, verbose=False)


@pytest.fixture(scope="module")
def url(request: pytest.FixtureRequest) -> Iterator[str]:
    """The page and the /v1 API served together for one test module; yields the base URL (no
    trailing slash). It serves the ``service`` fixture with no API settings, unless the module says
    otherwise in ``SERVE = {"service": <a fixture's name>, "environ": <the API's settings>,
    **<launch keywords>}``."""
    options = dict(getattr(request.module, "SERVE", {}))
    service = request.getfixturevalue(options.pop("service", "service"))
    with serve(service, options.pop("environ", None), **options) as base:
        yield base


@pytest.fixture(scope="module")
def gc(url: str):
    """A Gradio client of the module's ``url``."""
    from gradio_client import Client

    return Client(url + "/", verbose=False)


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium driven by Playwright (no browser download)."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.fail("Chromium is missing: `make test` installs it (apt-get install chromium)")
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
            headless=True,
            args=CHROMIUM_ARGS,
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(120_000)  # a bound: a busy machine is slow, not wrong
    yield page
    context.close()


@pytest.fixture
def cancel_pressed(monkeypatch) -> threading.Event:
    """Set once the Cancel button's handler has run on the server."""
    from electra_demo.page import cancels

    pressed = threading.Event()
    original = cancels.Cancels.cancel

    def cancel(self, session):
        try:
            return original(self, session)
        finally:
            pressed.set()

    monkeypatch.setattr(cancels.Cancels, "cancel", cancel)
    return pressed


@pytest.fixture(autouse=True)
def background_exports_at_normal_priority(monkeypatch):
    """The app runs a background ONNX export's child at nice 19; beside CPU-bound processes (a busy
    CI machine) such a child gets ~1.5% of a core and a test waiting on it waits for minutes."""
    from electra_demo.runtime import models

    monkeypatch.setattr(models, "BACKGROUND_NICE", 0)
