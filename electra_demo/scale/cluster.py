"""Starting Ray for this project's Ray tools: a local Ray on loopback, or the cluster the user names.

Shared by ``python -m electra_demo.serve_ray`` and ``python -m electra_demo.batch_ray`` (their
logging, their refusals and the Ray session of their ``main``), their tests and the benchmark. Ray
is an optional dependency (``requirements-scale.txt``): it is imported only inside these functions
and the two Ray modules, never by the app.

Loopback only: a local Ray started here takes ``127.0.0.1`` as its node address, has no dashboard
and sends no usage statistics. ``ray.init(_node_ip_address="127.0.0.1")`` alone is not enough:
Ray's processes still find each other through the machine's own interface address, unless
``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` is set too (Ray then picks the loopback address as its node
IP, as it does on a laptop). Connecting to a real cluster is ``address=...`` (the CLIs'
``--address``), the user's explicit choice; none of this is then applied.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
# set before Ray starts (its constants are read when ray is imported; its processes inherit them)
LOCAL_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}
# what every replica or actor gets from the environment the CLI sees (models, keys, limits, Hub)
FORWARDED_PREFIXES = ("ELECTRA_DEMO_", "HF_")
PACKAGE_DIR = Path(__file__).resolve().parents[1]  # electra_demo/, shipped whole to the cluster


def forwarded_environ(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The ``ELECTRA_DEMO_*`` and ``HF_*`` variables of ``environ`` (default: this process's).

    They travel to every replica and actor in the ``runtime_env``; their values (API keys among
    them) are never logged here.
    """
    environ = os.environ if environ is None else environ
    return {key: value for key, value in environ.items() if key.startswith(FORWARDED_PREFIXES)}


def runtime_env(env_vars: Mapping[str, str], *, ship_code: bool) -> dict[str, Any]:
    """Ray's ``runtime_env`` for our replicas and actors: the forwarded variables and, for a cluster
    (``ship_code``), this package itself (``py_modules``), so the cluster runs the caller's code.
    Its dependencies (torch, transformers, ...) must be installed on the cluster's nodes."""
    env: dict[str, Any] = {"env_vars": dict(env_vars)}
    if ship_code:
        env["py_modules"] = [str(PACKAGE_DIR)]
    return env


@dataclass(frozen=True)
class Connection:
    """How :func:`init_ray` reached Ray: ``local`` when it runs on this machine's loopback Ray
    (started here or found initialised), ``owned`` when this call connected (so
    :func:`shutdown_ray` disconnects, which stops a local Ray it started)."""

    local: bool
    owned: bool


def init_ray(
    address: str | None = None,
    *,
    num_cpus: int | None = None,
    object_store_memory: int | None = None,
    env_vars: Mapping[str, str] | None = None,
) -> Connection:
    """Connect this process to Ray: a local Ray on loopback, the cluster at ``address``, or the Ray
    already initialised in this process (a test's; it is then left running).

    ``address`` None starts a local Ray bound to loopback (see the module docstring), limited to
    ``num_cpus`` and ``object_store_memory`` bytes when given; any other value (``"auto"``,
    ``"ray://host:10001"``, ``"host:6379"``) connects to that cluster and ships this package there.
    ``env_vars`` become the job's ``runtime_env`` (every task and actor of this driver gets them).
    """
    if "ray" in sys.modules and sys.modules["ray"].is_initialized():
        log.info("Ray is already initialised in this process; using it")
        return Connection(local=address is None, owned=False)
    env = runtime_env(env_vars or {}, ship_code=address is not None)
    if address is not None:
        import ray

        ray.init(address=address, runtime_env=env, log_to_driver=True)
        return Connection(local=False, owned=True)
    os.environ.update(LOCAL_ENV)
    import ray
    from ray._private import ray_constants

    # ray read LOCAL_ENV when it was imported; where something imported it before us, say the same
    # thing to the module it reads at start-up (services.get_node_ip_address reads it there)
    ray_constants.ENABLE_RAY_CLUSTER = False
    ray.init(
        _node_ip_address=LOOPBACK,
        include_dashboard=False,
        num_cpus=num_cpus,
        object_store_memory=object_store_memory,
        runtime_env=env,
        log_to_driver=True,
    )
    return Connection(local=True, owned=True)


def shutdown_ray(connection: Connection) -> None:
    """Disconnect from Ray where :func:`init_ray` connected; a local Ray started there stops."""
    import ray

    if connection.owned and ray.is_initialized():
        ray.shutdown()


def mebibytes(value: int | None) -> int | None:
    return None if value is None else value * 1024 * 1024


# ---- the commands' shared prologue -----------------------------------------------------------
def setup_logging() -> None:
    """The Ray commands' log lines: time, level, logger, message."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def refused(prog: str, error: object) -> int:
    """Say on stderr why ``prog`` does not start (before Ray does); its exit status, 2."""
    print(f"{prog}: {error}", file=sys.stderr)
    return 2


@contextmanager
def session(args: argparse.Namespace, env_vars: Mapping[str, str]) -> Iterator[Connection]:
    """Ray for the ``with`` block, as a command's ``--address``, ``--num-cpus`` and
    ``--object-store-mb`` ask (``env_vars`` go to every task and actor); disconnected after it,
    which stops a local Ray started here."""
    connection = init_ray(
        args.address,
        num_cpus=args.num_cpus,
        object_store_memory=mebibytes(args.object_store_mb),
        env_vars=env_vars,
    )
    try:
        yield connection
    finally:
        shutdown_ray(connection)
