"""What ``gradio_client`` itself costs per call, and what a request costs a Gradio app besides the model.

    .venv/bin/python benchmarks/client_cost.py [--requests 40] [--no-ours]

Two apps, each launched here in its own process and called one request at a time after warm-ups,
every call alternately through ``gradio_client.Client.predict`` and over plain HTTP
(:class:`common.GradioHttp`: a POST to ``/gradio_api/call/<api>`` and the GET of its event stream);
the arguments and request bodies are built before the clock starts:

- the bare app (``--serve``): one endpoint, ``/echo``, whose handler returns its text: no model,
  no rendering. Its plain-HTTP time is Gradio's own cost per request; the difference of the two
  medians is the client's own cost per call, which every figure timed with ``gradio_client`` carries.
- our app (``app.py``) on ``electra_demo.tiny`` checkpoints (a forward of well under a
  millisecond), ``/classify`` with a short text: our fixed cost per request (Gradio, the service,
  the micro-batcher, rendering of every output) apart from the model.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, GradioHttp, body, cpu_line, launched, log, percentile

TEXT = "The chef cooked the meal in the kitchen."
BARE = ("/echo", (TEXT,))
OURS = ("/classify", ("sentiment", TEXT, ""))


def serve(port: int) -> None:
    """The bare app: one trivial endpoint, Gradio's default queue."""
    import gradio as gr

    with gr.Blocks(title="bare") as demo:
        text = gr.Textbox(label="Text")
        out = gr.Textbox(label="Out")
        gr.Button("Echo").click(lambda s: s, text, out, api_name="echo")
    demo.queue().launch(server_name="127.0.0.1", server_port=port)


def measure(url: str, requests: int = 40, warmup: int = 5, call: tuple[str, tuple] = BARE) -> dict:
    """Median and p90 (ms) of one endpoint through gradio_client and over plain HTTP, interleaved."""
    from gradio_client import Client

    api, args = call
    client = Client(url, verbose=False, download_files=False)
    http = GradioHttp(url)
    payload = body(args)

    def via_client() -> float:
        start = time.perf_counter()
        client.predict(*args, api_name=api)
        return time.perf_counter() - start

    for _ in range(warmup):
        via_client()
        http.timed(api, payload)
    samples: dict[str, list[float]] = {"gradio_client": [], "http": []}
    for _ in range(requests):  # alternate, so both see the same background load
        samples["gradio_client"].append(via_client())
        samples["http"].append(http.timed(api, payload))
    http.close()
    client.close()
    out: dict = {
        way: {"median_ms": 1000 * statistics.median(s), "p90_ms": 1000 * percentile(s, 90), "n": len(s)}
        for way, s in samples.items()
    }
    out["client_cost_ms"] = out["gradio_client"]["median_ms"] - out["http"]["median_ms"]
    out["api"] = api
    return out


def table(result: dict, ours: dict | None = None) -> list[str]:
    """The bare app's rows (and our app's on tiny checkpoints, where measured)."""
    rows = [("bare app `/echo`", result)] + (
        [("our app, tiny checkpoints, `/classify`", ours)] if ours else []
    )
    lines = ["| app, endpoint | way | median ms | p90 ms |", "|---|---|---:|---:|"]
    for name, r in rows:
        c, h = r["gradio_client"], r["http"]
        lines += [
            f"| {name} | through gradio_client ({c['n']} calls) | {c['median_ms']:.1f} | {c['p90_ms']:.1f} |",
            f"| {name} | plain HTTP: POST + event stream ({h['n']} calls) | {h['median_ms']:.1f} | "
            f"{h['p90_ms']:.1f} |",
            f"| {name} | gradio_client's own cost per call (difference) | {r['client_cost_ms']:.1f} | |",
        ]
    return lines


def tiny_env(directory: Path) -> dict[str, str]:
    sys.path.insert(0, str(ROOT))
    from electra_demo.tools.tiny import tiny_environ, write_tiny

    write_tiny(directory / "tiny")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELECTRA_DEMO_")}
    env.update(tiny_environ(directory / "tiny"))
    return {**env, "ELECTRA_DEMO_CACHE": str(directory / "cache"), "GRADIO_ANALYTICS_ENABLED": "False"}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=40, help="timed calls each way (default 40)")
    parser.add_argument("--no-ours", action="store_true", help="only the bare app")
    parser.add_argument("--serve", action="store_true", help="run the bare app (used internally)")
    parser.add_argument("--port", type=int, default=7862, help="with --serve")
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.port)
        return {}
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}
    ours = None
    with tempfile.TemporaryDirectory(prefix="electra-client-cost-") as directory:
        work = Path(directory)
        with launched("bare", [str(Path(__file__).resolve()), "--serve"], env, work) as app:
            log(f"bare app: {args.requests} calls each way")
            bare = measure(app.url, args.requests)
        if not args.no_ours:
            with launched("ours-tiny", ["app.py"], tiny_env(work), work) as app:
                log(f"our app on tiny checkpoints: {args.requests} calls each way")
                ours = measure(app.url, args.requests, call=OURS)
    print(cpu_line())
    print("\n".join(table(bare, ours)))
    return {"bare": bare, "ours_tiny": ours}


if __name__ == "__main__":
    main()
