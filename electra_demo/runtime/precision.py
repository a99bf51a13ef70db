"""Which precision serves: ``ELECTRA_DEMO_PRECISION``'s ``auto`` decided by the CPU's flags.

``auto`` is bf16 where the CPU reports AVX512-BF16 or AMX-BF16 (it multiplies bf16 natively) and
fp32 elsewhere; on CUDA it is fp16, as before. fp32, bf16 and int8 named by the operator are
served as named (int8 has no GPU path: fp16 there). The flags are read from ``/proc/cpuinfo``
(:data:`CPUINFO`, which tests point at a fake file, or pass ``flags``). No torch here: the page
and ``/health`` say the precision before any model loads.
"""

from __future__ import annotations

import functools
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")
BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # either one: the CPU has native bf16 dot products


@functools.lru_cache(maxsize=8)
def _flags(path: Path) -> frozenset[str]:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == "flags":
            return frozenset(value.split())
    return frozenset()


def cpu_flags(cpuinfo: Path | None = None) -> frozenset[str]:
    """The CPU's instruction-set flags (the first ``flags`` line of ``cpuinfo``, default
    :data:`CPUINFO`); empty where there is no such file or line (not Linux)."""
    return _flags(cpuinfo or CPUINFO)


def cpu_has_bf16(flags: frozenset[str] | None = None) -> bool:
    """Whether the CPU reports ``avx512_bf16`` or ``amx_bf16`` (``flags``: :func:`cpu_flags`)."""
    found = cpu_flags() if flags is None else flags
    return any(flag in found for flag in BF16_FLAGS)


def decide(asked: str, device_type: str = "cpu", flags: frozenset[str] | None = None) -> str:
    """The precision served on ``device_type`` when ``asked`` (auto, fp32, bf16, int8; or an
    already decided one, returned as it is): fp32, bf16, int8, or fp16 on CUDA."""
    if device_type != "cpu":
        return "fp16" if asked in ("auto", "int8", "fp16") else asked
    if asked == "auto":
        return "bf16" if cpu_has_bf16(flags) else "fp32"
    return asked


def why(asked: str, decided: str) -> str:
    """A few words on how ``decided`` came about, for the status panel."""
    if asked != "auto":
        return f"{decided}: ELECTRA_DEMO_PRECISION={asked}" if asked != decided else f"{decided}: asked for"
    if decided == "bf16":
        return "bf16: auto, the CPU has " + " / ".join(f for f in BF16_FLAGS if f in cpu_flags())
    if decided == "fp16":
        return "fp16: auto, on CUDA"
    return "fp32: auto, the CPU has no avx512_bf16 or amx_bf16"
