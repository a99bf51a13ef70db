"""Hugging Face Spaces entry point: ``demo`` at module level, launched under ``__main__``.

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
from pathlib import Path

import gradio as gr

if os.environ.get("SPACES_ZERO_GPU"):  # ZeroGPU wants spaces (then torch) and its @spaces.GPU
    import electra_demo.backends  # noqa: F401 - functions registered at start-up

from electra_demo.service import ModelService
from electra_demo.tiny import ensure_tiny
from electra_demo.ui import build_demo, configure_queue, launch_kwargs

TINY_DIR = Path(os.environ.get("ELECTRA_DEMO_TINY_DIR", Path.home() / ".cache" / "electra-demo" / "tiny"))


def create_app(environ: Mapping[str, str]) -> gr.Blocks:
    """The page around one model service; no model loads until a request needs it."""
    return configure_queue(build_demo(ModelService(environ=environ)))


demo = create_app(os.environ)


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
    environ = environ_for(args, os.environ)
    if environ != dict(os.environ):
        demo = create_app(environ)
    demo.launch(
        server_name=args.host,
        server_port=args.port,
        share=args.share,
        mcp_server=True if args.mcp else None,  # None: Gradio reads GRADIO_MCP_SERVER
        **launch_kwargs(),
    )
