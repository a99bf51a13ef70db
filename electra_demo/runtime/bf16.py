"""bf16 on the CPU: OpenVINO runs the checked ONNX export with bf16 arithmetic.

Why OpenVINO: measured on an Intel Xeon with AMX and AVX512-BF16, 2 threads, electra-base shape
(``benchmarks/bench_precision.py``, ``benchmarks/RESULTS.md``), OpenVINO's bf16 forward of a batch
of 8 x 128 tokens ran about 4x faster than ONNX Runtime fp32 (the default CPU backend) and than
PyTorch's own bf16 (oneDNN kernels, weights cast to bf16), with the same largest logit difference
(~0.005-0.01). ONNX Runtime has no bf16 kernels for x86 CPUs. OpenVINO is Intel's maintained
inference runtime (a release a quarter) and reads the ONNX export the app already makes.

The bf16 export is OpenVINO's own format (IR: ``model.xml`` + ``model.bin``) with 16-bit weights,
converted once from the fp32 ONNX export in a child process (its peak memory stays out of the
server) and cached beside it (``export_cache``): half the fp32 export's size on disk, and less
resident memory than ONNX Runtime fp32 (its CPU plugin repacks the weights as bf16 on the first
call). OpenVINO's own compiled-model cache is not used: measured, it cut a base-shaped model's
compile from 0.24 to 0.09 s, for another 210 MB on disk per model (a filled start answers its
first three requests within a second of the page without it: benchmarks/RESULTS.md).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from electra_demo.runtime import export_cache

CONVERT_TIMEOUT_S = 600


class OpenVinoRunner:
    """An export run by OpenVINO on the CPU in bf16; one inference request per calling thread
    (the micro-batcher's worker, or the request threads where batching is off)."""

    uses_torch_model = False  # the service may free PyTorch's copy of the weights
    precision = "bf16"

    def __init__(self, path: Path, names: list[str], threads: int):
        import openvino as ov

        settings = {"INFERENCE_PRECISION_HINT": "bf16", "PERFORMANCE_HINT": "LATENCY"}
        settings["INFERENCE_NUM_THREADS"] = max(1, threads)
        self.compiled = ov.Core().compile_model(str(path), "CPU", settings)
        self.names = names
        self.inputs = {port.any_name for port in self.compiled.inputs}
        self.description = "OpenVINO CPU bf16"
        self._local = threading.local()

    def __call__(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self.compiled.create_infer_request()
        feeds = {k: np.ascontiguousarray(v, dtype=np.int64) for k, v in inputs.items() if k in self.inputs}
        result = request.infer(feeds)
        # copies: the request reuses its output buffers on its next call
        return {name: np.array(result[name], dtype=np.float32) for name in self.names}


def convert(onnx: Path, target: Path, nice: int = 0) -> Path:
    """The ONNX export ``onnx`` as OpenVINO IR with 16-bit weights in ``target`` (a child process,
    at CPU priority ``nice`` when > 0); the IR's ``model.xml``."""
    command = [sys.executable, "-m", "electra_demo.runtime.bf16", str(onnx), str(target)]
    command += ["--nice", str(nice)] if nice > 0 else []
    run = subprocess.run(command, capture_output=True, text=True, timeout=CONVERT_TIMEOUT_S, check=False)
    if run.returncode != 0:
        lines = [line for line in run.stderr.strip().splitlines() if line.strip()]
        raise RuntimeError(f"OpenVINO conversion failed: {lines[-1] if lines else run.returncode}")
    return export_cache.model_path(target)


def _convert_main(argv: list[str] | None = None) -> None:
    import argparse
    import os

    import openvino as ov

    parser = argparse.ArgumentParser(description="Convert an ONNX export to OpenVINO IR (used by the app).")
    parser.add_argument("onnx", type=Path)
    parser.add_argument("target", type=Path)
    parser.add_argument("--nice", type=int, default=0, help="lower this process's CPU priority first")
    args = parser.parse_args(argv)
    if args.nice > 0 and hasattr(os, "nice"):
        os.nice(args.nice)
    args.target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=args.target.name + ".", dir=args.target.parent))
    try:
        out = work / "out"
        model = ov.Core().read_model(str(args.onnx))
        ov.save_model(model, str(out / export_cache.IR_MODEL), compress_to_fp16=True)
        export_cache.publish(out, args.target)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    _convert_main()
