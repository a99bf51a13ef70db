"""``import gradio`` without its type-stub regeneration (``electra_demo/page/gradio_import.py``):
the pinned Gradio still regenerates them (so an upgrade that drops or renames the function fails
here), the finder stops it, it does nothing once gradio is imported, and ``python app.py`` (which
installs it) serves the page and answers."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import httpx

from electra_demo.page import gradio_import
from tests.helpers.serving import call_gradio

ROOT = Path(__file__).resolve().parents[1]

COMPONENT = """
import gradio as gr


class Shout(gr.Textbox):
    \"\"\"A component defined after gradio is imported, as Gradio's custom components are.\"\"\"
"""


def define_component(tmp_path: Path, skip: bool) -> dict[str, str]:
    """In a fresh interpreter, (optionally) install the finder, import gradio and define a component
    in ``tmp_path/shout.py``; what each of Gradio's two callers then holds, and whether a ``.pyi``
    was written beside the component's source."""
    (tmp_path / "shout.py").write_text(COMPONENT)
    code = textwrap.dedent(f"""
        import sys
        from electra_demo.page.gradio_import import skip_stub_regeneration
        if {skip}:
            assert skip_stub_regeneration()
        import gradio.blocks_events, gradio.component_meta
        sys.path.insert(0, {str(tmp_path)!r})
        import shout
        print(gradio.component_meta.create_or_modify_pyi.__name__)
        print(gradio.blocks_events.create_or_modify_pyi.__name__)
    """)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    meta, blocks = done.stdout.split()
    return {"component_meta": meta, "blocks_events": blocks, "pyi": str((tmp_path / "shout.pyi").exists())}


def test_pinned_gradio_regenerates_stubs_on_every_class(tmp_path: Path):
    found = define_component(tmp_path, skip=False)
    assert found == {
        "component_meta": "create_or_modify_pyi",
        "blocks_events": "create_or_modify_pyi",
        "pyi": "True",
    }


def test_the_finder_skips_the_regeneration_for_every_caller(tmp_path: Path):
    found = define_component(tmp_path, skip=True)
    assert found == {"component_meta": "keep_stubs", "blocks_events": "keep_stubs", "pyi": "False"}


def test_once_gradio_is_imported_the_finder_is_not_installed():
    import gradio.component_meta  # noqa: F401 - imported here already, as in any test

    finders = list(sys.meta_path)
    assert gradio_import.skip_stub_regeneration() is False
    assert sys.meta_path == finders


def test_app_py_serves_and_answers_with_the_stubs_skipped(tiny_env: dict[str, str], tmp_path: Path):
    """``python app.py`` in its own process (the finder installed before gradio) serves the page,
    and /detect answers over plain HTTP. Its warm-up loads the first tab's slot only, with an
    export cache of its own (its export child dies with the test, other tests' cache untouched)."""
    env = {
        **os.environ,
        **tiny_env,
        "ELECTRA_DEMO_CACHE": str(tmp_path / "cache"),
        "ELECTRA_DEMO_PRELOAD": "discriminator",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "PYTHONUNBUFFERED": "1",
    }
    proc = subprocess.Popen(
        [sys.executable, "app.py", "--host", "127.0.0.1"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: its export child goes with it
    )
    seen: list[str] = []
    served = threading.Event()

    def read() -> None:  # drains the output (a full pipe would stall the server) and finds the URL
        for line in proc.stdout:
            seen.append(line)
            if re.search(r"Running on local URL:\s+http://", line):
                served.set()
        served.set()  # the process ended

    threading.Thread(target=read, daemon=True).start()
    try:
        served.wait(timeout=300)  # the event: Gradio names the address once it serves
        match = next(
            (m for line in seen if (m := re.search(r"Running on local URL:\s+(http://\S+)", line))), None
        )
        assert match, "app.py ended before it served:\n" + "".join(seen)
        url = match.group(1).rstrip("/")
        assert httpx.get(url + "/", timeout=60).status_code == 200
        kind, outputs = call_gradio(url, "detect", ["The chef cooked the meal.", 0.5])
        assert kind == "complete", outputs
        assert outputs[-1]["tokens"]
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
