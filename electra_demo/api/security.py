"""API keys, the per-caller rate limit and the bound on requests in flight (no I/O here).

Keys come from ``ELECTRA_DEMO_API_KEYS`` (comma-separated) and ``ELECTRA_DEMO_API_KEYS_FILE``
(one a line, ``#`` comments); they are compared in constant time (as SHA-256 digests, so not even
their lengths leak) and never logged. A key file that cannot be read stops the start-up rather
than leaving the API open.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from electra_demo.config import SettingError, env_number

KEYS_VAR = "ELECTRA_DEMO_API_KEYS"
KEYS_FILE_VAR = "ELECTRA_DEMO_API_KEYS_FILE"
RATE_VAR = "ELECTRA_DEMO_RATE_LIMIT"
IN_FLIGHT_VAR = "ELECTRA_DEMO_API_MAX_IN_FLIGHT"
DEFAULT_RATE = 600  # requests a minute per key (or per client address when the API is open)
DEFAULT_IN_FLIGHT = 64


# A start-up setting is wrong; the message names the variable and what it expects. The one
# error of every setting (config.env_number raises it too), so ``except SettingsError`` sees all.
SettingsError = SettingError


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()


@dataclass(frozen=True)
class Keys:
    digests: tuple[bytes, ...] = ()

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Keys:
        keys = [k.strip() for k in environ.get(KEYS_VAR, "").split(",")]
        path = environ.get(KEYS_FILE_VAR, "").strip()
        if path:
            try:
                lines = Path(path).expanduser().read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError) as error:
                raise SettingsError(
                    f"{KEYS_FILE_VAR} names {path!r}, which cannot be read ({type(error).__name__}); "
                    "fix the path or unset it. The API does not start open by mistake."
                ) from None
            keys += [line.strip() for line in lines if not line.strip().startswith("#")]
        return cls(tuple(dict.fromkeys(_digest(k) for k in keys if k)))

    @property
    def required(self) -> bool:
        return bool(self.digests)

    def check(self, presented: str) -> str | None:
        """The caller's identity (a digest prefix, never the key) when ``presented`` is a key."""
        given = _digest(presented)
        match = False
        for digest in self.digests:  # every key compared, in constant time each
            match |= hmac.compare_digest(given, digest)
        return "key:" + given.hex()[:16] if match else None


@dataclass
class _Bucket:
    tokens: float
    stamp: float


@dataclass
class RateLimiter:
    """A token bucket per caller: ``per_minute`` requests a minute, bursts up to that many.

    At most ``max_callers`` buckets are kept; the least recently seen goes first (a caller
    idle that long has a full bucket again anyway, or close to it).
    """

    per_minute: int
    max_callers: int = 10_000
    clock: Callable[[], float] = time.monotonic
    _buckets: OrderedDict[str, _Bucket] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def enabled(self) -> bool:
        return self.per_minute > 0

    def take(self, caller: str) -> int | None:
        """None when the request may go; else the seconds to wait (for ``Retry-After``)."""
        if not self.enabled:
            return None
        rate = self.per_minute / 60.0
        now = self.clock()
        with self._lock:
            bucket = self._buckets.pop(caller, None) or _Bucket(float(self.per_minute), now)
            bucket.tokens = min(float(self.per_minute), bucket.tokens + (now - bucket.stamp) * rate)
            bucket.stamp = now
            self._buckets[caller] = bucket
            while len(self._buckets) > self.max_callers:
                self._buckets.popitem(last=False)
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return None
            return max(1, math.ceil((1.0 - bucket.tokens) / rate))


@dataclass
class InFlight:
    """Counts requests being served; past ``limit`` a new one is refused (503), not queued."""

    limit: int
    _count: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def enter(self) -> bool:
        with self._lock:
            if self._count >= self.limit:
                return False
            self._count += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self._count -= 1

    @property
    def count(self) -> int:
        return self._count


@dataclass(frozen=True)
class Guard:
    """The edge's settings, read once from the environment at start-up."""

    keys: Keys
    limiter: RateLimiter
    in_flight: InFlight

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Guard:
        return cls(
            keys=Keys.from_environ(environ),
            limiter=RateLimiter(env_number(environ, RATE_VAR, DEFAULT_RATE, low=0, whole=True)),
            in_flight=InFlight(env_number(environ, IN_FLIGHT_VAR, DEFAULT_IN_FLIGHT, low=1, whole=True)),
        )

    def describe(self) -> str:
        """The start-up log line: open or keyed, the rate limit and the in-flight bound (no keys)."""
        if self.keys.required:
            access = f"needs one of {len(self.keys.digests)} API key(s) (Authorization: Bearer <key>)"
        else:
            access = (
                f"is OPEN: no API key is set ({KEYS_VAR} or {KEYS_FILE_VAR}); "
                "anyone who can reach this server may call it"
            )
        per = "key" if self.keys.required else "client address"
        rate = (
            f"{self.limiter.per_minute} requests a minute per {per}"
            if self.limiter.enabled
            else "no rate limit"
        )
        return f"/v1 API {access}; {rate}; at most {self.in_flight.limit} requests in flight."
