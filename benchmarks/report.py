"""The markdown report of one bench_app.py run (benchmarks/RESULTS.md), from its results dict."""

from __future__ import annotations

from pathlib import Path

import client_cost

ENDPOINTS = ("/detect", "/classify", "/answer")
TARGET_SINGLE = 1.6  # baseline / ours, one 128-token request
TARGET_RPS = 3.0  # ours / baseline requests per second, 16 clients, short texts
TARGET_PEAK = 0.75  # batched forward / measured GEMM peak
TARGET_INT8 = 2.0  # baseline / ours-int8, 128 tokens
NOISY_CORES = 0.25  # other processes' CPU use (cores) above which the report warns

HOW_TO_READ = """\
## How to read this

- Every ratio compares numbers taken in this one run on this machine; the machine is shared and
  noisy, so absolute milliseconds move between runs more than the ratios do.
- All models are electra-base-shaped with **random weights** (marked in their config.json): speed
  and memory are those of the real checkpoints, outputs are meaningless.
- The HTTP figures are plain HTTP (`httpx`: `POST /gradio_api/call/<api>`, then the `GET` of its
  event stream to `event: complete`), request bodies encoded before the clock starts; they include
  Gradio's routes, queue and JSON, and the small cost of the Python HTTP client, which runs on the
  same cores as the server. `gradio_client` is not used for timing: section f shows what it would
  add per call. The baseline returns one JSON output; ours also renders highlights, tables and
  summaries.
- "ours" runs ONNX Runtime fp32 by default on a CPU (the backend lines say what was used; a
  "fallback" line means ONNX failed and PyTorch served). The baseline is PyTorch fp32 eager, one
  request at a time (Gradio's default queue).
- Cold start = empty ONNX export cache, so the first request of each model also exports and
  optimises it; warm start reuses the cache. Peak RSS is VmHWM, the process's high-water mark.
- In c, the percentage is the share of the GEMM peak the whole forward achieves, by the FLOP
  formula in flops.py (linear layers + attention matmuls, encoder only).
"""


