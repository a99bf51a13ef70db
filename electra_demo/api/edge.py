"""The API's edge: every request is checked here before any route runs.

In order: a request id (kept from the caller's ``x-request-id`` when it is a plain token, else
made here; every response carries it, and ``x-compute-time``: the whole milliseconds from here to
the answer, as text-embeddings-inference's, and ``x-precision``: the precision that served, the
route's or the server's), the key (401; ``/metrics`` may have its own), the
caller's rate (429), the body size (413: ``Content-Length`` first, then the bytes actually sent)
and the bound on requests in flight (503). ``/health`` skips the key and the rate limit. Written
as plain ASGI so a refused request costs no routing, no parsing and no thread.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from electra_demo.api.errors import ApiError
from electra_demo.api.security import Guard, Keys

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

REQUEST_ID = b"x-request-id"
COMPUTE_TIME = b"x-compute-time"
PRECISION = b"x-precision"
GOOD_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")
OPEN_PATHS = ("/health",)


def header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value
    return None


def tag_responses(scope: Scope, send: Send) -> Send:
    """``send`` that adds ``x-request-id`` to the response (once, whoever answers)."""
    if "electra_request_id" not in scope:
        given = header(scope, REQUEST_ID)
        scope["electra_request_id"] = given if given and GOOD_ID.match(given) else uuid.uuid4().hex.encode()
    request_id = scope["electra_request_id"]

    async def tagged(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", ()))
            if not any(k.lower() == REQUEST_ID for k, _ in headers):
                headers.append((REQUEST_ID, request_id))
            message["headers"] = headers
        await send(message)

    return tagged


def timed(send: Send) -> Send:
    """``send`` that adds ``x-compute-time``: whole milliseconds since this call (TEI's header)."""
    started = time.perf_counter()

    async def stamped(message: Message) -> None:
        if message["type"] == "http.response.start":
            elapsed = str(int((time.perf_counter() - started) * 1000)).encode()
            message["headers"] = [*message.get("headers", ()), (COMPUTE_TIME, elapsed)]
        await send(message)

    return stamped


def with_precision(send: Send, precision: Callable[[], str]) -> Send:
    """``send`` that adds ``x-precision`` (the precision that served: fp32, bf16, int8, fp16)
    where the route did not say (errors, answers that ran no model): the server's own."""

    async def stamped(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", ()))
            if not any(k.lower() == PRECISION for k, _ in headers):
                headers.append((PRECISION, precision().encode()))
            message["headers"] = headers
        await send(message)

    return stamped


async def answer(send: Send, error: ApiError) -> None:
    response = error.response()
    await send(
        {"type": "http.response.start", "status": response.status_code, "headers": response.raw_headers}
    )
    await send({"type": "http.response.body", "body": response.body})


class Edge:
    """ASGI middleware in front of the API app (see the module docstring)."""

    def __init__(
        self,
        app: ASGIApp,
        guard: Guard,
        max_body: int,
        path_keys: Mapping[str, Keys] | None = None,
        precision: Callable[[], str] | None = None,
    ):
        self.app = app
        self.guard = guard
        self.max_body = max_body
        self.path_keys = dict(path_keys or {})  # paths with keys of their own (/metrics')
        self.precision = precision  # the server's precision, for x-precision where a route gave none

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = timed(tag_responses(scope, send))
        if self.precision is not None:
            send = with_precision(send, self.precision)
        if scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        try:
            caller = self.authenticate(scope)
            wait = self.guard.limiter.take(caller)
            if wait is not None:
                raise ApiError(
                    429,
                    f"Rate limit reached: {self.guard.limiter.per_minute} requests a minute; "
                    f"try again in {wait} s.",
                    retry_after=wait,
                )
            body = await self.read_body(scope, receive)
        except ApiError as error:
            await answer(send, error)
            return
        if not self.guard.in_flight.enter():
            limit = self.guard.in_flight.limit
            await answer(
                send,
                ApiError(
                    503, f"The server is busy ({limit} requests in flight); try again shortly.", retry_after=1
                ),
            )
            return
        try:
            await self.app(scope, replay(body, receive), send)
        finally:
            self.guard.in_flight.leave()

    def authenticate(self, scope: Scope) -> str:
        """The caller's identity for the rate limit: its key's digest, or its address when open."""
        keys = self.path_keys.get(scope["path"], self.guard.keys)
        if not keys.required:
            client = scope.get("client")
            return "addr:" + (client[0] if client else "unknown")
        raw = header(scope, b"authorization")
        if not raw:
            raise ApiError(
                401, "No API key: send the header 'Authorization: Bearer <key>'.", code="missing_api_key"
            )
        scheme, _, token = raw.decode("latin-1").strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(401, "The Authorization header must read 'Bearer <key>'.", code="invalid_api_key")
        identity = keys.check(token.strip())
        if identity is None:
            raise ApiError(401, "Incorrect API key provided.", code="invalid_api_key")
        return identity

    async def read_body(self, scope: Scope, receive: Receive) -> bytes:
        too_large = ApiError(
            413, f"The request body is over the limit of {self.max_body:,} bytes.", code="request_too_large"
        )
        declared = header(scope, b"content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                raise ApiError(400, "The Content-Length header is not a number.", code="invalid_request")
            if int(declared) > self.max_body:
                raise too_large
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ApiError(400, "The client went away before sending the whole body.")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                raise too_large
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives the body already read, then the client's own messages."""
    sent = False

    async def again() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return again
