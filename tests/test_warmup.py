"""The server's background warm-up (ELECTRA_DEMO_PRELOAD) and background ONNX exports, driven over
HTTP against app.py's server: it starts before the page is built, the default tab's slot first, then
page order; a request for a later slot jumps the queue and never waits on another slot's load;
/health says when its loads are done; a slot served by PyTorch during its export answers as it does
after the switch to ONNX Runtime."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from electra_demo import config
from electra_demo.runtime import backends, models
from electra_demo.runtime.warmup import Background, Job
from electra_demo.service import ModelService
from tests.helpers.compare import Tolerance, assert_close
from tests.helpers.serving import WAIT_S, app_server, post

DETECT = {"input": "The chef cooked the meal in the kitchen."}
ANSWER = {"input": {"question": "Who cooked?", "context": "The chef cooked the meal."}, "top_k": 2}


def holding(name: str, release: threading.Event, started=None, order: list[str] | None = None):
    """A ``prepare`` for :func:`app_server`: slot ``name``'s load waits for ``release`` (``started``
    set when it begins); every load's slot is appended to ``order``."""

    def prepare(service: ModelService) -> None:
        original = service._load_checkpoint

        def held(resolved, *args, **kwargs):
            if order is not None:
                order.append(resolved.name)
            if resolved.name == name:
                if started is not None:
                    started.set()
                assert release.wait(WAIT_S), "never released"
            return original(resolved, *args, **kwargs)

        service._load_checkpoint = held

    return prepare


def test_preload_setting():
    assert config.preload_slots({}) == (
        "discriminator",
        "generator",
        "sentiment",
        "ner",
        "qa",
        "rerank",
        "emotion",
        "nli",
    )
    assert set(config.WARMUP_ORDER) == set(config.REGISTRY)
    assert config.preload_slots({"ELECTRA_DEMO_PRELOAD": "0"}) == ()
    assert config.preload_slots({"ELECTRA_DEMO_PRELOAD": "qa, discriminator"}) == ("discriminator", "qa")
    with pytest.raises(ValueError, match="ELECTRA_DEMO_PRELOAD must be 1, 0 or a comma-separated"):
        config.preload_slots({"ELECTRA_DEMO_PRELOAD": "discriminator,gpt"})


def test_python_app_py_starts_the_warm_up_before_it_builds_the_page(tiny_env, monkeypatch):
    """``python app.py`` (``create_server(..., warm=True)``): the first tab's model loads while the
    page is built, not after."""
    import app

    seen: dict[str, bool] = {}
    build = app.build_demo

    def watched(service: ModelService):
        seen["warming"] = service.background is not None  # its first load under way (or done)
        return build(service)

    monkeypatch.setattr(app, "build_demo", watched)
    environ = {**tiny_env, "ELECTRA_DEMO_BACKEND": "torch", "ELECTRA_DEMO_PRELOAD": "discriminator,qa"}
    server = app.create_server(environ, warm=True)
    background = server.service.background
    try:
        assert seen == {"warming": True}
        assert background.wait_for(lambda: background.done and background.current is None, WAIT_S)
        assert [job.key for job in background.done] == ["discriminator"]  # qa waits for the page
        server.launch(prevent_thread_lock=True, quiet=True, server_name="127.0.0.1")
        assert background.ready.wait(WAIT_S)
        assert [job.key for job in background.done] == ["discriminator", "qa"]
        warmup = httpx.get(server.demo.local_url + "health", timeout=WAIT_S).json()["warmup"]
        assert warmup["ready"] and warmup["slots"]["qa"]["loaded"]
    finally:
        server.demo.close()
        background.stop()


def test_app_names_matplotlibs_backend_so_no_request_imports_pyplot():
    """Gradio asks matplotlib for its backend around every event: with the backend named (as app.py
    does) that imports no pyplot, which cost the process's first request half a second or more."""
    import app  # noqa: F401 - its start-up settings

    assert os.environ["MPLBACKEND"] == "agg"
    code = "import sys, matplotlib; print(matplotlib.get_backend(), 'matplotlib.pyplot' in sys.modules)"
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert found.stdout.split() == ["agg", "False"]


def test_import_runtime_starts_pytorchs_cpu_threads_from_the_calling_thread():
    """The server imports the runtime on its main thread, and PyTorch's OpenMP threads start from
    there (a fresh process: the pool grows by its threads but one when a parallel operation runs);
    started from worker threads only, every forward took about twice the CPU (benchmarks/RESULTS.md)."""
    code = (
        "import os, torch\n"
        "from electra_demo.runtime.warmup import start_torch_threads\n"
        "before = len(os.listdir('/proc/self/task'))\n"
        "start_torch_threads()\n"
        "print(len(os.listdir('/proc/self/task')) - before, torch.get_num_threads())\n"
    )
    root = Path(__file__).resolve().parent.parent
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root)
    started, threads = map(int, found.stdout.split())
    assert started == threads - 1


