"""The ``/v1`` API (and ``/health``) as a Ray Serve application with replicas.

    python -m electra_demo.serve_ray [--replicas N | --autoscale MIN:MAX] [--address auto]
                                     [--host 127.0.0.1] [--port 8000]

Each replica builds its own :class:`~electra_demo.service.ModelService` and the same FastAPI app
``python app.py`` serves under ``/v1`` (:func:`electra_demo.api.create_api`), at replica start:
models, keys, limits and the rate limiter are per replica. Every replica gets the
``ELECTRA_DEMO_*`` and ``HF_*`` variables this command sees (through Ray's ``runtime_env``), so
they all run the same checkpoints with the same keys and limits. Every response carries
``x-electra-replica: <replica id>`` (Serve's id of the replica that answered). Serve's controller
health-checks each replica with the app's own ``/health`` and replaces one that fails or dies.

Batching: our micro-batcher, not Ray Serve's ``@serve.batch``. Inside a replica the routes run
the tasks in worker threads and each model's micro-batcher (electra_demo.runtime.batching) already merges
the rows of concurrent requests into one padded forward, after each task's own preprocessing
(windows, pairs, QA spans), which is where rows of different sizes and tasks become comparable.
``@serve.batch`` would batch whole HTTP requests before that, per Python method, and queue them a
second time in front of the same batcher; so Serve only routes and each replica batches. Serve's
``max_ongoing_requests`` is set to the API's in-flight bound (``ELECTRA_DEMO_API_MAX_IN_FLIGHT``),
so a replica gets as many concurrent requests as its edge accepts and its batcher can merge.

Also an application builder for Serve's own tooling and KubeRay's RayService:
``serve run electra_demo.serve_ray:build_app replicas=2`` (arguments: ``replicas``, ``autoscale``,
``replica_cpus``).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from electra_demo import optional
from electra_demo.api import create_api
from electra_demo.api.edge import REQUEST_ID, ASGIApp, Message, Receive, Scope, Send
from electra_demo.api.security import Guard, SettingsError
from electra_demo.config import env_number
from electra_demo.scale import cluster as ray_common
from electra_demo.service import ModelService

FEATURE = "python -m electra_demo.serve_ray"
try:
    serve = optional.require("ray.serve", FEATURE)
except optional.MissingDependency as missing:
    if __name__ == "__main__":  # the command line: one line on stderr, no traceback
        raise SystemExit(f"serve_ray: {missing}") from None
    raise

log = logging.getLogger(__name__)

APP_NAME = "electra-demo"
DEPLOYMENT = "ElectraApi"
REPLICA_HEADER = b"x-electra-replica"
HEALTH_CHECK_PERIOD_S = 5.0
HEALTH_CHECK_TIMEOUT_S = 30.0
GRACEFUL_SHUTDOWN_S = 10.0  # a stopping replica finishes its requests for at most this long


class ReplicaHeader:
    """ASGI middleware: every response says which replica answered (``x-electra-replica``).

    It also leaves the ``x-request-id`` to Serve: Serve's proxy takes the caller's (or makes one),
    puts it in the request, where the API's edge reads it, and adds it to every response itself;
    the app's own copy would make it appear twice (``id, id`` to most clients).
    """

    def __init__(self, app: ASGIApp, replica: str):
        self.app = app
        self.value = replica.encode("ascii", "replace")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def tagged(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() != REQUEST_ID]
                message["headers"] = [*headers, (REPLICA_HEADER, self.value)]
            await send(message)

        await self.app(scope, receive, tagged)


@serve.deployment(name=DEPLOYMENT)
@serve.ingress()  # no app here: each replica builds its own in __serve_build_asgi_app__
class ElectraApi:
    """One replica: its own model service and ``/v1`` app, built when the replica starts."""

    def __init__(self) -> None:
        # runtime_env put the caller's ELECTRA_DEMO_* / HF_* variables in this process's environment
        self.replica = serve.get_replica_context().replica_id.unique_id
        self.service = ModelService()
        # models still load on first use, but the libraries load now: Serve sends a replica
        # traffic once this returns, and importing them on the first request took seconds
        import torch  # noqa: F401
        import transformers  # noqa: F401

    def __serve_build_asgi_app__(self) -> ASGIApp:
        api = create_api(self.service)  # keys, rate limit and in-flight bound from the environment
        api.add_middleware(ReplicaHeader, replica=self.replica)
        log.info("replica %s serves the /v1 API", self.replica)
        return api

    async def check_health(self) -> None:
        """Serve's health check: the app's own ``GET /health``, answered in process."""
        import httpx

        transport = httpx.ASGITransport(app=self.app)  # type: ignore[attr-defined]
        async with httpx.AsyncClient(transport=transport, base_url="http://replica") as client:
            response = await client.get("/health", timeout=HEALTH_CHECK_TIMEOUT_S)
        if response.status_code != 200 or response.json().get("status") != "ok":
            raise RuntimeError(f"/health answered {response.status_code}: {response.text[:200]}")


# ---- the application -----------------------------------------------------------------------
@dataclass(frozen=True)
class Scaling:
    """A fixed number of replicas, or autoscaling between ``low`` and ``high``."""

    replicas: int = 1
    autoscale: tuple[int, int] | None = None

    @classmethod
    def parse_autoscale(cls, text: str) -> Scaling:
        low, sep, high = text.partition(":")
        if not sep or not low.strip().isdigit() or not high.strip().isdigit():
            raise ValueError(f"--autoscale takes MIN:MAX, two whole numbers such as 1:4; got {text!r}")
        bounds = int(low), int(high)
        if bounds[1] < 1 or bounds[0] > bounds[1]:
            raise ValueError(f"--autoscale needs 0 <= MIN <= MAX and MAX >= 1; got {text!r}")
        return cls(autoscale=bounds)

    def options(self, env_vars: Mapping[str, str]) -> dict[str, Any]:
        if self.autoscale is None:
            return {"num_replicas": self.replicas}
        low, high = self.autoscale
        return {
            "num_replicas": "auto",
            "autoscaling_config": {
                "min_replicas": low,
                "initial_replicas": max(low, 1),
                "max_replicas": high,
                # a replica merges up to ELECTRA_DEMO_CONCURRENCY requests into its batches: scale
                # out when more than about that many are waiting on each replica
                "target_ongoing_requests": concurrency(env_vars),
            },
        }


def concurrency(env_vars: Mapping[str, str]) -> int:
    """``ELECTRA_DEMO_CONCURRENCY`` as the replicas will read it (electra_demo.config's default 8)."""
    return env_number(env_vars, "ELECTRA_DEMO_CONCURRENCY", 8, low=1, whole=True)


def deployment(
    scaling: Scaling,
    env_vars: Mapping[str, str],
    *,
    replica_cpus: float = 1.0,
    ship_code: bool = False,
) -> Any:
    """:class:`ElectraApi` with these replicas and variables (a Serve ``Deployment``).

    Raises :class:`~electra_demo.api.security.SettingsError` for a bad key file or limit, here in
    the caller, before any replica starts.
    """
    guard = Guard.from_environ(env_vars)  # the same settings every replica will read
    return ElectraApi.options(
        **scaling.options(env_vars),
        max_ongoing_requests=guard.in_flight.limit,
        max_queued_requests=-1,
        graceful_shutdown_timeout_s=GRACEFUL_SHUTDOWN_S,
        health_check_period_s=HEALTH_CHECK_PERIOD_S,
        health_check_timeout_s=HEALTH_CHECK_TIMEOUT_S,
        ray_actor_options={
            "num_cpus": replica_cpus,
            "runtime_env": ray_common.runtime_env(env_vars, ship_code=ship_code),
        },
    )


def application(scaling: Scaling, env_vars: Mapping[str, str], **options: Any) -> Any:
    """The bound Serve application (see :func:`deployment`)."""
    return deployment(scaling, env_vars, **options).bind()


def build_app(args: dict[str, str]) -> Any:
    """Serve's application builder (``serve run electra_demo.serve_ray:build_app replicas=2``)."""
    autoscale = args.get("autoscale")
    scaling = Scaling.parse_autoscale(autoscale) if autoscale else Scaling(int(args.get("replicas", 1)))
    return application(
        scaling, ray_common.forwarded_environ(), replica_cpus=float(args.get("replica_cpus", 1.0))
    )


# ---- the command -----------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m electra_demo.serve_ray",
        description="Serve the /v1 API (and /health) on Ray Serve, with replicas.",
    )
    scale = parser.add_mutually_exclusive_group()
    scale.add_argument("--replicas", type=int, default=1, help="a fixed number of replicas (default 1)")
    scale.add_argument("--autoscale", metavar="MIN:MAX", help="autoscale between MIN and MAX replicas")
    parser.add_argument(
        "--address",
        default=None,
        help="join this Ray cluster ('auto', 'ray://host:10001', ...); default: a new local Ray on 127.0.0.1",
    )
    parser.add_argument(
        "--host", default=ray_common.LOOPBACK, help="the HTTP proxy's address (default 127.0.0.1)"
    )
    parser.add_argument("--port", type=int, default=8000, help="the HTTP proxy's port (default 8000)")
    parser.add_argument(
        "--replica-cpus", type=float, default=1.0, help="CPUs Ray reserves per replica (default 1)"
    )
    parser.add_argument(
        "--num-cpus", type=int, default=None, help="local Ray only: CPUs it may use (default: all)"
    )
    parser.add_argument(
        "--object-store-mb", type=int, default=None, help="local Ray only: object store size in MiB"
    )
    args = parser.parse_args(argv)
    if args.replicas < 1:
        parser.error(f"--replicas must be at least 1; got {args.replicas}")
    try:
        args.scaling = Scaling.parse_autoscale(args.autoscale) if args.autoscale else Scaling(args.replicas)
    except ValueError as error:
        parser.error(str(error))
    return args


