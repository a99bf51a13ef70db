"""How a training run fits in memory: its micro-batches, activation checkpointing and precision,
its estimated peak, and the memory left on the machine.

A training child at the endpoints' defaults (batch 16; 128 tokens, QA 384) used to hold every
activation of the whole batch in fp32 for the backward pass: 4 GB (classify, tag), 6 GB (Adapt)
and 10 GB (QA) on electra-base. :func:`plan_for` keeps a run's estimated peak under
:data:`BUDGET_MB` by the standard means, and the child applies the plan:

- **micro-batches with gradient accumulation**: the visitor's batch size stays the effective
  batch (one optimizer step), trained ``micro_batch`` rows at a time, ``accumulation`` times
  (the results' settings say how it was split); the micro-batch divides the batch;
- **memory-lean attention**: PyTorch's fused scaled-dot-product attention (``sdpa``), whose CPU
  kernel keeps no ``heads x tokens x tokens`` matrices for the backward pass; it has no dropout,
  so attention-probability dropout is off while training (hidden-state dropout stays; the saved
  config keeps the base's value, which inference ignores);
- **bf16 autocast** where the CPU multiplies bf16 natively (``avx512_bf16`` / ``amx_bf16``;
  ``ELECTRA_DEMO_PRECISION``, see :func:`training_precision`): matrix products in bf16, weights,
  gradients and the optimizer in fp32;
- **activation checkpointing** (``activation_checkpointing_enable``, the new name of
  ``gradient_checkpointing_enable``) when it lets a larger micro-batch fit: it recomputes the
  forward pass, which costs less in bf16 than autocast's casts of the weights for every extra
  micro-batch; in fp32 only when no micro-batch fits without it.

The plan is the first of those, in order of speed, whose estimate is under the budget and the
memory left. Before a child starts, :func:`check_fits` compares the estimate with :func:`free_mb`
(the cgroup's room, capped by ``MemAvailable``) and refuses a run that would not fit with a
message naming a smaller setting. The estimate is linear in the micro-batch's tokens, its
constants measured on electra-base-shaped runs (``benchmarks/bench_finetune.py --kinds``, a little
above what they peak at) and scaled by the checkpoint's shape; the children give the C heap's
free pages back between micro-batches (``worker_common.trim_heap``).

In fp32 (a CPU without bf16) the 3 GB comes first: micro-batches cost a pass over the gradients
each, so the 128-token kinds and Adapt train at about the old speed; a larger micro-batch would be
faster but peaks over 3 GB (``benchmarks/RESULTS.md``). Adapt holds one model's activations at a
time (its generator's loss is backward before the discriminator runs), so its estimate counts the
larger model's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from electra_demo.checks import InputError
from electra_demo.config import ResolvedSlot
from electra_demo.optional import lazy_module
from electra_demo.runtime import precision as precisions

if TYPE_CHECKING:
    import torch
else:
    torch = lazy_module("torch")

BUDGET_MB = 3000.0  # a plan keeps its estimate under this: the 3 GB
MB = 2**20
# Measured on electra-base-shaped runs (benchmarks/bench_finetune.py --kinds; Adapt's re-measured
# once its two models' backward passes were split: 100 to 170 MB above five plans' peaks), each a
# little above what it fits: the interpreter, torch and transformers with the allocator's slack; what
# accumulating adds (the gradients live while the next micro-batch's forward runs, beside
# autocast's bf16 copies of the weights, and the blocks freed between them); and the activation
# bytes kept per token, per layer, per unit of (hidden + intermediate) width.
RUNTIME_MB = {"trainer": 400.0, "adapt": 420.0}
ACCUMULATING_MB = 250.0
ACTIVATIONS = {
    ("fp32", False): 22.0,
    ("bf16", False): 16.0,
    ("fp32", True): 7.0,
    ("bf16", True): 4.5,
}
HEAD_ACTIVATIONS = 1.5  # head mode: no activation is kept for a frozen encoder, only transients
CGROUP = Path("/sys/fs/cgroup")
MEMINFO = Path("/proc/meminfo")


@dataclass(frozen=True)
class Shape:
    """An ELECTRA checkpoint's dimensions (its config.json), enough to count its parameters."""

    hidden: int = 768
    layers: int = 12
    intermediate: int = 3072
    vocab: int = 30522
    embedding: int = 768
    positions: int = 512

    @classmethod
    def from_config(cls, data: Mapping[str, Any]) -> Shape:
        base = cls()
        hidden = int(data.get("hidden_size", base.hidden))
        return cls(
            hidden=hidden,
            layers=int(data.get("num_hidden_layers", base.layers)),
            intermediate=int(data.get("intermediate_size", base.intermediate)),
            vocab=int(data.get("vocab_size", base.vocab)),
            embedding=int(data.get("embedding_size", hidden)),
            positions=int(data.get("max_position_embeddings", base.positions)),
        )

    def embeddings(self) -> int:
        return (self.vocab + self.positions + 2) * self.embedding

    def encoder(self) -> int:
        """The layers' parameters (and the embeddings' projection when widths differ)."""
        h, i = self.hidden, self.intermediate
        layer = 4 * h * h + 2 * h * i + 9 * h + i
        project = self.embedding * h if self.embedding != h else 0
        return self.layers * layer + project

    def width(self) -> int:
        return self.layers * (self.hidden + self.intermediate)