def test_preload_off_loads_nothing_before_a_request(tiny_env, tmp_path):
    environ = {**tiny_env, "ELECTRA_DEMO_PRELOAD": "0", "ELECTRA_DEMO_BACKEND": "torch"}
    with app_server(environ) as (url, service):
        assert httpx.get(url + "/", timeout=WAIT_S).status_code == 200  # the page serves at once
        health = httpx.get(url + "/health", timeout=WAIT_S).json()
        assert set(health["models"].values()) == {"not loaded"}
        assert service.background is not None and service.background.idle()
        assert service.background.done == []
        post(url, "/v1/detect", DETECT)
        assert httpx.get(url + "/health", timeout=WAIT_S).json()["loaded"] == ["discriminator"]


def test_default_slot_first_then_page_order_and_a_request_jumps_the_queue(tiny_env):
    """The warm-up's first load is held until the test lets it go: meanwhile a request for the
    last slot (qa) loads it and answers, and the warm-up then loads the rest in page order."""
    started, release = threading.Event(), threading.Event()
    order: list[str] = []
    prepare = holding("discriminator", release, started, order)
    environ = {**tiny_env, "ELECTRA_DEMO_BACKEND": "torch"}  # every slot (the default)
    try:
        with app_server(environ, prepare) as (url, service):
            assert started.wait(WAIT_S)
            answer = post(url, "/v1/answer", ANSWER)  # never waits on the discriminator's load
            assert answer["data"][0]["answers"]
            assert order == ["discriminator", "qa"]
            assert service.status()["discriminator"] == "loading"
            release.set()
            assert service.background.wait_idle(WAIT_S)
            rest = ["generator", "sentiment", "ner", "rerank", "emotion", "nli"]
            assert order == ["discriminator", "qa", *rest]
            # qa's own job moved to the front when it was asked for (it found qa loaded)
            assert [job.key for job in service.background.done] == [*order[:2], *order[2:]]
            assert set(service.status().values()) == {"loaded"}
    finally:
        release.set()


def test_health_says_ready_once_the_warm_ups_loads_are_done(tiny_env):
    """/health's warmup over HTTP, as a load balancer reads it: not ready while a preloaded slot's
    load is held (the slots loaded so far say so), ready once the warm-up's loads are done."""
    started, release = threading.Event(), threading.Event()
    prepare = holding("qa", release, started)
    environ = {**tiny_env, "ELECTRA_DEMO_BACKEND": "torch", "ELECTRA_DEMO_PRELOAD": "discriminator,qa"}
    try:
        with app_server(environ, prepare) as (url, service):
            assert started.wait(WAIT_S)  # the discriminator is loaded; qa's load is held
            warmup = httpx.get(url + "/health", timeout=WAIT_S).json()["warmup"]
            assert warmup["ready"] is False and set(warmup["slots"]) == set(config.REGISTRY)
            assert warmup["slots"]["qa"] == {"loaded": False, "exported": False, "precision": None}
            precision = service.card("discriminator")["precision"]
            loaded = {"loaded": True, "exported": False, "precision": precision}
            assert warmup["slots"]["discriminator"] == loaded
            release.set()
            assert service.background.ready.wait(WAIT_S)
            warmup = httpx.get(url + "/health", timeout=WAIT_S).json()["warmup"]
            assert warmup["ready"] is True
            assert [name for name, s in warmup["slots"].items() if s["loaded"]] == ["discriminator", "qa"]
    finally:
        release.set()


def test_health_is_ready_at_once_without_a_warm_up(tiny_env):
    with app_server({**tiny_env, "ELECTRA_DEMO_PRELOAD": "0"}) as (url, _):
        warmup = httpx.get(url + "/health", timeout=WAIT_S).json()["warmup"]
        assert warmup["ready"] is True and not any(slot["loaded"] for slot in warmup["slots"].values())


def test_the_status_panel_follows_the_warm_up(tiny_env, page):
    """In Chromium: the panel shows the warm-up's work as it goes, without pressing Refresh."""
    from playwright.sync_api import expect

    release = threading.Event()
    prepare = holding("discriminator", release)
    environ = {**tiny_env, "ELECTRA_DEMO_BACKEND": "torch", "ELECTRA_DEMO_PRELOAD": "discriminator,sentiment"}
    try:
        with app_server(environ, prepare) as (url, _):
            page.goto(url)
            page.get_by_role("button", name="Models: loaded, loading or failed").click()
            panel = page.locator("#model-status")
            expect(panel).to_contain_text("Warm-up: now loading discriminator; to load next: sentiment.")
            rows = panel.locator("table").first.locator("tr")
            discriminator = rows.filter(has=page.locator("td", has_text=re.compile("^discriminator$")))
            sentiment = rows.filter(has=page.locator("td", has_text=re.compile("^sentiment$")))
            expect(discriminator).to_contain_text("⏳ loading")
            expect(sentiment).to_contain_text("not loaded")
            release.set()
            expect(sentiment).to_contain_text("✅ loaded", timeout=WAIT_S * 1000)
            expect(discriminator).to_contain_text("✅ loaded")
            expect(panel).not_to_contain_text("Warm-up")
    finally:
        release.set()


