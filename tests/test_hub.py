"""Offline start: with the Hub unreachable, a slot fails in seconds with a hint, not after retries."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time

from electra_demo.runtime import hub


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_probe_tells_refused_and_unresolvable_from_listening():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        assert hub.probe("127.0.0.1", server.getsockname()[1]) is True
    assert hub.probe("127.0.0.1", _closed_port()) is False
    assert hub.probe("no-such-host.invalid", 443) is False


def test_endpoint_address_reads_hf_endpoint():
    assert hub.endpoint_address("http://127.0.0.1:9") == ("127.0.0.1", 9)
    assert hub.endpoint_address("https://hub.example.org") == ("hub.example.org", 443)


def test_unreachable_hub_fails_fast_with_the_hint(tmp_path):
    """A default (Hub) slot on a machine where the Hub refuses connections: a clear error in
    seconds (huggingface_hub alone retries for about 50 s), naming make run-tiny."""
    script = textwrap.dedent(
        """
        import time
        import torch, transformers  # imported first: the clock measures the Hub, not the imports
        from electra_demo.service import ModelService, ModelUnavailable
        start = time.monotonic()
        try:
            ModelService(environ={}).detect("The chef cooked the meal.")
        except ModelUnavailable as error:
            print("ELAPSED", time.monotonic() - start)
            print("MESSAGE", error)
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "ELECTRA_DEMO_"))}
    env.update({"HF_ENDPOINT": f"http://127.0.0.1:{_closed_port()}", "HF_HOME": str(tmp_path / "hf")})
    started = time.monotonic()
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert run.returncode == 0, run.stderr[-2000:]
    elapsed = float(run.stdout.split("ELAPSED", 1)[1].split()[0])
    # huggingface_hub's own retries take ~50 s; without them this is ~1 s even on a busy machine
    assert elapsed < 30, (elapsed, time.monotonic() - started)
    message = run.stdout.split("MESSAGE", 1)[1]
    assert "discriminator" in message and "ELECTRA_DEMO_DISCRIMINATOR" in message
    assert "make run-tiny" in message and "cannot be reached" in message