def shape_of(resolved: ResolvedSlot) -> Shape:
    """The checkpoint's :class:`Shape` from its config.json (a local folder, or the Hub's cache);
    electra-base's when it cannot be read (every registry slot is Base-sized)."""
    path: Path | None = Path(resolved.source) / "config.json" if resolved.local else None
    if path is None:
        try:
            from huggingface_hub import try_to_load_from_cache

            found = try_to_load_from_cache(resolved.source, "config.json", revision=resolved.revision)
            path = Path(found) if isinstance(found, str) else None
        except Exception:  # noqa: BLE001 - no cache, no hub: the default shape
            path = None
    try:
        return Shape.from_config(json.loads(path.read_text())) if path else Shape()
    except (OSError, ValueError, TypeError):
        return Shape()


@dataclass(frozen=True)
class MemoryPlan:
    """How a run trains: ``micro_batch`` rows at a time, ``accumulation`` times a step, with or
    without activation checkpointing, in ``precision`` (bf16: autocast); ``estimate_mb``: its
    estimated peak resident memory."""

    micro_batch: int
    accumulation: int
    checkpointing: bool
    precision: str
    estimate_mb: float
    lean_attention: bool = True  # sdpa without attention dropout (see the module's docstring)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def public(self) -> dict[str, Any]:
        """What the run's JSON adds to its settings."""
        return {
            "micro_batch": self.micro_batch,
            "accumulation": self.accumulation,
            "gradient_checkpointing": self.checkpointing,
            "precision": self.precision,
        }


def training_precision(asked: str, device_type: str = "cpu", flags: frozenset[str] | None = None) -> str:
    """bf16 (autocast) or fp32 for a run on ``device_type`` when ``ELECTRA_DEMO_PRECISION`` is
    ``asked``: bf16 as :func:`electra_demo.runtime.precision.decide` picks it for serving; int8 (a
    serving choice) trains as auto would; on CUDA fp32, as before."""
    if device_type != "cpu":
        return "fp32"
    decided = precisions.decide("auto" if asked == "int8" else asked, "cpu", flags)
    return "bf16" if decided == "bf16" else "fp32"


def estimate_mb(
    shapes: tuple[Shape, ...],
    mode: str,
    tokens: int,
    precision: str,
    checkpointing: bool,
    runtime: str,
    accumulation: int = 1,
) -> float:
    """The estimated peak resident memory of a child training ``shapes`` (the discriminator, and
    the generator for Adapt: its embeddings are the discriminator's) on micro-batches of
    ``tokens`` tokens, ``accumulation`` of them a step."""
    params = shapes[0].embeddings() + sum(s.encoder() for s in shapes)
    trained = params if mode != "head" else 0
    kept = 4 * params + 12 * trained  # weights; gradients and Adam's two moments (fp32)
    if trained and precision == "bf16":
        kept += 2 * sum(s.encoder() for s in shapes)  # autocast's bf16 copies of the layers' weights
    if accumulation > 1 and trained:
        kept += ACCUMULATING_MB * MB
    per_token = ACTIVATIONS[(precision, checkpointing)] if trained else HEAD_ACTIVATIONS
    # one model's activations at a time: Adapt's generator is backward before the discriminator
    # runs (adapt.objective.backward)
    activations = tokens * per_token * max(s.width() for s in shapes)
    return RUNTIME_MB[runtime] + (kept + activations) / MB


def divisors(n: int) -> list[int]:
    """``n``'s divisors, largest first."""
    return [d for d in range(n, 0, -1) if n % d == 0]


