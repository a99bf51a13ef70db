"""Hugging Face Spaces entry point: ``demo`` at module level, launched under ``__main__``.

python app.py                 # real checkpoints from the Hub (or ELECTRA_DEMO_<SLOT> overrides)
python app.py --tiny          # small random checkpoints, for offline development
python app.py --host 0.0.0.0 --port 7860 --share
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from electra_demo.service import ModelService
from electra_demo.tiny import ensure_tiny
from electra_demo.ui import build_demo, launch_kwargs

TINY_DIR = Path(os.environ.get("ELECTRA_DEMO_TINY_DIR", Path.home() / ".cache" / "electra-demo" / "tiny"))

demo = build_demo(ModelService())  # builds the page only: models load on first use


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
    return parser.parse_args(argv)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    args = parse_args()
    if args.tiny:
        environ = {**os.environ, **ensure_tiny(TINY_DIR)}
        demo = build_demo(ModelService(environ=environ))
    demo.queue().launch(server_name=args.host, server_port=args.port, share=args.share, **launch_kwargs())
