"""One comparison for JSON-like answers that went through float arithmetic: equal structure, equal
strings, booleans and integers, floats within a tolerance each caller states (batched rows, ONNX
Runtime and JSON round trips each round differently, so no one tolerance fits every caller)."""

from __future__ import annotations

import math
from typing import Any, NamedTuple


class Tolerance(NamedTuple):
    """How far two floats may differ: within ``rel`` of the larger or within ``abs`` (as
    :func:`math.isclose`; ``rel=0`` compares absolutely only)."""

    rel: float
    abs: float


def assert_close(actual: Any, expected: Any, tol: Tolerance, where: str = "$") -> None:
    """``actual`` equals ``expected``: dicts with the same keys in the same order, lists (or tuples)
    of the same length, floats within ``tol`` (and a float where a float is expected), anything
    else exactly. ``where`` names the place in a failure message."""
    if isinstance(expected, float):
        assert isinstance(actual, float), f"{where}: expected a float, got {actual!r}"
        assert math.isclose(actual, expected, rel_tol=tol.rel, abs_tol=tol.abs), (
            f"{where}: {actual} != {expected} (tolerance {tol})"
        )
    elif isinstance(expected, dict):
        assert isinstance(actual, dict) and list(actual) == list(expected), (
            f"{where}: keys {list(actual) if isinstance(actual, dict) else actual!r} != {list(expected)}"
        )
        for key in expected:
            assert_close(actual[key], expected[key], tol, f"{where}.{key}")
    elif isinstance(expected, (list, tuple)):
        assert isinstance(actual, (list, tuple)) and len(actual) == len(expected), (
            f"{where}: {actual!r} is not a sequence of {len(expected)}"
        )
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_close(a, e, tol, f"{where}[{i}]")
    else:
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"


BF16_AGREEMENT = 0.02  # issue 27: every number under bf16 within 0.02 of fp32


def served_abs(service: Any, name: str) -> float:
    """The absolute tolerance for comparing what ``service`` serves for ``name`` (a slot or a trained
    model's id) with an fp32 reference: 1e-5 where it serves fp32, else the bf16 agreement bound."""
    return 1e-5 if service.precision_of(name) == "fp32" else BF16_AGREEMENT


def exact_in_fp32(service: Any, name: str) -> bool:
    """Whether ``name`` serves in fp32, where rankings of near-ties must equal the reference's too."""
    return service.precision_of(name) == "fp32"
