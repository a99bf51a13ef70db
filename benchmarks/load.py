"""Load test: N concurrent users over loopback (plain HTTP), a mix of endpoints, fixed time.

python benchmarks/load.py --users 32 --seconds 60            # the app in-process, tiny checkpoints
python benchmarks/load.py --url http://127.0.0.1:7860/ --pid PID --users 32 --seconds 60

Each user is a thread with its own HTTP connection (``common.GradioHttp``: a POST to
``/gradio_api/call/<api>``, then its event stream) that sends requests back to back, drawn from a
mix of /detect, /corrupt, /classify, /tag and /answer with varied texts and settings; every
user's requests are drawn and encoded before the clock starts. Every endpoint is called once
before the clock starts, so first-use model loading is not timed. Printed: the CPU line,
requests/s, latency p50/p95/p99, errors (count and the first messages), 'busy' answers (the
queue was full: Gradio's 503, counted apart from failures) and the server's peak memory (VmHWM:
of this process when the app runs in-process, of --pid with --url).
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Busy, CallFailed, GradioHttp, body, cpu_line

PREBUILT = 256  # requests drawn and encoded per user before the clock starts (then reused in turn)
QA_DEFAULTS = (15, True, 384, 128)  # max_answer_len, handle_impossible_answer, max_seq_len, doc_stride

SENTENCES = [
    "The chef cooked the meal in the kitchen.",
    "The quick brown fox jumps over the lazy dog.",
    "Marie Curie worked at the University of Paris with Pierre Curie.",
    "I loved this movie, it was wonderful and moving!",
    "This film was boring, slow and far too long.",
    "Paris is the capital of France; Berlin is the capital of Germany.",
    "Google released ELECTRA in 2020 at ICLR.",
    "She was surprised and happy, then sad and a little afraid.",
    "Café, naïve, résumé and crème brûlée have accents.",
    "Numbers such as 42, 3.14 and 1,000 are tokens as well.",
]
QUESTIONS = ["Where did Marie Curie work?", "What is the capital of France?", "When was ELECTRA released?"]


def text(rng: random.Random, most: int = 12) -> str:
    return " ".join(rng.choice(SENTENCES) for _ in range(rng.randint(1, most)))


def request(rng: random.Random) -> tuple[str, tuple]:
    """One request of the mix: (endpoint, every argument in order)."""
    kind = rng.choice(["detect", "detect", "classify", "classify", "tag", "answer", "corrupt"])
    if kind == "detect":
        return "/detect", (text(rng, 40), rng.choice([0.3, 0.5, 0.7]))
    if kind == "classify":
        head = rng.choice(["sentiment", "emotion", "nli"])
        return "/classify", (head, text(rng), text(rng, 2) if head == "nli" else "")
    if kind == "tag":
        return "/tag", (text(rng), rng.choice(["none", "simple", "first", "average", "max"]))
    if kind == "answer":
        return "/answer", (rng.choice(QUESTIONS), text(rng, 60), rng.randint(1, 5), *QA_DEFAULTS)
    return "/corrupt", (text(rng, 8), rng.choice([0.15, 0.3]), rng.randrange(1000))


WARMUP = [
    ("/detect", ("The chef cooked.", 0.5)),
    ("/corrupt", ("The chef cooked the meal.", 0.3, 1)),
    ("/classify", ("sentiment", "I loved it.", "")),
    ("/classify", ("emotion", "I am happy.", "")),
    ("/classify", ("nli", "A man cooks.", "Someone cooks.")),
    ("/tag", ("Marie Curie worked in Paris.", "simple")),
    ("/answer", ("Where?", "In Paris.", 3, *QA_DEFAULTS)),
]


@dataclass
class Report:
    users: int
    seconds: float
    latencies: list[float] = field(default_factory=list)  # answered requests, seconds
    by_endpoint: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)  # failures: an error, not "busy"
    busy: int = 0  # "queue full" answers
    per_user: list[int] = field(default_factory=list)  # answered requests of each user
    peak_kb: int | None = None

    @property
    def completed(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.completed / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float | None:
        """Nearest-rank percentile of the answered requests' latencies, in seconds."""
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]

    def lines(self) -> list[str]:
        def ms(value: float | None) -> str:
            return "n/a" if value is None else f"{value * 1000:.0f} ms"

        out = [
            f"users {self.users}, {self.seconds:.1f} s: {self.completed} requests answered, "
            f"{self.rate:.1f} requests/s",
            f"latency p50 {ms(self.percentile(50))}, p95 {ms(self.percentile(95))}, "
            f"p99 {ms(self.percentile(99))}, max {ms(max(self.latencies, default=None))}",
            "by endpoint: " + ", ".join(f"{k} {v}" for k, v in sorted(self.by_endpoint.items())),
            f"per user: min {min(self.per_user, default=0)}, max {max(self.per_user, default=0)} requests",
            f"errors {len(self.errors)}; busy (queue full) {self.busy}",
        ]
        out += [f"  error: {message}" for message in dict.fromkeys(self.errors)][:5]
        out.append(
            "server peak memory (VmHWM): "
            + ("n/a" if self.peak_kb is None else f"{self.peak_kb / 1024:.0f} MiB")
        )
        return out


