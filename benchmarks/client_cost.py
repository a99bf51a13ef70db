"""What ``gradio_client`` itself costs per call: a bare Gradio app timed through it and over plain HTTP.

    .venv/bin/python benchmarks/client_cost.py [--requests 40]

The bare app (``--serve``, launched here in its own process) has one endpoint, ``/echo``, whose
handler returns its text: no model, no rendering. The same requests are sent alternately through
``gradio_client.Client.predict`` and through :class:`common.GradioHttp` (a POST to
``/gradio_api/call/echo`` and the GET of its event stream), one at a time, after warm-ups; the
arguments and request bodies are built before the clock starts. The difference of the medians is
the client's own cost per call, which every figure timed with ``gradio_client`` carries.
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

from common import GradioHttp, body, cpu_line, launched, log, percentile

TEXT = "The chef cooked the meal in the kitchen."


def serve(port: int) -> None:
    """The bare app: one trivial endpoint, Gradio's default queue."""
    import gradio as gr

    with gr.Blocks(title="bare") as demo:
        text = gr.Textbox(label="Text")
        out = gr.Textbox(label="Out")
        gr.Button("Echo").click(lambda s: s, text, out, api_name="echo")
    demo.queue().launch(server_name="127.0.0.1", server_port=port)


def measure(url: str, requests: int = 40, warmup: int = 5) -> dict:
    """Median and p90 (ms) of ``/echo`` through gradio_client and over plain HTTP, interleaved."""
    from gradio_client import Client

    client = Client(url, verbose=False, download_files=False)
    http = GradioHttp(url)
    args, payload = (TEXT,), body((TEXT,))

    def via_client() -> float:
        start = time.perf_counter()
        result = client.predict(*args, api_name="/echo")
        elapsed = time.perf_counter() - start
        assert result == TEXT, result
        return elapsed

    for _ in range(warmup):
        via_client()
        http.timed("echo", payload)
    samples: dict[str, list[float]] = {"gradio_client": [], "http": []}
    for _ in range(requests):  # alternate, so both see the same background load
        samples["gradio_client"].append(via_client())
        samples["http"].append(http.timed("echo", payload))
    http.close()
    client.close()
    out = {
        way: {"median_ms": 1000 * statistics.median(s), "p90_ms": 1000 * percentile(s, 90), "n": len(s)}
        for way, s in samples.items()
    }
    out["client_cost_ms"] = out["gradio_client"]["median_ms"] - out["http"]["median_ms"]
    return out


def table(result: dict) -> list[str]:
    c, h = result["gradio_client"], result["http"]
    return [
        "| bare app `/echo` | median ms | p90 ms |",
        "|---|---:|---:|",
        f"| through gradio_client ({c['n']} calls) | {c['median_ms']:.1f} | {c['p90_ms']:.1f} |",
        f"| plain HTTP: POST + event stream ({h['n']} calls) | {h['median_ms']:.1f} | {h['p90_ms']:.1f} |",
        f"| gradio_client's own cost per call | {result['client_cost_ms']:.1f} | |",
    ]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=40, help="timed calls each way (default 40)")
    parser.add_argument("--serve", action="store_true", help="run the bare app (used internally)")
    parser.add_argument("--port", type=int, default=7862, help="with --serve")
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.port)
        return {}
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}
    with tempfile.TemporaryDirectory(prefix="electra-client-cost-") as logs:
        with launched("bare", [str(Path(__file__).resolve()), "--serve"], env, Path(logs)) as app:
            log(f"bare app: {args.requests} calls each way")
            result = measure(app.url, args.requests)
    print(cpu_line())
    print("\n".join(table(result)))
    return result


if __name__ == "__main__":
    main()
