"""Remake the README's screenshot of the Replaced tokens tab from the real page.

    python scripts/screenshot.py [--out docs/replaced-tokens.png] [--text "..."] [--width 1200]

It starts the app as a user would on its small random checkpoints (``python app.py --tiny``, on a
free port, nothing downloaded), opens it in headless Chromium (Debian's ``/usr/bin/chromium``
driven by Playwright, as the browser tests do), types the text into the Replaced tokens tab, runs
it, waits for the highlighted tokens and saves the top of the page down to the word view. The
weights are random, so the shading shows the page, not ELECTRA's judgement; the README says so.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "replaced-tokens.png"
TEXT = "I drank a cup of hot keyboard with my breakfast this morning."  # the tab's first example
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
START_S = 300  # a bound on the app's start-up (a busy machine is slow, not wrong)
WAIT_MS = 180_000  # a bound on the run: the first request loads the discriminator


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def tiny_app(port: int) -> Iterator[str]:
    """``python app.py --tiny`` on ``port`` until the block ends; yields its URL once it answers.
    Only the discriminator warms up (the tab needs nothing else); the log goes to a temporary file
    and is printed if the app fails to start."""
    env = {
        **os.environ,
        "GRADIO_ANALYTICS_ENABLED": "False",
        "HF_HUB_OFFLINE": "1",
        "ELECTRA_DEMO_PRELOAD": os.environ.get("ELECTRA_DEMO_PRELOAD", "discriminator"),
    }
    argv = [sys.executable, "app.py", "--tiny", "--host", "127.0.0.1", "--port", str(port)]
    with tempfile.TemporaryFile("w+") as log:
        app = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            url = f"http://127.0.0.1:{port}/"
            wait_until_up(url, app, log)
            yield url
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(app.pid, signal.SIGTERM)  # the app and its export child, nothing else
            try:
                app.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(app.pid, signal.SIGKILL)
                app.wait()


def wait_until_up(url: str, app: subprocess.Popen, log) -> None:
    """Until ``url`` answers 200; the app's log as the error if it exits or never answers."""
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        if app.poll() is not None:
            break
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=5).status_code == 200:
                return
        time.sleep(1)
    log.seek(0)
    raise SystemExit(f"screenshot: the app did not start at {url}; its log:\n{log.read()[-4000:]}")


def chromium_path() -> str:
    found = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if not found:
        raise SystemExit("screenshot: Chromium is missing (apt-get install chromium)")
    return found


def shoot(url: str, text: str, out: Path, width: int) -> None:
    """Type ``text`` into the Replaced tokens tab, run it, save the page's top to ``out``."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.set_default_timeout(WAIT_MS)
            page.goto(url)
            page.locator("#detect-text textarea").fill(text)
            page.locator("#detect-run").click()
            expect(page.locator("#detect-summary")).to_contain_text("replaced", timeout=WAIT_MS)
            expect(page.locator("#detect-words .textfield .token").first).to_be_visible(timeout=WAIT_MS)
            page.mouse.move(0, 0)  # no hover tooltip in the picture
            box = page.locator("#detect-words").bounding_box()
            assert box is not None, "the word view is not on the page"
            height = int(box["y"] + box["height"] + 16)
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(
                path=str(out), full_page=True, clip={"x": 0, "y": 0, "width": width, "height": height}
            )
        finally:
            browser.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=OUT, help=f"the PNG to write (default: {OUT.relative_to(ROOT)})"
    )
    parser.add_argument("--text", default=TEXT, help="what to type into the tab")
    parser.add_argument("--width", type=int, default=1200, help="the browser window's width in pixels")
    args = parser.parse_args(argv)
    with tiny_app(free_port()) as url:
        shoot(url, args.text, args.out, args.width)
    print(f"screenshot: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