def test_a_request_moves_its_export_to_the_front():
    ran: list[Job] = []
    hold, running = threading.Event(), threading.Event()

    def run(job: Job) -> None:
        running.set()
        assert hold.wait(WAIT_S)
        ran.append(job)

    background = Background(run, busy=lambda: False, preload=["discriminator"]).start()
    try:
        assert running.wait(WAIT_S)  # the load runs; three exports wait behind it
        for key in ("generator", "sentiment", "qa"):
            background.add_export(key)
        background.prioritise("qa")
        assert [job.key for job in background.waiting()] == ["qa", "generator", "sentiment"]
        assert "now loading discriminator" in background.describe()
        assert "ONNX exports waiting: qa, generator, sentiment" in background.describe()
        hold.set()
        assert background.wait_idle(WAIT_S)
        assert [job.key for job in ran] == ["discriminator", "qa", "generator", "sentiment"]
        assert background.describe() == ""
    finally:
        hold.set()
        background.stop()


def test_a_held_warm_up_waits_after_its_first_job_until_released():
    """app.py's: the first tab's slot loads while the page is built, the rest once it serves."""
    ran: list[str] = []
    preload = ["discriminator", "qa"]
    background = Background(lambda job: ran.append(job.key), lambda: False, preload, held=True).start()
    try:
        assert background.wait_for(lambda: background.done and background.current is None, WAIT_S)
        assert ran == ["discriminator"] and [job.key for job in background.waiting()] == ["qa"]
        assert not background.ready.is_set()
        background.release()
        assert background.ready.wait(WAIT_S) and ran == ["discriminator", "qa"]
    finally:
        background.stop()


def test_pytorch_serves_during_the_export_and_answers_as_onnx_after_the_switch(
    tiny_env, tmp_path: Path, monkeypatch
):
    exporting, release = threading.Event(), threading.Event()
    real_export = backends.export_onnx

    def held_export(*args, **kwargs):
        exporting.set()
        assert release.wait(WAIT_S), "never released"
        assert kwargs.get("nice") == 19  # the app runs a background export at the lowest priority
        return real_export(*args, **{**kwargs, "nice": 0})  # the test's own run: no starving

    monkeypatch.setattr(models, "BACKGROUND_NICE", 19)  # the app's own setting, not conftest's
    monkeypatch.setattr(backends, "export_onnx", held_export)
    environ = {**tiny_env, "ELECTRA_DEMO_CACHE": str(tmp_path), "ELECTRA_DEMO_PRELOAD": "0"}
    environ["ELECTRA_DEMO_PRECISION"] = "fp32"  # answers equal to 1e-5 across the switch
    try:
        with app_server(environ) as (url, service):
            before = post(url, "/v1/detect", DETECT)  # answered while the export is held
            assert exporting.wait(WAIT_S)
            assert "serving while the ONNX export runs" in service.card("discriminator")["backend"]
            slot = httpx.get(url + "/health", timeout=WAIT_S).json()["warmup"]["slots"]["discriminator"]
            assert slot["loaded"] and not slot["exported"]
            assert service.load("discriminator").has_torch_weights
            release.set()
            assert service.background.wait_idle(WAIT_S)
            backend = service.card("discriminator")["backend"]
            assert backend.startswith("ONNX Runtime CPU fp32") and "exported now" in backend
            served = service.load("discriminator")
            assert not served.has_torch_weights and not served.exporting
            slot = httpx.get(url + "/health", timeout=WAIT_S).json()["warmup"]["slots"]["discriminator"]
            assert slot["loaded"] and slot["exported"]
            after = post(url, "/v1/detect", DETECT)
            assert_close(after["data"], before["data"], Tolerance(rel=1e-5, abs=1e-5))
            assert len(list(tmp_path.glob("*/check.json"))) == 1  # the check is recorded
    finally:
        release.set()


def test_a_failed_background_export_leaves_the_slot_on_pytorch_saying_why(tiny_env, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("exporter exploded")

    monkeypatch.setattr(backends, "export_onnx", broken)
    environ = {**tiny_env, "ELECTRA_DEMO_CACHE": str(tmp_path), "ELECTRA_DEMO_PRELOAD": "sentiment"}
    with app_server(environ) as (url, service):
        assert service.background.wait_idle(WAIT_S)
        backend = service.card("sentiment")["backend"]
        assert backend.startswith("PyTorch") and "fallback" in backend and "exporter exploded" in backend
        body = post(url, "/v1/classify", {"model": "sentiment", "input": "a fine film"})
        assert len(body["data"][0]["probs"]) == 2
