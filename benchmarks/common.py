"""What every benchmark shares: the CPU line, timing a Gradio server over plain HTTP, app launches.

Timing a server: :class:`GradioHttp` calls an endpoint the way the README's plain-HTTP section
does (``POST /gradio_api/call/<api>`` with ``{"data": [...]}``, then ``GET
/gradio_api/call/<api>/<event_id>`` and read its event stream to ``event: complete``), on one
kept-alive ``httpx`` connection. Request bodies are encoded with :func:`body` before the clock
starts; :meth:`GradioHttp.timed` times only the POST and the stream, and parses nothing on the
clock. (``gradio_client`` is not used for timing: it adds tens of milliseconds of its own to
every call, see ``client_cost.py``.)

The CPU line (:func:`cpu_line`): model name, family/model, cores and the instruction-set flags
that decide fp32/int8 speed (avx2, avx512*, *vnni*, amx*), read from /proc/cpuinfo.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
T = TypeVar("T")
SHARED_NOTE = "shared machine: other people's jobs ran alongside; compare ratios, not milliseconds"


# ---- the CPU -----------------------------------------------------------------------------------
def _relevant_flag(flag: str) -> bool:
    return flag == "avx2" or flag.startswith(("avx512", "amx")) or "vnni" in flag


def cpu_info(cpuinfo: str | None = None) -> dict[str, Any]:
    """Model name, family/model, cores (online, and usable by this process) and the relevant flags."""
    text = Path("/proc/cpuinfo").read_text() if cpuinfo is None else cpuinfo
    first: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() not in first:
            first[key.strip()] = value.strip()
    flags = first.get("flags", "").split()
    return {
        "model_name": first.get("model name", "unknown"),
        "family": first.get("cpu family", "?"),
        "model": first.get("model", "?"),
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "flags": [f for f in flags if _relevant_flag(f)],
    }


def cpu_line(info: dict[str, Any] | None = None) -> str:
    """``CPU: AMD EPYC (family 25, model 1), 2 cores; flags: avx2`` (no AVX-512/VNNI/AMX: says so)."""
    info = info or cpu_info()
    flags = " ".join(info["flags"]) or "none of avx2/avx512/vnni/amx"
    if info["flags"] and not any(f != "avx2" for f in info["flags"]):
        flags += " (no avx512, vnni or amx)"
    cores = f"{info['cores']} cores"
    if info.get("usable_cores") not in (None, info["cores"]):
        cores += f" ({info['usable_cores']} usable)"
    return (
        f"CPU: {info['model_name']} (family {info['family']}, model {info['model']}), {cores}; flags: {flags}"
    )


# ---- small helpers -----------------------------------------------------------------------------
def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile, q in [0, 100] (numpy's default)."""
    data = sorted(values)
    if not data:
        return float("nan")
    k = (len(data) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (k - lo)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def vm_hwm_mb(pid: int) -> float:
    """VmHWM (the resident set's high-water mark) of a process, in MB; NaN where unreadable."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def _cpu_ticks(pid: str, children: bool) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    # after the command name: utime, stime, cutime, cstime are fields 12-15 (0-based 11-14)
    return sum(int(x) for x in fields[11 : 15 if children else 13])


@contextlib.contextmanager
def other_load(into: dict, key: str, pids: list[int]) -> Iterator[None]:
    """Record how many cores *other* processes kept busy (and steal) while the block ran.

    Busy time of the whole machine (/proc/stat) minus this process (and its waited children)
    and the app under test: a noise gauge, since the machine is shared.
    """

    def machine_ticks() -> tuple[int, int]:
        values = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        idle = values[3] + values[4]
        steal = values[7] if len(values) > 7 else 0
        return sum(values[:8]) - idle - steal, steal

    def own() -> int:
        return _cpu_ticks("self", True) + sum(_cpu_ticks(str(p), False) for p in pids)

    hz = os.sysconf("SC_CLK_TCK")
    busy0, steal0 = machine_ticks()
    own0, t0 = own(), time.perf_counter()
    try:
        yield
    finally:
        busy1, steal1 = machine_ticks()
        elapsed = time.perf_counter() - t0
        into[key] = {
            "other_cores": max(0.0, (busy1 - busy0 - (own() - own0)) / hz / elapsed),
            "steal_cores": (steal1 - steal0) / hz / elapsed,
            "loadavg_1m": float(Path("/proc/loadavg").read_text().split()[0]),
        }


# ---- plain-HTTP calls to a Gradio app ----------------------------------------------------------
class CallFailed(RuntimeError):
    """The endpoint answered with an error (``event: error`` or an HTTP error status)."""


class Busy(CallFailed):
    """The server's queue was full (HTTP 503 on the POST)."""


def body(args: Sequence[Any]) -> bytes:
    """The POST body for a call with these arguments, in order (every argument: no defaults)."""
    return json.dumps({"data": list(args)}).encode()


class GradioHttp:
    """One kept-alive HTTP connection to a Gradio app's ``/gradio_api/call/`` routes."""

    HEADERS: ClassVar[dict[str, str]] = {"Content-Type": "application/json"}

    def __init__(self, url: str, timeout: float = 300.0) -> None:
        import httpx

        self.base = url.rstrip("/") + "/gradio_api/call/"
        self.http = httpx.Client(timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> GradioHttp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def raw(self, api: str, payload: bytes) -> tuple[str, str]:
        """POST ``payload``, read the event stream to its final event: ``(event, data text)``."""
        import httpx

        try:
            return self._raw(api, payload)
        except httpx.HTTPError as error:  # connection refused, reset, timed out...
            raise CallFailed(f"{api}: {type(error).__name__}: {error}") from error

    def _raw(self, api: str, payload: bytes) -> tuple[str, str]:
        url = self.base + api.lstrip("/")
        posted = self.http.post(url, content=payload, headers=self.HEADERS)
        if posted.status_code == 503:
            raise Busy(f"{api}: HTTP 503 {posted.text[:200]}")
        if posted.status_code != 200:
            raise CallFailed(f"{api}: HTTP {posted.status_code} {posted.text[:200]}")
        event_id = posted.json()["event_id"]
        event, final = "", None
        with self.http.stream("GET", f"{url}/{event_id}") as stream:
            for line in stream.iter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:") and event in ("complete", "error") and final is None:
                    final = (event, line[5:].strip())  # then read on to the stream's end (keep-alive)
        if final is None:
            raise CallFailed(f"{api}: the event stream ended without a complete or error event")
        return final

    def timed(self, api: str, payload: bytes) -> float:
        """Seconds from the POST to the end of the stream; raises :class:`CallFailed` after the clock."""
        start = time.perf_counter()
        event, data = self.raw(api, payload)
        elapsed = time.perf_counter() - start
        if event != "complete":
            raise CallFailed(f"{api}: {data[:300]}")
        return elapsed

    def call(self, api: str, args: Sequence[Any]) -> list[Any]:
        """The outputs of one call (untimed use: checks, warm-ups)."""
        event, data = self.raw(api, body(args))
        if event != "complete":
            raise CallFailed(f"{api}: {data[:300]}")
        return json.loads(data)


# ---- launching an app in its own process -------------------------------------------------------
@dataclass
class App:
    name: str
    proc: subprocess.Popen
    url: str
    log_path: Path
    started: float
    page_s: float = float("nan")

    def backends(self) -> list[str]:
        """The app's own log lines saying which backend each slot runs on (or switched to)."""
        text = self.log_path.read_text(errors="replace")
        lines = text.splitlines()
        return [
            line.split(":", 2)[-1].strip() for line in lines if " runs on " in line or " switched to " in line
        ]


def _wait_for_page(app: App, deadline_s: float = 300.0) -> None:
    deadline = app.started + deadline_s
    while True:
        if app.proc.poll() is not None:
            raise RuntimeError(f"{app.name} exited with {app.proc.returncode}; see {app.log_path}")
        try:
            with urllib.request.urlopen(app.url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if time.perf_counter() > deadline:
            raise RuntimeError(f"{app.name} did not serve / within {deadline_s:.0f} s; see {app.log_path}")
        time.sleep(0.05)


@contextlib.contextmanager
def launched(name: str, argv: list[str], env: dict[str, str], logs: Path, cwd: Path = ROOT) -> Iterator[App]:
    """Start ``python *argv --port P`` in ``cwd``, wait for HTTP 200 on /, yield it, stop it."""
    port = free_port()
    log_path = logs / f"{name}.log"
    handle = log_path.open("w")
    started = time.perf_counter()
    proc = subprocess.Popen(
        [PYTHON, *argv, "--port", str(port)], cwd=cwd, env=env, stdout=handle, stderr=subprocess.STDOUT
    )
    app = App(name, proc, f"http://127.0.0.1:{port}/", log_path, started)
    try:
        _wait_for_page(app)
        app.page_s = time.perf_counter() - started
        log(f"{name}: page up after {app.page_s:.1f} s at {app.url}")
        yield app
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        handle.close()


def served_by(app: App, slots: Sequence[str], deadline_s: float = 1800.0) -> list[str]:
    """Wait until none of ``slots`` serves from PyTorch while its export runs (a filled export
    cache: at once); what each runs on, from the app's log, in ``slots``' order."""
    started = time.perf_counter()
    while True:
        lines = app.log_path.read_text(errors="replace").splitlines()
        served = {}
        for slot in slots:
            said = [line for line in lines if re.search(rf"[: ]{slot} \(.*\) (runs on|switched to) ", line)]
            if said and "serving while" not in said[-1]:
                served[slot] = said[-1].split(":", 2)[-1].strip()
        if len(served) == len(slots):
            return [served[slot] for slot in slots]
        if time.perf_counter() - started > deadline_s:
            raise SystemExit(f"the exports did not finish within {deadline_s:.0f} s; see {app.log_path}")
        time.sleep(1)


def time_app(
    name: str, env: dict[str, str], workdir: Path, slots: Sequence[str], time_it: Callable[[str], T]
) -> tuple[T, dict, list[str]]:
    """``time_it(url)`` on ``python app.py`` (in its own process, logs under ``workdir/logs``)
    once ``slots`` are served from their exports (:func:`served_by`); its result, the noise while
    it ran (:func:`other_load`) and what each slot ran on."""
    logs = workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    noise: dict = {}
    with launched(name, ["app.py"], env, logs) as app:
        backends = served_by(app, slots)
        with other_load(noise, "timing", [app.proc.pid]):
            result = time_it(app.url)
    return result, noise["timing"], backends


def footer(noise: dict, backends: Sequence[str]) -> list[str]:
    """A table's last lines: what served it, the noise while timing, the CPU, the shared-machine note."""
    return [
        "",
        "Backends: " + "; ".join(backends),
        f"Noise while timing: other processes kept {noise['other_cores']:.2f} cores busy on average "
        f"(1-minute load average at the end: {noise['loadavg_1m']:.2f}).",
        "",
        cpu_line(),
        SHARED_NOTE,
    ]


def in_turn(
    http: GradioHttp, calls: dict[str, list[tuple[str, bytes]]], rounds: int
) -> dict[str, list[float]]:
    """Seconds per call of each kind (``calls``: kind -> one ``(api, body)`` per text): a warm-up
    call of each kind, then each round, text by text, every kind in turn, so background load falls
    on all kinds alike."""
    for payloads in calls.values():
        http.timed(*payloads[0])
    times: dict[str, list[float]] = {kind: [] for kind in calls}
    for _ in range(rounds):
        for i in range(len(next(iter(calls.values())))):
            for kind, payloads in calls.items():
                times[kind].append(http.timed(*payloads[i]))
    return times
