"""The export cache on disk, and the record of each export's check against PyTorch.

One folder per checkpoint, architecture and precision: ``<cache>/<fingerprint>-<architecture>-
<precision>/model.onnx`` (fp32, int8), or ``model.xml`` + ``model.bin`` (bf16: OpenVINO's format,
converted from the fp32 export; see ``runtime/bf16.py``). The fingerprint is read from the
checkpoint's files without loading its weights (config.json's content, the weights file's path,
size and modification time, and the versions of torch, transformers and onnxruntime), so a
restart can find its export before it loads anything. Beside the export, ``check.json`` records
that it was checked against PyTorch on a probe input (and the difference found): a checked export
is served at the next start without loading PyTorch's weights or checking it again. The record
names its folder (the checkpoint and settings), the export file's size and time and the tolerance
it was checked at; when any of them differs the export is checked again. No torch here.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from importlib import metadata
from pathlib import Path

log = logging.getLogger(__name__)

CHECK = "check.json"
MODEL = "model.onnx"
IR_MODEL = "model.xml"  # bf16: OpenVINO's IR (its weights beside it in model.bin)
WEIGHTS = "model.safetensors"
FP32_TOLERANCE = 1e-3  # an exported fp32 model further than this from PyTorch is not used
# a bf16 export further than this from PyTorch fp32 (largest logit difference on the probe) is not
# used: bf16 keeps 8 bits of mantissa, ~0.005-0.01 on electra-base's logits; 0.1 means broken
BF16_TOLERANCE = 0.1
PROBE_VERSION = 1  # bump when backends.probe_inputs changes: older records no longer count


def versions() -> list[str]:
    return [metadata.version(name) for name in ("torch", "transformers", "onnxruntime")]


def checkpoint_files(source: str, revision: str | None) -> tuple[Path, Path] | None:
    """The checkpoint's config.json and single safetensors file, without loading either; None
    when there is no single weights file (sharded checkpoints) or the Hub's copy is not at hand."""
    local = Path(source)
    if local.is_dir():
        files = (local / "config.json", local / WEIGHTS)
        return files if all(f.is_file() for f in files) else None
    try:
        from transformers.utils import cached_file

        from electra_demo.runtime import hub

        offline = not hub.reachable()
        found = [
            cached_file(source, name, revision=revision, local_files_only=offline)
            for name in ("config.json", WEIGHTS)
        ]
    except Exception:  # noqa: BLE001 - not found or not reachable: the caller loads the weights
        return None
    if not all(found):
        return None
    return Path(found[0]), Path(found[1])


def checkpoint_fingerprint(source: str, revision: str | None) -> str | None:
    """What identifies an export of this checkpoint, read from its files (no weights loaded)."""
    files = checkpoint_files(source, revision)
    if files is None:
        return None
    config, weights = files
    try:
        stat = weights.stat()
        parts = {
            "source": source,
            "revision": revision,
            "config": json.loads(config.read_text()),
            "weights": [str(weights.resolve()), stat.st_size, stat.st_mtime_ns],
            "versions": versions(),
        }
    except (OSError, ValueError):
        return None
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:24]


def export_folder(cache_dir: Path, fingerprint: str, architecture: str, precision: str) -> Path:
    """One checkpoint may be exported twice (a slot's head and, for embeddings, its encoder), in
    each precision (fp32, int8, bf16)."""
    return cache_dir / f"{fingerprint}-{architecture}-{precision}"


def model_path(folder: Path) -> Path:
    """The export's model file in ``folder``: ``model.xml`` for bf16, else ``model.onnx``."""
    return folder / (IR_MODEL if folder.name.endswith("-bf16") else MODEL)


def tolerance(folder: Path) -> float:
    """How far from PyTorch fp32 the export in ``folder`` may be (int8 is reported, not held to it)."""
    return BF16_TOLERANCE if folder.name.endswith("-bf16") else FP32_TOLERANCE


def publish(out: Path, target: Path) -> None:
    """Rename the finished folder ``out`` to ``target``, atomically. Several processes (Ray
    replicas or actors) may export the same checkpoint at once: the first complete export stays
    (others may be reading it); a leftover without a model goes."""
    if target.exists() and not model_path(target).is_file():
        shutil.rmtree(target, ignore_errors=True)
    try:
        out.rename(target)
    except OSError:
        if not model_path(target).is_file():
            raise


def _identity(folder: Path) -> dict[str, object] | None:
    try:
        stat = model_path(folder).stat()
    except OSError:
        return None
    return {
        "export": folder.name,
        "bytes": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "tolerance": tolerance(folder),
        "probe": PROBE_VERSION,
    }


def read_check(folder: Path) -> float | None:
    """The difference from PyTorch recorded when this export was checked, or None when it was
    not checked (or the record is for another export, file, tolerance or probe)."""
    identity = _identity(folder)
    if identity is None:
        return None
    try:
        record = json.loads((folder / CHECK).read_text())
        difference = float(record["difference"])
    except (OSError, ValueError, TypeError, KeyError):
        return None
    if {key: record.get(key) for key in identity} != identity:
        log.info("the check record of %s is for another export or setting: checking again", folder.name)
        return None
    return difference


def write_check(folder: Path, difference: float) -> None:
    """Record (atomically) that the export in ``folder`` agreed with PyTorch within ``difference``."""
    identity = _identity(folder)
    if identity is None:
        return
    temporary = folder / f".{CHECK}.{os.getpid()}"
    temporary.write_text(json.dumps({**identity, "difference": difference}, indent=1))
    temporary.replace(folder / CHECK)
