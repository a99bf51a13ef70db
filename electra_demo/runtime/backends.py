"""Inference backends: one small call from padded token ids to named output arrays.

- ``torch``: the transformers model itself (CUDA in half precision when there is a GPU, CPU in
  float32 otherwise), wrapped in ``spaces.GPU`` for ZeroGPU Spaces.
- ``onnx``: ONNX Runtime on the CPU. On this kind of CPU (AVX2, 2 cores) its GEMMs are the
  fastest measured (see ``benchmarks/``). The model is exported with maintained tooling
  (``torch.onnx.export`` then ONNX Runtime's transformer optimizer, optionally its dynamic int8
  quantiser), once per checkpoint and setting, cached on disk and reused on the next start.
  In bf16 (``ELECTRA_DEMO_PRECISION``; auto on CPUs with AVX512-BF16 or AMX) OpenVINO runs the
  export instead, converted once to its own format (``runtime/bf16.py`` says why).

``make_runner`` picks one, checks the ONNX model against PyTorch on a probe input before
trusting it, and falls back to PyTorch (saying why) when export or the runtime fails.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import spaces  # before torch touches CUDA, as ZeroGPU requires
import torch

log = logging.getLogger(__name__)

from electra_demo.config import AUTO_CLASSES, BackendChoice  # noqa: E402 - BackendChoice re-exported for callers
from electra_demo.runtime import export_cache, telemetry  # noqa: E402
from electra_demo.runtime.export_cache import FP32_TOLERANCE  # noqa: E402, F401 - re-exported for callers

INPUT_NAMES = ["input_ids", "attention_mask", "token_type_ids"]


def output_names(architecture: str) -> list[str]:
    if architecture == "question-answering":
        return ["start_logits", "end_logits"]
    return ["last_hidden_state"] if architecture == "feature-extraction" else ["logits"]


class Runner(Protocol):
    description: str

    def __call__(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]: ...


@spaces.GPU  # a no-op except on ZeroGPU Spaces, where it lends a GPU for the call
def _torch_forward(
    model: torch.nn.Module, inputs: Mapping[str, np.ndarray], names: list[str]
) -> list[np.ndarray]:
    device = next(model.parameters()).device
    with torch.inference_mode():
        output = model(**{k: torch.from_numpy(np.ascontiguousarray(v)).to(device) for k, v in inputs.items()})
    return [getattr(output, name).float().cpu().numpy() for name in names]


class TorchRunner:
    uses_torch_model = True

    def __init__(self, model: torch.nn.Module, architecture: str, note: str = ""):
        self.model = model
        self.names = output_names(architecture)
        device = next(model.parameters()).device
        self.precision = {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(
            next(model.parameters()).dtype, "fp32"
        )
        self.description = f"PyTorch {device.type} {self.precision}" + (f" ({note})" if note else "")

    def __call__(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(zip(self.names, _torch_forward(self.model, inputs, self.names), strict=True))


class OnnxRunner:
    uses_torch_model = False  # the service may free PyTorch's copy of the weights

    def __init__(self, path: Path, architecture: str, int8: bool):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = torch.get_num_threads()
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.names = output_names(architecture)
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.precision = "int8" if int8 else "fp32"
        self.description = f"ONNX Runtime CPU {self.precision}"

    def __call__(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        feeds = {k: np.ascontiguousarray(v, dtype=np.int64) for k, v in inputs.items() if k in self.inputs}
        return dict(zip(self.names, self.session.run(self.names, feeds), strict=True))


class _Outputs(torch.nn.Module):
    """The model as a function of the three inputs, returning plain tensors for export."""

    def __init__(self, model: torch.nn.Module, names: list[str]):
        super().__init__()
        self.model, self.names = model, names

    def forward(self, input_ids, attention_mask, token_type_ids):
        output = self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        return tuple(getattr(output, name) for name in self.names)


def weights_fingerprint(source: str, revision: str | None, model: torch.nn.Module) -> str:
    """What identifies an export: read from the checkpoint's files where it has a single weights
    file (:func:`export_cache.checkpoint_fingerprint`, no weights needed), else (sharded or unusual
    layouts) from the loaded model's config and a sample of every parameter."""
    found = export_cache.checkpoint_fingerprint(source, revision)
    if found is not None:
        return found
    digest = hashlib.sha256()
    for tensor in model.state_dict().values():
        digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes()[:4096])
    parts = {
        "source": source,
        "revision": revision,
        "config": model.config.to_diff_dict(),
        "weights": digest.hexdigest(),
        "versions": export_cache.versions(),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:24]


EXPORT_TIMEOUT_S = 1800


