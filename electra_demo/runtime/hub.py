"""Is the Hugging Face Hub reachable? Asked once before downloading, so that an offline machine
fails in seconds instead of sitting through huggingface_hub's retries (about 50 s a file).

Only a definite "no" counts as offline: the name does not resolve, or the connection is refused
or has no route. A connection that is merely slow to open counts as reachable, and the download
then keeps huggingface_hub's own retries. No library offers this check: huggingface_hub retries
every network error alike, and its offline mode (``HF_HUB_OFFLINE``) is a setting, not a probe.
"""

from __future__ import annotations

import os
import socket
import time
from urllib.parse import urlsplit

PROBE_TIMEOUT_S = 3.0
CACHE_S = 30.0  # one probe serves every slot loaded within this window
_last: tuple[float, str, bool] | None = None


def endpoint_address(endpoint: str | None = None) -> tuple[str, int]:
    """Host and port of the Hub endpoint (``HF_ENDPOINT`` or huggingface.co)."""
    url = urlsplit(endpoint or os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    port = url.port or (80 if url.scheme == "http" else 443)
    return url.hostname or "huggingface.co", port


def probe(host: str, port: int, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """False only when the host certainly cannot be reached from here."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except socket.gaierror:
        return False  # the name does not resolve: no DNS, or no network
    except TimeoutError:
        return True  # slow is not offline: let the download retry
    except OSError:
        return False  # refused, unreachable network or host


def reachable(endpoint: str | None = None) -> bool:
    """Whether the Hub can be reached; remembered for a few seconds."""
    global _last
    address = endpoint_address(endpoint)
    key = f"{address[0]}:{address[1]}"
    now = time.monotonic()
    if _last is not None and _last[1] == key and now - _last[0] < CACHE_S:
        return _last[2]
    answer = probe(*address)
    _last = (now, key, answer)
    return answer
