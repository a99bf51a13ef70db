"""In-process forward throughput (GFLOP/s) against this machine's GEMM peak, measured together.

``python benchmarks/flops.py SENTIMENT_DIR ONNX_DIR [--quick]`` prints one JSON object (with the
CPU line, ``cpu``).

FLOPs of one forward of one sequence of ``s`` tokens (electra-base, encoder only; embeddings
lookups, softmax, layer norms, GELU and the small heads are not counted):

    linear:    2 * s * L * (4 * h * h + 2 * h * i)     # Q, K, V, output; two FFN matrices
    attention: 2 * 2 * s^2 * h * L                     # Q @ K^T and P @ V, all heads together

with h = 768, i = 3072, L = 12: 21.74 + 0.60 = 22.35 GFLOP at s = 128 (the reference figure).
Batch b multiplies it by b (padding-free: every row is 128 real tokens).

GEMM peak: the best of several 2048 x 2048 x 2048 float32 products (2 * 2048^3 FLOP each; timed
before and after the forwards) in
ONNX Runtime (a one-node MatMul graph built with onnx.helper; B is an initializer, as weights
are in the model, so ONNX Runtime pre-packs it) and in torch.matmul, with the same thread count
as the app uses.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
import torch
from common import cpu_line

HIDDEN, INTERMEDIATE, LAYERS = 768, 3072, 12


def forward_flops(seq: int, batch: int = 1) -> float:
    linear = 2 * seq * LAYERS * (4 * HIDDEN * HIDDEN + 2 * HIDDEN * INTERMEDIATE)
    attention = 2 * 2 * seq * seq * HIDDEN * LAYERS
    return float(batch * (linear + attention))


def best_and_median(fn, warmup: int, reps: int) -> tuple[float, float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times)


def gemm_peaks(n: int, reps: int, threads: int) -> dict:
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    flop = 2.0 * n**3
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    b = np.random.default_rng(1).standard_normal((n, n), dtype=np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["A", "B"], ["C"])],
        "gemm",
        [helper.make_tensor_value_info("A", TensorProto.FLOAT, [n, n])],
        [helper.make_tensor_value_info("C", TensorProto.FLOAT, [n, n])],
        # B is a weight (an initializer), as in the model: ONNX Runtime pre-packs it once
        initializer=[numpy_helper.from_array(b, "B")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    ort_best, ort_median = best_and_median(lambda: session.run(["C"], {"A": a}), 2, reps)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    torch_best, torch_median = best_and_median(lambda: torch.matmul(ta, tb), 2, reps)
    return {
        "n": n,
        "ort_gflops": flop / ort_best / 1e9,
        "ort_gflops_median": flop / ort_median / 1e9,
        "torch_gflops": flop / torch_best / 1e9,
        "torch_gflops_median": flop / torch_median / 1e9,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sentiment_dir")
    parser.add_argument("onnx_dir", type=Path, help="where the fp32 export is cached")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq", type=int, default=128)
    args = parser.parse_args(argv)

    from transformers import AutoModelForSequenceClassification

    from electra_demo.runtime.backends import OnnxRunner, export_onnx

    threads = torch.get_num_threads()
    reps = 2 if args.quick else 5
    model = AutoModelForSequenceClassification.from_pretrained(
        args.sentiment_dir, use_safetensors=True
    ).eval()
    path = args.onnx_dir / "model.onnx"
    t0 = time.perf_counter()
    if not path.is_file():
        export_onnx(args.sentiment_dir, None, "sequence-classification", args.onnx_dir, int8=False)
    export_s = time.perf_counter() - t0
    runner = OnnxRunner(path, "sequence-classification", int8=False)

    rng = np.random.default_rng(0)
    ids = rng.integers(100, 30000, size=(args.batch, args.seq)).astype(np.int64)
    ids[:, 0], ids[:, -1] = 2, 3  # [CLS] ... [SEP]
    feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
    tensors = {k: torch.from_numpy(v) for k, v in feeds.items()}

    def torch_forward():
        with torch.inference_mode():
            return model(**tensors).logits

    flop = forward_flops(args.seq, args.batch)
    gemm_reps = 3 if args.quick else 6
    before = gemm_peaks(2048, gemm_reps, threads)  # before and after the forwards: the best of both
    ort_best, ort_median = best_and_median(lambda: runner(feeds), 1, reps)
    torch_best, torch_median = best_and_median(torch_forward, 1, reps)
    after = gemm_peaks(2048, gemm_reps, threads)
    peaks = {key: max(before[key], after[key]) for key in before}
    print(
        json.dumps(
            {
                "cpu": cpu_line(),
                "threads": threads,
                "batch": args.batch,
                "seq": args.seq,
                "gflop_per_forward": flop / 1e9,
                "gflop_per_sequence": forward_flops(args.seq) / 1e9,
                "export_s": export_s,
                "ort_forward_s": ort_best,
                "ort_forward_median_s": ort_median,
                "ort_gflops": flop / ort_best / 1e9,
                "ort_gflops_median": flop / ort_median / 1e9,
                "torch_forward_s": torch_best,
                "torch_forward_median_s": torch_median,
                "torch_gflops": flop / torch_best / 1e9,
                "torch_gflops_median": flop / torch_median / 1e9,
                "gemm": peaks,
            }
        )
    )


if __name__ == "__main__":
    main()
