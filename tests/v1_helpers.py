"""Shared by the /v1 tests: the page and the API served together, as ``python app.py`` serves
them (one process, one port, one model service), on a free port in a background thread."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping
from typing import Any

from electra_demo.service import ModelService
from tests.conftest import launch


@contextlib.contextmanager
def serve(service: ModelService, environ: Mapping[str, str] | None = None, **kwargs: Any) -> Iterator[str]:
    """The page and the API around ``service``; yields the base URL (no trailing slash).
    ``environ`` holds the API's settings (keys, rate limit); default: none (open API)."""
    demo = launch(service, environ or {}, **kwargs)
    try:
        yield demo.local_url.rstrip("/")
    finally:
        demo.close()


def assert_close(actual: Any, expected: Any, tol: float = 1e-5, where: str = "$") -> None:
    """Equal JSON, numbers within ``tol`` (rows batched with others differ by float rounding)."""
    if isinstance(expected, bool) or expected is None or isinstance(expected, str):
        assert actual == expected, where
    elif isinstance(expected, (int, float)):
        assert isinstance(actual, (int, float)) and not isinstance(actual, bool), where
        assert math.isclose(actual, expected, rel_tol=tol, abs_tol=tol), (where, actual, expected)
    elif isinstance(expected, dict):
        assert isinstance(actual, dict) and set(actual) == set(expected), (
            where,
            actual.keys(),
            expected.keys(),
        )
        for key in expected:
            assert_close(actual[key], expected[key], tol, f"{where}.{key}")
    else:
        assert isinstance(actual, list) and len(actual) == len(expected), where
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_close(a, e, tol, f"{where}[{i}]")
