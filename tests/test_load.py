"""A short run of the load script (benchmarks/load.py): 4 users for 5 seconds, no errors."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "load.py"


def load_module():
    spec = importlib.util.spec_from_file_location("electra_load", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_short_load_run_has_no_errors(app_url):
    load = load_module()
    report = load.run_load(app_url, users=4, seconds=5, pid=os.getpid(), timeout=60)
    assert report.errors == []
    assert report.busy == 0  # 4 users never fill a queue of config.QUEUE_MAX_SIZE
    assert report.completed >= 4
    assert min(report.per_user) >= 1, report.per_user  # every user got answers
    assert len(report.by_endpoint) >= 3  # the mix reached several endpoints
    assert report.percentile(50) is not None and report.percentile(99) >= report.percentile(50)
    assert report.peak_kb and report.peak_kb > 0
    text = "\n".join(report.lines())
    assert "requests/s" in text and "p95" in text and "errors 0" in text