def choose(
    shapes: tuple[Shape, ...], mode: str, batch: int, length: int, precision: str, runtime: str, budget: float
) -> MemoryPlan:
    """The first plan under ``budget`` (MB), in order of speed: in bf16, the largest micro-batch,
    checkpointed if that is what fits (autocast casts the weights once a micro-batch, which costs
    more than recomputing the forward pass); in fp32, the largest micro-batch without
    checkpointing, then with it. When none fits, the one that takes the least memory
    (:func:`check_fits` then compares it with the memory left)."""

    def plan(micro: int, checkpointing: bool) -> MemoryPlan:
        steps = batch // micro
        peak = estimate_mb(shapes, mode, micro * length, precision, checkpointing, runtime, steps)
        return MemoryPlan(micro, steps, checkpointing, precision, round(peak, 1))

    sizes = divisors(batch)
    ways = (False,) if mode == "head" else (False, True)
    if precision == "bf16":
        order = [plan(m, c) for m in sizes for c in ways]
    else:
        order = [plan(m, c) for c in ways for m in sizes]
    fitting = [p for p in order if p.estimate_mb <= budget]
    return fitting[0] if fitting else min(order, key=lambda p: p.estimate_mb)


def device_type() -> str:
    """Where a training child will train: "cuda" when PyTorch sees a GPU, else "cpu"."""
    try:
        return "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:
        return "cpu"


def plan_for(training: Any, asked: str, free: float | None, device: str = "cpu") -> MemoryPlan:
    """The :class:`MemoryPlan` of a checked training plan (any kind's: its ``task``, ``settings``,
    ``base`` and, for Adapt, ``generator``) when ``ELECTRA_DEMO_PRECISION`` is ``asked``, with
    ``free`` MB left on the machine (None: unknown). On CUDA the whole batch at once, as before
    (the host keeps only the weights)."""
    settings = training.settings
    shapes = (shape_of(training.base),)
    generator = getattr(training, "generator", None)
    if training.task == "adapt" and generator is not None:
        shapes += (shape_of(generator),)
    runtime = "adapt" if training.task == "adapt" else "trainer"
    mode = "full" if training.task == "adapt" else settings.mode
    batch, length = settings.batch_size, settings.max_length
    if device != "cpu":
        host = estimate_mb(shapes, "head", 0, "fp32", False, runtime)
        return MemoryPlan(batch, 1, False, "fp32", round(host, 1), lean_attention=False)
    budget = BUDGET_MB if free is None else min(BUDGET_MB, free)
    return choose(shapes, mode, batch, length, training_precision(asked), runtime, budget)


# ---- the memory left on the machine ------------------------------------------------------------
def _read_number(path: Path) -> float | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return float(text) if text.isdigit() else None  # "max": no limit


def _meminfo_available(meminfo: Path) -> float | None:
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return float(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def free_mb(cgroup: Path | None = None, meminfo: Path | None = None) -> float | None:
    """The memory a new process may still take, in MB: the cgroup's limit less its use (cgroup v2
    ``memory.max`` / ``memory.current``, or v1 ``memory/memory.limit_in_bytes`` /
    ``memory.usage_in_bytes``) when there is a limit, and never more than ``MemAvailable``; None
    when neither can be read. ``cgroup`` and ``meminfo`` default to :data:`CGROUP` and
    :data:`MEMINFO` (tests point those at fake files)."""
    cgroup, meminfo = cgroup or CGROUP, meminfo or MEMINFO
    found = []
    for limit, used in (
        ("memory.max", "memory.current"),
        ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes"),
    ):
        cap, now = _read_number(cgroup / limit), _read_number(cgroup / used)
        if cap is not None and now is not None and cap < 2**60:  # v1 writes "no limit" as a huge number
            found.append(max(0.0, cap - now))
            break
    available = _meminfo_available(meminfo)
    if available is not None:
        found.append(available)
    return min(found) / MB if found else None


def rss_mb(pid: int | None) -> float:
    """A process's resident memory now (VmRSS), in MB; 0 when it is gone or unreadable."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0.0


def check_fits(plan: MemoryPlan, free: float | None, mode: str = "") -> None:
    """An :class:`InputError` naming a smaller setting when ``plan``'s estimate exceeds ``free``
    (MB; None: unknown, not checked)."""
    if free is None or plan.estimate_mb <= free:
        return
    head = " Head mode (only the new head trains) needs much less." if mode == "full" else ""
    raise InputError(
        f"This training run needs about {plan.estimate_mb / 1024:.1f} GB; {max(free, 0) / 1024:.1f} GB "
        f"are free. Try a smaller batch size or max length.{head}"
    )
