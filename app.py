"""Hugging Face Spaces entry point: ``demo`` at module level, launched under ``__main__`` with the
JSON API (``/v1``, ``/health``) on the same port, sharing the page's model service.

python app.py                 # real checkpoints from the Hub (or ELECTRA_DEMO_<SLOT> overrides)
python app.py --tiny          # small random checkpoints, for offline development
python app.py --host 0.0.0.0 --port 7860 --share
python app.py --backend torch # or onnx; --int8 for the int8 CPU mode
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from electra_demo.config import persist_defaults, preload_slots, storage_lines
from electra_demo.page.gradio_import import skip_stub_regeneration

# Before anything imports huggingface_hub (gradio does), which reads HF_HOME once: with persistent
# storage (/data, or $ELECTRA_DEMO_DATA_DIR) the Hugging Face cache goes there unless HF_HOME is set.
persist_defaults(os.environ)
# Gradio asks matplotlib for its backend around every event; left to matplotlib's own choice, the
# process's first request pays for importing pyplot to find it (half a second to a second). This
# server draws nothing on screen: the backend Gradio switches to anyway, named up front.
os.environ.setdefault("MPLBACKEND", "agg")
# Gradio regenerates its components' type stubs (.pyi) on every import: 0.75 s of each start, for
# files the wheel ships up to date (see the module).
skip_stub_regeneration()

import gradio as gr  # noqa: E402

if os.environ.get("SPACES_ZERO_GPU"):  # ZeroGPU wants spaces (then torch) and its @spaces.GPU
    import electra_demo.runtime.backends  # noqa: F401 - functions registered at start-up

from electra_demo.page.demo import build_demo, launch_kwargs  # noqa: E402
from electra_demo.runtime.warmup import import_runtime  # noqa: E402
from electra_demo.service import ModelService  # noqa: E402
from electra_demo.tools.tiny import ensure_tiny  # noqa: E402

log = logging.getLogger("electra_demo.app")
TINY_DIR = Path(os.environ.get("ELECTRA_DEMO_TINY_DIR", Path.home() / ".cache" / "electra-demo" / "tiny"))


@dataclass
class Server:
    """The page and the API around one model service (so they share models and batchers)."""

    demo: gr.Blocks
    service: ModelService
    environ: Mapping[str, str]

    def launch(self, **kwargs: Any) -> Any:
        """``demo.launch(**kwargs)`` with the API served beside the page, on the same port, and
        the background warm-up started (unless :func:`create_server` started it already, then
        held after its first slot: it goes on once the page serves)."""
        from electra_demo.api.mount import app_kwargs  # FastAPI and the API load with the server

        start_warmup(self.service, self.environ)
        block = not kwargs.pop("prevent_thread_lock", False)
        launched = self.demo.launch(
            app_kwargs=app_kwargs(self.service, self.environ, self.demo),
            prevent_thread_lock=True,
            **launch_kwargs(),
            **kwargs,
        )
        self.service.background.release()  # the page serves: the rest of the warm-up goes on
        if block:
            self.demo.block_thread()
        return launched


def start_warmup(service: ModelService, environ: Mapping[str, str], held: bool = False) -> None:
    """Start the background warm-up once: ``ELECTRA_DEMO_PRELOAD``'s slots, then ONNX exports (a
    bad setting fails here, before the server starts); ``held``: the first slot only until the
    page serves. What loading needs (torch, transformers) is imported first, on this thread (the
    main one: see :func:`~electra_demo.runtime.warmup.start_torch_threads`): the same work as on
    first use, done before the page."""
    if service.background is not None:
        return
    for line in storage_lines(environ):
        log.info("storage: %s", line)
    preload = preload_slots(environ)  # a bad setting fails before the server starts
    if preload:  # the same work as on first use, done first: models then load in a moment
        log.info("torch, transformers and ONNX Runtime imported in %.1f s", import_runtime())
    service.start_background(preload, held)


def create_server(environ: Mapping[str, str], warm: bool = False) -> Server:
    """The page and the API around one model service. With ``warm`` (``python app.py``), the
    warm-up starts first, so the first tab's model loads while the page is built (its other slots
    wait until the page serves); without it no model loads until the server launches (or a
    request needs one)."""
    service = ModelService(environ=environ)
    if warm:
        start_warmup(service, environ, held=True)
    return Server(build_demo(service), service, environ)


def create_app(environ: Mapping[str, str]) -> gr.Blocks:
    """The page around one model service (without the API; :func:`create_server` has both)."""
    return create_server(environ).demo


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="ELECTRA demo")
    parser.add_argument("--host", default=None, help="default: $GRADIO_SERVER_NAME or 127.0.0.1")
    parser.add_argument("--port", type=int, default=None, help="default: $GRADIO_SERVER_PORT or 7860")
    parser.add_argument("--share", action="store_true", help="create a public Gradio share link")
    parser.add_argument(
        "--tiny",
        action="store_true",
        help=f"run on small random checkpoints written to {TINY_DIR} (output is meaningless)",
    )
    parser.add_argument(
        "--backend",
        choices=["auto", "torch", "onnx"],
        help="inference backend (default: $ELECTRA_DEMO_BACKEND or auto: ONNX Runtime on a CPU)",
    )
    parser.add_argument("--int8", action="store_true", help="int8 ONNX Runtime on the CPU (off by default)")
    parser.add_argument(
        "--mcp", action="store_true", help="also serve the endpoints as MCP tools (or GRADIO_MCP_SERVER=True)"
    )
    return parser.parse_args(argv)


def environ_for(args: argparse.Namespace, base: Mapping[str, str]) -> dict[str, str]:
    environ = dict(base)
    if args.tiny:
        environ.update({k: v for k, v in ensure_tiny(TINY_DIR).items() if k not in base})
    if args.backend:
        environ["ELECTRA_DEMO_BACKEND"] = args.backend
    if args.int8:
        environ["ELECTRA_DEMO_INT8"] = "1"
    return environ


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    args = parse_args()
    server = create_server(environ_for(args, os.environ), warm=True)  # the page is built once
    demo = server.demo
    server.launch(
        server_name=args.host,
        server_port=args.port,
        share=args.share,
        mcp_server=True if args.mcp else None,  # None: Gradio reads GRADIO_MCP_SERVER
    )
else:  # imported (tests, Gradio's reload mode): the page at module level, nothing loaded
    server = create_server(os.environ)
    demo = server.demo
