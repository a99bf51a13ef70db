"""Run the test suite several times in a row on a busy machine, and say how each run went.

    .venv/bin/python scripts/busy_suite.py                    # 3 runs, 2 CPU-bound processes beside
    .venv/bin/python scripts/busy_suite.py --runs 1 --hogs 2 -- tests/test_browser_explain.py

The CI machine is as loaded as any: a test that waits on the clock instead of on the event it
means fails there at random. This script makes the load on purpose. It starts ``--hogs`` processes
that spin on the CPU (each ends by itself at the deadline, or as soon as this script is gone), runs
``python -m pytest`` ``--runs`` times one after another (each bounded by ``--run-minutes``), keeps
each run's log under ``--logs``, and prints one line per run (exit code, counts, wall time) and the
slowest tests of every run, as pytest's ``--durations`` reported them. Exit code 0 only when every
run passed.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUMMARY = re.compile(r"^=+ (?P<body>.*\d+ (passed|failed|error).*) in (?P<secs>[\d.]+)s.*=+$")
DURATION = re.compile(r"^(?P<secs>[\d.]+)s (?P<phase>call|setup|teardown) +(?P<test>\S+)")

# A busy loop that stops at its deadline, or when its parent (this script) is gone.
HOG = """
import os, time
deadline, parent = time.monotonic() + {seconds}, os.getppid()
n = 0
while time.monotonic() < deadline and os.getppid() == parent:
    for _ in range(200_000):
        n += 1
"""


def start_hogs(count: int, seconds: float) -> list[subprocess.Popen]:
    code = HOG.format(seconds=seconds)
    return [subprocess.Popen([sys.executable, "-c", code]) for _ in range(count)]


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait()


def run_suite(pytest_args: list[str], log: Path, minutes: float) -> tuple[int, float, str, list[str]]:
    """One pytest run: (exit code, wall seconds, summary line, slowest tests)."""
    command = [sys.executable, "-m", "pytest", *pytest_args]
    start = time.monotonic()
    with open(log, "w", encoding="utf-8") as output:
        try:
            code = subprocess.run(
                command, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT, timeout=minutes * 60, check=False
            ).returncode
        except subprocess.TimeoutExpired:
            code = 124
    wall = time.monotonic() - start
    summary, slowest = "(no summary line: see the log)", []
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        if match := SUMMARY.match(line.strip()):
            summary = match.group("body")
        elif (match := DURATION.match(line.strip())) and len(slowest) < 15:
            slowest.append(
                f"{float(match.group('secs')):7.1f} s  {match.group('phase'):5}  {match.group('test')}"
            )
    return code, wall, summary, slowest


def cpu_line() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                flags = Path("/proc/cpuinfo").read_text()
                isa = "AVX-512+VNNI" if "avx512_vnni" in flags else "AVX2" if "avx2" in flags else "?"
                return f"{line.split(':', 1)[1].strip()}, {os.cpu_count()} cores, {isa}"
    except OSError:
        pass
    return f"{os.cpu_count()} cores"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="suite runs, one after another (3)")
    parser.add_argument("--hogs", type=int, default=2, help="CPU-bound processes beside it (2)")
    parser.add_argument("--run-minutes", type=float, default=40, help="each run's limit (40)")
    parser.add_argument("--logs", type=Path, default=Path("/tmp/busy-suite"), help="where logs go")
    parser.add_argument("pytest_args", nargs="*", help="after --: passed to pytest (default: all)")
    args = parser.parse_args(argv)
    args.logs.mkdir(parents=True, exist_ok=True)
    print(f"CPU: {cpu_line()}; {args.hogs} CPU-bound processes beside {args.runs} run(s)", flush=True)
    hogs = start_hogs(args.hogs, args.runs * args.run_minutes * 60 + 60)
    results = []
    try:
        for n in range(1, args.runs + 1):
            log = args.logs / f"run{n}.log"
            code, wall, summary, slowest = run_suite(args.pytest_args, log, args.run_minutes)
            results.append(code)
            print(f"run {n}: exit {code}, {wall / 60:.1f} min, {summary}  (log: {log})", flush=True)
            print("  slowest:\n    " + "\n    ".join(slowest or ["(none reported)"]), flush=True)
    finally:
        stop(hogs)
    passed = sum(code == 0 for code in results)
    print(f"{passed} of {len(results)} runs passed", flush=True)
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
