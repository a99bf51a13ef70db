"""The app served in-process on a free port, as the tests drive it over HTTP: the page with the
/v1 API beside it (``launch``, ``serve``), or app.py's whole server with its background warm-up
(``app_server``)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import httpx

from electra_demo.service import ModelService

WAIT_S = 300  # generous: only an event that never comes fails


def launch(service: ModelService, environ: Mapping[str, str] | None = None, **kwargs: Any):
    """Launch the app around ``service`` without blocking, as app.py serves it: the /v1 API beside
    the page, with ``environ`` its settings (default: open, no rate limit). Return the Blocks."""
    from electra_demo.api.mount import app_kwargs
    from electra_demo.page.demo import build_demo, launch_kwargs

    demo = build_demo(service)
    settings = {"ELECTRA_DEMO_RATE_LIMIT": "0"} if environ is None else environ
    demo.launch(
        prevent_thread_lock=True,
        quiet=True,
        server_name="127.0.0.1",
        app_kwargs=app_kwargs(service, settings, demo),
        **launch_kwargs(),
        **kwargs,
    )
    return demo


@contextlib.contextmanager
def serve(service: ModelService, environ: Mapping[str, str] | None = None, **kwargs: Any) -> Iterator[str]:
    """The page and the API around ``service``; yields the base URL (no trailing slash).
    ``environ`` holds the API's settings (keys, rate limit); default: none (open API)."""
    demo = launch(service, environ or {}, **kwargs)
    try:
        yield demo.local_url.rstrip("/")
    finally:
        demo.close()


@contextlib.contextmanager
def app_server(
    environ: Mapping[str, str], prepare: Callable[[ModelService], None] | None = None
) -> Iterator[tuple[str, ModelService]]:
    """app.py's server (page, /v1 API and the background warm-up) on a free port; ``prepare`` sees
    its service before it starts. Yields the base URL and the service."""
    import app

    server = app.create_server({"ELECTRA_DEMO_RATE_LIMIT": "0", **environ})
    if prepare is not None:
        prepare(server.service)
    server.launch(prevent_thread_lock=True, quiet=True, server_name="127.0.0.1")
    try:
        yield server.demo.local_url.rstrip("/"), server.service
    finally:
        server.demo.close()
        if server.service.background is not None:
            server.service.background.stop()


def post(url: str, path: str, body: dict) -> dict:
    """POST ``body`` as JSON to ``url + path``; the answer's JSON, which must come with a 200."""
    reply = httpx.post(url + path, json=body, timeout=WAIT_S)
    assert reply.status_code == 200, reply.text
    return reply.json()


def call_gradio(url: str, endpoint: str, data: list, session_hash: str | None = None) -> tuple[str, object]:
    """A plain-HTTP call of a named endpoint: POST ``data`` to ``/gradio_api/call/<endpoint>``
    (in the session ``session_hash`` if given; Gradio makes a new one otherwise), read its stream
    to the end; the last event's kind (``complete`` or ``error``) and its data (the outputs, or
    the error's message)."""
    body = {"data": data, **({"session_hash": session_hash} if session_hash else {})}
    reply = httpx.post(f"{url}/gradio_api/call/{endpoint}", json=body, timeout=WAIT_S)
    assert reply.status_code == 200, reply.text
    kind, found = "", None
    with httpx.stream(
        "GET", f"{url}/gradio_api/call/{endpoint}/{reply.json()['event_id']}", timeout=WAIT_S
    ) as stream:
        for line in stream.iter_lines():
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: ") and kind in ("complete", "error"):
                found = json.loads(line.removeprefix("data: "))
    return kind, found