def export_onnx(
    source: str, revision: str | None, architecture: str, target: Path, int8: bool, nice: int = 0
) -> Path:
    """Export a checkpoint in a child process, so the server never holds the exporter's peak
    memory (several GB for a base-size model); the child loads the same safetensors weights.
    ``nice`` > 0 runs the child at a lower CPU priority (a background export yields to requests)."""
    import subprocess
    import sys

    command = [sys.executable, "-m", "electra_demo.runtime.backends", source, architecture, str(target)]
    command += ["--revision", revision] if revision else []
    command += ["--int8"] if int8 else []
    command += ["--nice", str(nice)] if nice > 0 else []
    run = subprocess.run(command, capture_output=True, text=True, timeout=EXPORT_TIMEOUT_S, check=False)
    if run.returncode != 0:
        lines = [line for line in run.stderr.strip().splitlines() if line.strip()]
        raise RuntimeError(f"export failed: {lines[-1] if lines else run.returncode}")
    return target / "model.onnx"


def _export_main(argv: list[str] | None = None) -> None:
    import argparse

    import transformers

    parser = argparse.ArgumentParser(description="Export one checkpoint to ONNX (used by the app).")
    parser.add_argument("source")
    parser.add_argument("architecture", choices=sorted(AUTO_CLASSES))
    parser.add_argument("target", type=Path)
    parser.add_argument("--revision")
    parser.add_argument("--int8", action="store_true")
    parser.add_argument("--nice", type=int, default=0, help="lower this process's CPU priority first")
    args = parser.parse_args(argv)
    if args.nice > 0 and hasattr(os, "nice"):
        os.nice(args.nice)
    model = getattr(transformers, AUTO_CLASSES[args.architecture]).from_pretrained(
        args.source, revision=args.revision, use_safetensors=True, trust_remote_code=False
    )
    export_model(model.eval(), args.architecture, args.target, args.int8)