def peak_memory_kb(pid: int) -> int | None:
    """VmHWM (the resident set's high-water mark) of a process, in kB; None where unreadable."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def run_load(
    url: str,
    users: int = 4,
    seconds: float = 5.0,
    pid: int | None = None,
    seed: int = 0,
    warmup: bool = True,
    timeout: float = 120.0,
) -> Report:
    """Drive the app at ``url`` with ``users`` concurrent clients for ``seconds``."""
    if warmup:
        with GradioHttp(url, timeout=timeout) as http:
            for endpoint, args in WARMUP:
                http.call(endpoint, args)
    report = Report(users=users, seconds=seconds, per_user=[0] * users)
    lock = threading.Lock()
    clock = {"start": 0.0, "stop": 0.0}

    def start_clock() -> None:  # runs once, before any thread passes the barrier
        clock["start"] = time.monotonic()
        clock["stop"] = clock["start"] + seconds

    ready = threading.Barrier(users + 1, action=start_clock)

    def user(number: int) -> None:
        rng = random.Random(seed * 1000 + number)
        planned = [(endpoint, body(args)) for endpoint, args in (request(rng) for _ in range(PREBUILT))]
        with GradioHttp(url, timeout=timeout) as http:
            ready.wait()
            for endpoint, payload in itertools.cycle(planned):
                if time.monotonic() >= clock["stop"]:
                    break
                try:
                    elapsed = http.timed(endpoint, payload)
                except Busy:
                    with lock:
                        report.busy += 1
                    continue
                except CallFailed as error:  # every failure is counted and reported
                    with lock:
                        report.errors.append(f"{endpoint}: {type(error).__name__}: {error}"[:300])
                    continue
                with lock:
                    report.latencies.append(elapsed)
                    report.by_endpoint[endpoint] = report.by_endpoint.get(endpoint, 0) + 1
                    report.per_user[number] += 1

    threads = [threading.Thread(target=user, args=(n,), daemon=True) for n in range(users)]
    for thread in threads:
        thread.start()
    ready.wait()
    for thread in threads:
        thread.join(timeout=seconds + timeout + 30)
    report.seconds = time.monotonic() - clock["start"]
    hung = sum(thread.is_alive() for thread in threads)
    if hung:
        report.errors.append(f"{hung} users still waiting on a request after the run")
    if pid is not None:
        report.peak_kb = peak_memory_kb(pid)
    return report


@contextmanager
def local_app() -> Iterator[str]:
    """The app in this process on tiny random checkpoints, as the tests launch it; yields its URL."""
    from electra_demo.page.demo import build_demo, launch_kwargs
    from electra_demo.service import ModelService
    from electra_demo.tools.tiny import tiny_environ, write_tiny

    with tempfile.TemporaryDirectory(prefix="electra-load-") as directory:
        tiny = Path(directory) / "tiny"
        write_tiny(tiny)
        environ = {**tiny_environ(tiny), "ELECTRA_DEMO_CACHE": str(Path(directory) / "cache")}
        demo = build_demo(ModelService(environ=environ))
        demo.launch(prevent_thread_lock=True, quiet=True, server_name="127.0.0.1", **launch_kwargs())
        try:
            yield demo.local_url
        finally:
            demo.close()


def main(argv: list[str] | None = None, out: Callable[[str], None] = print) -> Report:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=32, help="concurrent users (default 32)")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to run (default 60)")
    parser.add_argument("--url", help="a running app; default: launch one in-process on tiny checkpoints")
    parser.add_argument("--pid", type=int, help="with --url: the server's pid, for its peak memory")
    parser.add_argument("--seed", type=int, default=0, help="seed of the request mix")
    parser.add_argument("--no-warmup", action="store_true", help="time the first (loading) requests too")
    args = parser.parse_args(argv)
    if args.url:
        report = run_load(args.url, args.users, args.seconds, args.pid, args.seed, not args.no_warmup)
    else:
        with local_app() as url:
            report = run_load(url, args.users, args.seconds, os.getpid(), args.seed, not args.no_warmup)
    out(cpu_line())
    for line in report.lines():
        out(line)
    return report


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main()
