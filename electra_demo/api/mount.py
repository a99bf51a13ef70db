"""The API and the page on one port: a middleware in Gradio's own app (``Blocks.launch`` takes it
through ``app_kwargs``, a public argument) sends ``/v1/*`` and ``/health`` to the API app and
everything else to Gradio, so ``--share``, the queue, MCP, upload limits and the page behave as
before. Every response gets an ``x-request-id``.

It also guards Gradio's ``POST /gradio_api/call/...`` routes: a body that lacks an argument, or
names one the endpoint does not take, or an endpoint that does not exist, raises inside Gradio's
route and used to answer ``500 Internal Server Error`` with no message. Here such a request
answers 422 (or 404) with Gradio's usual ``{"detail": ...}`` saying what the endpoint takes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson
from starlette.middleware import Middleware

from ..service import ModelService
from . import create_api
from .edge import ASGIApp, Message, Receive, Scope, Send, tag_responses

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
        if path == "/health" or path == "/v1" or path.startswith("/v1/"):
            await self.api(scope, receive, send)
            return
        send = tag_responses(scope, send)
        call = CALL.match(path) if scope["method"] == "POST" else None
        if call is None:
            await self.app(scope, receive, send)
            return
        await self.guarded(call.group(1), scope, receive, send)

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
            body = orjson.dumps({"detail": detail})
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})

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
            f'POST /gradio_api/call/{name} takes {{"data": [...]}} with every argument in that order.'
        )


def app_kwargs(service: ModelService, environ: Mapping[str, str] | None = None, blocks: Any = None) -> dict:
    """``Blocks.launch(app_kwargs=...)`` that serves the API beside the page (one service)."""
    api = create_api(service, environ)
    return {"middleware": [Middleware(Dispatch, api=api, blocks=blocks)]}
