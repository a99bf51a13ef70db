"""The API and the page on one port: a middleware in Gradio's own app (``Blocks.launch`` takes it
through ``app_kwargs``, a public argument) sends ``/v1/*``, ``/health`` and ``/metrics`` to the API app and
everything else to Gradio, so ``--share``, the queue, MCP, upload limits and the page behave as
before. Every response gets an ``x-request-id``.

It also guards Gradio's ``POST /gradio_api/call/...`` routes: a body that lacks an argument, or
names one the endpoint does not take, or an endpoint that does not exist, raises inside Gradio's
route and used to answer ``500 Internal Server Error`` with no message. Here such a request
answers 422 (or 404) with Gradio's usual ``{"detail": ...}`` saying what the endpoint takes.

And it keeps plain HTTP callers working when an endpoint gains a trailing optional argument (as
``/tag`` and ``/answer`` gained ``model``): on ``POST /gradio_api/call/<endpoint>``, Gradio wants
every argument in ``{"data": [...]}``, so a body that leaves out trailing arguments that have
defaults gets those defaults here (what gradio_client does on its side). Gradio has no setting for
this. One that leaves out an argument without a default answers 422 naming it (Gradio accepted
it and failed the event later, with no message).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import orjson
from starlette.middleware import Middleware

from electra_demo.api import create_api
from electra_demo.api.edge import ASGIApp, Message, Receive, Scope, Send, tag_responses
from electra_demo.service import ModelService

CALL = re.compile(r"^/gradio_api/call/(?:v2/)?([^/]+)/?$")


class Dispatch:
    def __init__(self, app: ASGIApp, api: ASGIApp, blocks: Any = None):
        self.app = app
        self.api = api
        self.blocks = blocks
        self._endpoints: dict[str, list[dict[str, Any]]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path in ("/health", "/metrics", "/v1") or path.startswith("/v1/"):
            await self.api(scope, receive, send)
            return
        send = tag_responses(scope, send)
        call = CALL.match(path) if scope["method"] == "POST" else None
        if call is None:
            await self.app(scope, receive, send)
            return
        name = call.group(1)
        if not path.startswith("/gradio_api/call/v2/"):
            try:
                scope, receive = await self.with_defaults(name, scope, receive)
            except MissingArgument as error:
                await _detail(send, 422, f"{error} {self.usage(name)}")
                return
        await self.guarded(name, scope, receive, send)

    async def with_defaults(self, name: str, scope: Scope, receive: Receive) -> tuple[Scope, Receive]:
        """The request with its body read, and trailing arguments left out given their defaults."""
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client left: let Gradio see it
                return scope, _replay([message], receive)
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        padded = self.pad(name, body)
        if padded is not body:
            headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"content-length"]
            scope = {**scope, "headers": [*headers, (b"content-length", str(len(padded)).encode())]}
        return scope, _replay([{"type": "http.request", "body": padded, "more_body": False}], receive)

    def pad(self, name: str, body: bytes) -> bytes:
        """``body`` with ``data`` completed by the defaults of the trailing arguments it leaves
        out; ``body`` itself when there is nothing to add (or it is not such a request)."""
        params = (self.endpoints() or {}).get(name)
        try:  # Python's parser, as Gradio's: it takes what orjson refuses (lone surrogates, NaN)
            payload = json.loads(body) if params else None
        except ValueError:
            return body
        data = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(data, list) or not params or len(data) >= len(params):
            return body
        missing = params[len(data) :]
        required = [p.get("parameter_name", "?") for p in missing if not p.get("parameter_has_default")]
        if required:  # Gradio would fail the event later, with no message
            raise MissingArgument(f"No value provided for required argument: {', '.join(required)}.")
        payload["data"] = data + [p.get("parameter_default") for p in missing]
        return json.dumps(payload).encode()  # ASCII: a lone surrogate stays an escape, NaN stays NaN

    async def guarded(self, name: str, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as error:
            if started:
                raise
            status, detail = self.explain(name, error)
            if status is None:
                raise
            await _detail(send, status, detail)

    def explain(self, name: str, error: Exception) -> tuple[int | None, str]:
        """The status and message for an error raised inside Gradio's call route, or None."""
        endpoints = self.endpoints()
        if endpoints is not None and name not in endpoints:
            known = ", ".join(f"/{n}" for n in endpoints)
            return 404, f"There is no endpoint with that name; the endpoints are: {known}."
        if (
            not isinstance(error, (TypeError, ValueError, KeyError))
            and type(error).__name__ != "FnIndexInferError"
        ):
            return None, ""
        usage = self.usage(name)
        message = str(error)
        if message.startswith("No value provided for required argument"):
            return 422, f"{message.rstrip('.')}. {usage}"
        return 422, f"The request body does not match the endpoint's arguments. {usage}"

    def endpoints(self) -> dict[str, list[dict[str, Any]]] | None:
        """Each public endpoint's parameters, from the Blocks' API info (read once)."""
        if self._endpoints is None and self.blocks is not None:
            try:
                info = self.blocks.get_api_info()
            except Exception:  # noqa: BLE001 - without it the messages are only less specific
                return None
            self._endpoints = {
                n.lstrip("/"): list(e.get("parameters", []))
                for n, e in info.get("named_endpoints", {}).items()
            }
        return self._endpoints

    def usage(self, name: str) -> str:
        params = (self.endpoints() or {}).get(name)
        if not params:
            return "See /gradio_api/openapi.json for the endpoints and their arguments."
        described = [
            f"{p.get('parameter_name', '?')} "
            + (
                f"(default {p.get('parameter_default')!r})"
                if p.get("parameter_has_default")
                else "(required)"
            )
            for p in params
        ]
        return (
            f"POST /gradio_api/call/v2/{name} takes a JSON object with: {', '.join(described)}; "
            f'POST /gradio_api/call/{name} takes {{"data": [...]}} with the arguments in that order '
            "(trailing ones with defaults may be left out)."
        )


class MissingArgument(ValueError):
    """A plain HTTP call leaves out an argument that has no default."""


async def _detail(send: Send, status: int, detail: str) -> None:
    """Answer ``{"detail": ...}`` with ``status``, as Gradio's own errors look."""
    body = orjson.dumps({"detail": detail})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """A ``receive`` that gives ``messages`` first, then the connection's own."""
    waiting = list(messages)

    async def replayed() -> Message:
        return waiting.pop(0) if waiting else await receive()

    return replayed


def app_kwargs(service: ModelService, environ: Mapping[str, str] | None = None, blocks: Any = None) -> dict:
    """``Blocks.launch(app_kwargs=...)`` that serves the API beside the page (one service)."""
    api = create_api(service, environ)
    return {"middleware": [Middleware(Dispatch, api=api, blocks=blocks)]}