def verdict(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def heading(title: str, r: dict) -> list[str]:
    """A section's title, then the CPU line and the command its figures come from."""
    return [f"## {title}", "", f"{r['machine']['cpu_line']}. From `{r['run']['command']}`.", ""]


def summary(r: dict, wall_s: float) -> list[str]:
    m, v = r["machine"], r["machine"]["versions"]
    quick = " (quick smoke run: few requests, short windows)" if r["quick"] else ""
    dirty = " + uncommitted changes in app.py/electra_demo" if m["dirty"] else ""
    lines = [
        f"Date: {r['run']['date']}  ",
        f"Command: `{r['run']['command']}`  ",
        f"Wall time: {wall_s / 60:.1f} min{quick}",
        "",
        f"{m['cpu_line']}. Python {m['python']}, torch {v['torch']}, transformers {v['transformers']}, "
        f"onnxruntime {v['onnxruntime']}, gradio {v['gradio']}, httpx {m['httpx']} "
        f"(gradio_client {m['gradio_client']}, section f only). Code: {m['commit']}{dirty}; our queue: "
        f"default_concurrency_limit={m['concurrency']}, max_size={m['queue_max']}.",
        "",
        "Servers are timed over plain HTTP; every ratio compares figures from this one run.",
        "",
    ]
    busiest = max((x["other_cores"] for x in r.get("noise", {}).values()), default=0.0)
    if busiest > NOISY_CORES:
        lines += [
            f"**Shared machine: other processes kept up to {busiest:.1f} of the {m['cores']} cores busy "
            "during this run (see Noise below). Absolute milliseconds are inflated by contention; "
            "read the ratios, which compare figures taken in the same run.**",
            "",
        ]
    backends = "; ".join(r["ours"]["backends"]) or "none logged"
    return [*lines, f"Our backends (from the app's log): {backends}.", ""]


def latency_ratio(r: dict, endpoint: str, length: int) -> float:
    base, ours = r["baseline"]["latency"], r["ours"]["latency"]
    return base[endpoint][str(length)]["median_ms"] / ours[endpoint][str(length)]["median_ms"]


def int8_baseline(r: dict) -> dict:
    """The baseline's latencies timed in turn with the int8 app (older results: its own suite)."""
    return r["ours"].get("int8_baseline") or r["baseline"]["latency"]


def int8_ratio(r: dict, endpoint: str) -> float:
    return int8_baseline(r)[endpoint]["128"]["median_ms"] / r["ours"]["int8"][endpoint]["128"]["median_ms"]


def gemm_peak(fl: dict) -> float:
    return max(fl["gemm"]["ort_gflops"], fl["gemm"]["torch_gflops"])


def targets(r: dict) -> list[str]:
    rps16 = r["ours"]["throughput"]["16"]["rps"] / r["baseline"]["throughput"]["16"]["rps"]
    peak = gemm_peak(r["flops"])
    ort_share = r["flops"]["ort_gflops"] / peak
    lines = [*heading("Targets", r), "| target | measured | verdict |", "|---|---|---|"]
    for endpoint in ENDPOINTS:
        x = latency_ratio(r, endpoint, 128)
        lines.append(
            f"| single 128-token request {endpoint} >= {TARGET_SINGLE}x faster than baseline | "
            f"{x:.2f}x | {verdict(x >= TARGET_SINGLE)} |"
        )
    lines.append(
        f"| >= {TARGET_RPS}x baseline requests/s, 16 clients, short texts (/classify) | {rps16:.2f}x | "
        f"{verdict(rps16 >= TARGET_RPS)} |"
    )
    lines.append(
        f"| batched forward (ONNX Runtime, 8 x 128) >= {TARGET_PEAK:.0%} of measured GEMM peak "
        f"({peak:.0f} GFLOP/s) | {ort_share:.0%} | {verdict(ort_share >= TARGET_PEAK)} |"
    )
    for endpoint in ("/classify", "/detect"):
        x = int8_ratio(r, endpoint)
        lines.append(
            f"| int8 {endpoint} at 128 tokens >= {TARGET_INT8}x faster than baseline | {x:.2f}x | "
            f"{verdict(x >= TARGET_INT8)} |"
        )
    return [*lines, ""]


def latency(r: dict) -> list[str]:
    lat_o, lat_b = r["ours"]["latency"], r["baseline"]["latency"]
    n = lat_o[ENDPOINTS[0]]["32"]["n"]
    lines = [
        *heading("a. Single-request latency over plain HTTP (ms; tokens include [CLS]/[SEP])", r),
        f"{n} requests each after warm-ups, one request at a time, each one sent to our app and to the "
        "baseline in turn (the order flips every request; both apps up, the idle one waiting), so both "
        "are timed under the same background load.",
        "",
        "| endpoint | tokens | ours median | ours p90 | baseline median | baseline p90 | baseline/ours |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for endpoint in ENDPOINTS:
        for length, o in lat_o[endpoint].items():
            b = lat_b[endpoint][length]
            lines.append(
                f"| {endpoint} | {length} | {o['median_ms']:.0f} | {o['p90_ms']:.0f} | "
                f"{b['median_ms']:.0f} | {b['p90_ms']:.0f} | {latency_ratio(r, endpoint, int(length)):.2f}x |"
            )
    return [*lines, ""]


def throughput(r: dict) -> list[str]:
    ours, base = r["ours"]["throughput"], r["baseline"]["throughput"]
    lines = [
        *heading("b. Throughput on /classify, short texts (8-32 tokens), concurrent clients", r),
        f"Each client is a thread with its own HTTP connection, requests back to back. Per client count, "
        f"two windows per app in the order ours, baseline, baseline, ours, ~{ours['1']['elapsed_s']:.0f} s "
        "per app in all.",
        "",
        "| clients | ours req/s | ours p50 ms | ours p99 ms | ours errors | baseline req/s | baseline p50 ms "
        "| baseline p99 ms | baseline errors | ours/baseline req/s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c, o in ours.items():
        b = base[c]
        lines.append(
            f"| {c} | {o['rps']:.2f} | {o['p50_ms']:.0f} | {o['p99_ms']:.0f} | {o['errors']} | "
            f"{b['rps']:.2f} | {b['p50_ms']:.0f} | {b['p99_ms']:.0f} | {b['errors']} | "
            f"{o['rps'] / b['rps']:.2f}x |"
        )
    errors = [
        f"{who} {c} clients: {t[c]['first_error']}"
        for who, t in (("ours", ours), ("baseline", base))
        for c in t
        if t[c]["errors"]
    ]
    if errors:
        lines += ["", "First error seen: " + "; ".join(errors)]
    return [*lines, ""]


def forward(r: dict) -> list[str]:
    fl = r["flops"]
    peak = gemm_peak(fl)
    lines = [
        *heading(
            f"c. In-process forward, batch {fl['batch']} x {fl['seq']} tokens ({fl['threads']} threads)", r
        ),
        f"FLOPs per forward: {fl['gflop_per_forward']:.1f} GFLOP "
        f"({fl['gflop_per_sequence']:.2f} per sequence: "
        "2 x 85.0 M encoder weights x 128 tokens + 4 x 128^2 x 768 x 12 for attention; see flops.py). "
        f"GEMM peak, 2048^3 float32, best of runs: ONNX Runtime {fl['gemm']['ort_gflops']:.0f} GFLOP/s, "
        f"torch.matmul {fl['gemm']['torch_gflops']:.0f} GFLOP/s; machine peak = the higher, {peak:.0f}.",
        "",
        "| backend | forward s (best / median) | GFLOP/s (best) | % of own engine's GEMM peak "
        "| % of machine peak |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, key in (("ONNX Runtime fp32", "ort"), ("PyTorch fp32", "torch")):
        g = fl[f"{key}_gflops"]
        lines.append(
            f"| {name} | {fl[f'{key}_forward_s']:.2f} / {fl[f'{key}_forward_median_s']:.2f} | {g:.0f} | "
            f"{g / fl['gemm'][f'{key}_gflops']:.0%} | {g / peak:.0%} |"
        )
    return [*lines, ""]


def startup(r: dict) -> list[str]:
    ours, base = r["ours"], r["baseline"]
    c, w = ours["cold"], ours["warm"]
    lines = [
        *heading("d. Start-up and memory (our app unless named)", r),
        "| | empty export cache (cold) | filled cache (warm) |",
        "|---|---:|---:|",
        f"| launch to first page (HTTP 200 on /) | {c['page_s']:.1f} s | {w['page_s']:.1f} s |",
    ]
    for endpoint in ENDPOINTS:
        lines.append(
            f"| first {endpoint}, 128 tokens (loads its model; cold: exports it too) | "
            f"{c[f'first{endpoint}_s']:.1f} s | {w[f'first{endpoint}_s']:.1f} s |"
        )
    lines += [
        f"| peak RSS (VmHWM) after /detect, /classify, /answer | {c['peak_rss_mb']:.0f} MB | "
        f"{w['peak_rss_mb']:.0f} MB |",
        "",
        f"Baseline: first page after {base['page_s']:.1f} s (it loads its three models before serving), "
        f"first /detect {base['first/detect_s'] * 1000:.0f} ms, peak RSS {base['peak_rss_mb']:.0f} MB. "
        f"Our cold-start process after the whole benchmark: peak RSS {ours['peak_rss_after_all_mb']:.0f} MB; "
        f"int8 mode (two models loaded): {ours['int8_rss_mb']:.0f} MB.",
        "",
    ]
    return lines


def int8(r: dict) -> list[str]:
    ours, lat_b = r["ours"], int8_baseline(r)
    lines = [
        *heading("e. int8 mode (ELECTRA_DEMO_INT8=1), 128 tokens, one request at a time", r),
        f"Backends: {'; '.join(ours['backends_int8']) or 'none logged'}. Each request sent to the int8 app "
        "and to the baseline in turn, as in a; the fp32 column is from a.",
        "",
        "| endpoint | ours int8 median | ours int8 p90 | ours fp32 median | baseline median "
        "| baseline/int8 |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for endpoint in ("/classify", "/detect"):
        i8 = ours["int8"][endpoint]["128"]
        lines.append(
            f"| {endpoint} | {i8['median_ms']:.0f} | {i8['p90_ms']:.0f} | "
            f"{ours['latency'][endpoint]['128']['median_ms']:.0f} | "
            f"{lat_b[endpoint]['128']['median_ms']:.0f} | {int8_ratio(r, endpoint):.2f}x |"
        )
    return [*lines, ""]


def client_cost_section(r: dict) -> list[str]:
    return [
        *heading("f. What gradio_client itself costs per call (bare Gradio app, no model)", r),
        "A Gradio app with one endpoint, `/echo`, returning its text; the same call alternately through "
        "`gradio_client.Client.predict` and over plain HTTP, one at a time, after warm-ups "
        "(`benchmarks/client_cost.py`, here run as a phase of the command above; alone, with our app "
        "on tiny checkpoints as well: `.venv/bin/python benchmarks/client_cost.py`).",
        "",
        *client_cost.table(r["client_cost"]),
        "",
    ]


def noise(r: dict) -> list[str]:
    lines = [
        "## Noise: CPU kept busy by other processes while each phase ran",
        "",
        f"| phase | other processes (cores, of {r['machine']['cores']}) | steal (cores) "
        "| load average 1 min |",
        "|---|---:|---:|---:|",
    ]
    for phase, x in r["noise"].items():
        lines.append(f"| {phase} | {x['other_cores']:.2f} | {x['steal_cores']:.2f} | {x['loadavg_1m']:.2f} |")
    return [*lines, ""]


def render(r: dict, wall_s: float) -> str:
    sections = (targets, latency, throughput, forward, startup, int8, client_cost_section, noise)
    lines = summary(r, wall_s)
    for section in sections:
        lines += section(r)
    return "\n".join(lines)


def write_results(r: dict, command: str, date: str, wall_s: float, out: Path, work: Path) -> str:
    """Render the report, write it to ``out`` with the how-to-read notes; return the rendered part."""
    r.setdefault("run", {"command": command, "date": date})
    table = render(r, wall_s)
    out.write_text(
        "# Benchmark results: the demo vs a naive transformers baseline\n\n"
        + table
        + "\n"
        + HOW_TO_READ
        + f"\nRaw numbers: `{work / 'results.json'}`; app logs: `{work / 'logs'}`.\n"
    )
    return table