def describe(scaling: Scaling) -> str:
    if scaling.autoscale is None:
        return f"{scaling.replicas} replica{'s' if scaling.replicas != 1 else ''}"
    return f"{scaling.autoscale[0]} to {scaling.autoscale[1]} replicas (autoscaling)"


def port_free(host: str, port: int) -> bool:
    """Whether this machine can listen on ``host:port`` (checked before Ray starts)."""
    import socket

    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.bind((host, port))
    except OSError:
        return False
    return True


def wait_for_signal() -> None:
    """Block until SIGINT or SIGTERM."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(1.0):
        pass


def main(argv: list[str] | None = None) -> int:
    ray_common.setup_logging()
    args = parse_args(argv)
    env_vars = ray_common.forwarded_environ()
    try:
        app = application(
            args.scaling, env_vars, replica_cpus=args.replica_cpus, ship_code=args.address is not None
        )
    except SettingsError as error:
        return ray_common.refused("serve_ray", error)
    if args.address is None and not port_free(args.host, args.port):
        return ray_common.refused("serve_ray", f"{args.host}:{args.port} is in use; choose another --port.")
    with ray_common.session(args, env_vars) as connection:
        try:
            serve.start(http_options={"host": args.host, "port": args.port})
            serve.run(app, name=APP_NAME, route_prefix="/", blocking=False)
            url = f"http://{args.host}:{args.port}"
            print(
                f"serve_ray: the /v1 API on {describe(args.scaling)} at {url}/v1 (health: {url}/health)",
                flush=True,
            )
            wait_for_signal()
            print("serve_ray: stopping", flush=True)
        finally:
            if connection.local:
                serve.shutdown()
            else:
                serve.delete(APP_NAME)  # a cluster keeps running; take only our application off it
    return 0


if __name__ == "__main__":
    sys.exit(main())