def export_model(model: torch.nn.Module, architecture: str, target: Path, int8: bool) -> Path:
    """Export, optimise (and optionally quantise) ``model`` to ``target/model.onnx``, atomically:
    the steps run in a scratch folder beside ``target``, which gets the finished model only."""
    previous = getattr(model.config, "_attn_implementation", None)
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    try:
        if previous not in (None, "eager"):
            model.set_attn_implementation("eager")  # the legacy exporter traces eager attention
        final = _optimise(_trace(model, architecture, work / "raw.onnx"), model.config, work / "fp32.onnx")
        if int8:
            final = _quantise(final, work / "int8.onnx")
        return _publish(final, work / "out", target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if previous not in (None, "eager"):
            model.set_attn_implementation(previous)
        model.eval()  # export toggles training mode on the way out: never serve with dropout on


def _trace(model: torch.nn.Module, architecture: str, path: Path) -> Path:
    """The model traced to ONNX at ``path``: batch and sequence length left dynamic."""
    names = output_names(architecture)
    wrapper = _Outputs(model, names).eval()
    sample = torch.ones((1, 8), dtype=torch.long)
    axes = {name: {0: "batch", 1: "sequence"} for name in INPUT_NAMES}
    axes.update({name: {0: "batch", 1: "sequence"} for name in names})
    if architecture == "sequence-classification":
        axes["logits"] = {0: "batch"}
    with torch.no_grad():
        torch.onnx.export(
            wrapper,
            (sample, sample, torch.zeros_like(sample)),
            str(path),
            dynamo=False,
            opset_version=17,
            input_names=INPUT_NAMES,
            output_names=names,
            dynamic_axes=axes,
        )
    return path


def _optimise(raw: Path, config: Any, path: Path) -> Path:
    """ONNX Runtime's transformer optimizer (attention and layer-norm fusion) on ``raw``; ``config``
    is the model's (a transformers ``PretrainedConfig``: its heads and hidden size)."""
    from onnxruntime.transformers import optimizer

    optimized = optimizer.optimize_model(
        str(raw),
        model_type="bert",
        num_heads=config.num_attention_heads,
        hidden_size=config.hidden_size,
    )
    optimized.save_model_to_file(str(path))
    return path


def _quantise(fp32: Path, path: Path) -> Path:
    """ONNX Runtime's dynamic int8 quantiser on ``fp32``."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(fp32),
        str(path),
        weight_type=QuantType.QInt8,
        # the optimiser's fused graph lacks some value types; declare the default
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )
    return path


def _publish(final: Path, out: Path, target: Path) -> Path:
    """Move ``final`` into ``target/model.onnx`` by renaming a whole folder (``out``) into place
    (:func:`export_cache.publish`: the first complete export stays)."""
    out.mkdir()
    final.rename(out / "model.onnx")
    export_cache.publish(out, target)
    return target / "model.onnx"


def probe_inputs(vocab_size: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    ids = rng.integers(5, max(6, vocab_size - 1), size=(2, 12))
    mask = np.ones_like(ids)
    mask[1, 8:] = 0
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}


def agreement(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray], mask: np.ndarray) -> float:
    """Largest absolute difference between two runners' outputs on real (unpadded) positions."""
    worst = 0.0
    for name in a:
        x, y = a[name], b[name]
        if x.ndim >= 2 and x.shape[1] == mask.shape[1]:
            keep = mask.astype(bool)
            x, y = x[keep], y[keep]
        worst = max(worst, float(np.max(np.abs(x - y))))
    return worst


def onnx_wanted(choice: BackendChoice, device: torch.device) -> bool:
    """Whether the export (ONNX Runtime; OpenVINO in bf16) should serve a model on ``device``
    (the CPU) under ``choice``."""
    return device.type == "cpu" and choice.backend != "torch"


def _note(runner: Runner, how: str, difference: float, precision: str) -> str:
    note = f"{runner.description}, {how}"
    if precision != "fp32":
        note += f"; max |logit difference| vs fp32 on a probe: {difference:.3g}"
    return note


def open_export(folder: Path, architecture: str, precision: str) -> Runner:
    """The runner of the export in ``folder``: OpenVINO for bf16, else ONNX Runtime."""
    path = export_cache.model_path(folder)
    if precision == "bf16":
        from electra_demo.runtime.bf16 import OpenVinoRunner

        return OpenVinoRunner(path, output_names(architecture), torch.get_num_threads())
    return OnnxRunner(path, architecture, precision == "int8")


def cached_onnx_runner(
    source: str, revision: str | None, architecture: str, choice: BackendChoice
) -> tuple[Runner, str] | None:
    """An export of this checkpoint that was made and checked before (at an earlier start), with
    no PyTorch weights loaded; None when there is none (the caller loads the weights)."""
    fingerprint = export_cache.checkpoint_fingerprint(source, revision)
    if fingerprint is None:
        return None
    folder = export_cache.export_folder(choice.cache_dir, fingerprint, architecture, choice.precision)
    difference = export_cache.read_check(folder)
    if difference is None:
        return None
    try:
        runner = open_export(folder, architecture, choice.precision)
    except Exception as error:  # noqa: BLE001 - an unreadable export: load the weights and redo it
        log.warning("cached export %s could not be opened (%s): exporting again", folder.name, error)
        return None
    return runner, _note(runner, "cached export, checked when it was made", difference, choice.precision)


def onnx_runner(
    model: torch.nn.Module,
    architecture: str,
    source: str,
    revision: str | None,
    choice: BackendChoice,
    nice: int = 0,
) -> tuple[Runner, str]:
    """Export (unless cached), check against ``model`` (fp32) on a probe (unless checked before),
    and record the check; raises when export, runtime or check fails. bf16: the fp32 export,
    converted to OpenVINO's format. ``nice`` lowers the export child's CPU priority (background
    exports)."""
    fingerprint = weights_fingerprint(source, revision, model)
    onnx_precision = "int8" if choice.int8 else "fp32"
    folder = export_cache.export_folder(choice.cache_dir, fingerprint, architecture, onnx_precision)
    cached = export_cache.model_path(folder).is_file()
    if not cached:
        started = time.perf_counter()
        export_onnx(source, revision, architecture, folder, choice.int8, nice=nice)
        telemetry.exported(time.perf_counter() - started)  # for /metrics
    if choice.precision == "bf16":
        from electra_demo.runtime.bf16 import convert

        onnx, folder = folder, export_cache.export_folder(choice.cache_dir, fingerprint, architecture, "bf16")
        cached = export_cache.model_path(folder).is_file()
        if not cached:
            convert(export_cache.model_path(onnx), folder, nice=nice)
    runner = open_export(folder, architecture, choice.precision)
    difference = export_cache.read_check(folder)
    if difference is None:
        probe = probe_inputs(model.config.vocab_size)
        difference = agreement(
            runner(probe), TorchRunner(model, architecture)(probe), probe["attention_mask"]
        )
        if not choice.int8 and difference > export_cache.tolerance(folder):
            raise RuntimeError(f"the exported model differs from PyTorch by {difference:.2g}")
        export_cache.write_check(folder, difference)
    how = "cached export" if cached else "exported now"
    return runner, _note(runner, how, difference, choice.precision)


def fallback_runner(model: torch.nn.Module, architecture: str, source: str, error: Exception) -> TorchRunner:
    """PyTorch (at the weights' own precision: fp32 on a CPU) in place of a failed export, saying
    why (in the log and the model panel)."""
    log.warning("ONNX backend failed for %s, using PyTorch: %s", source, error)
    return TorchRunner(model, architecture, note=f"fallback: ONNX failed: {str(error)[:120]}")


def make_runner(
    model: torch.nn.Module,
    architecture: str,
    source: str,
    revision: str | None,
    choice: BackendChoice,
) -> tuple[Runner, str]:
    """The runner for one loaded model, and a line for the log and the model panel."""
    on_gpu = next(model.parameters()).device.type != "cpu"
    if choice.backend == "torch" or (choice.backend == "auto" and on_gpu):
        runner = TorchRunner(model, architecture)
        return runner, runner.description
    if on_gpu:
        runner = TorchRunner(model, architecture, note="ONNX Runtime runs on the CPU only here")
        return runner, runner.description
    try:
        return onnx_runner(model, architecture, source, revision, choice)
    except Exception as error:  # noqa: BLE001 - any failure means: serve this slot with PyTorch
        runner = fallback_runner(model, architecture, source, error)
        return runner, runner.description


if __name__ == "__main__":
    _export_main()
