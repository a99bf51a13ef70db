"""Every named endpoint advertises its documented signature: for each parameter, the default in
``/gradio_api/info`` (what gradio_client's ``view_api()`` and ``predict`` use), in the plain-HTTP
padding of left-out trailing arguments (``api/mount.py``, whose 422 message lists them) and in
docs/gradio-api.md's table equals the default in the endpoint function's Python signature (none
for a required argument). ``/finetune_qa`` shared the Fine-tune tab's sliders with ``/finetune``
and advertised their values (epochs 3, learning rate 5e-5, max length 128), so a call with the
file alone failed on its stride; here it trains at its own defaults over both ways in."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import gradio as gr
import httpx
import pytest
from gradio.utils import get_function_params

from tests.helpers.data import qa_records, write_jsonl
from tests.helpers.docs import text
from tests.helpers.serving import WAIT_S, launch

gradio_client = pytest.importorskip("gradio_client")

QA_DEFAULTS = {"epochs": 2, "learning_rate": 3e-5, "batch_size": 16, "max_length": 384, "doc_stride": 128}
Advertised = list[tuple[str, bool, Any]]  # (parameter, has a default, the default)


@pytest.fixture(scope="module")
def served(service) -> Iterator[tuple[str, dict[str, Callable]]]:
    """The app as the suite serves it; its URL and each named endpoint's function."""
    demo = launch(service)
    try:
        functions = {f"/{fn.api_name}": fn.fn for fn in demo.fns.values() if fn.api_name and fn.fn}
        yield demo.local_url.rstrip("/"), functions
    finally:
        demo.close()


@pytest.fixture(scope="module")
def endpoints(served) -> dict[str, Advertised]:
    """Every named endpoint of ``/gradio_api/info``, with its signature's parameters."""
    url, functions = served
    info = httpx.get(url + "/gradio_api/info", timeout=WAIT_S).json()["named_endpoints"]
    assert set(info) <= set(functions)
    return {name: signature(functions[name]) for name in info}


def signature(fn: Callable) -> Advertised:
    """The endpoint's inputs as Gradio counts them (no request, no progress bar), with defaults."""
    found = get_function_params(fn)
    return [(n, has, d if has else None) for n, has, d, _ in found if not isinstance(d, gr.Progress)]


def advertised(parameters: list[dict[str, Any]]) -> Advertised:
    return [(p["parameter_name"], p["parameter_has_default"], p["parameter_default"]) for p in parameters]


def test_info_and_view_api_advertise_each_signature(served, endpoints):
    url, _ = served
    client = gradio_client.Client(url + "/", verbose=False)
    view = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    info = httpx.get(url + "/gradio_api/info", timeout=WAIT_S).json()["named_endpoints"]
    assert set(view) == set(info) == set(endpoints) and len(endpoints) >= 11
    for name, expected in endpoints.items():
        assert advertised(info[name]["parameters"]) == expected, name
        assert advertised(view[name]["parameters"]) == expected, name
    qa = dict((n, d) for n, _, d in advertised(info["/finetune_qa"]["parameters"]))
    assert {k: qa[k] for k in QA_DEFAULTS} == QA_DEFAULTS
    assert not advertised(info["/classify"]["parameters"])[0][1]  # head has no default: it is required


def test_plain_http_pads_left_out_arguments_with_the_signature_defaults(served, endpoints):
    """A body with no arguments answers 422 naming each argument and the default it would get."""
    url, _ = served
    for name, expected in endpoints.items():
        reply = httpx.post(f"{url}/gradio_api/call{name}", json={"data": []}, timeout=WAIT_S)
        assert reply.status_code == 422, (name, reply.text)
        listed = reply.json()["detail"].split("takes a JSON object with: ", 1)[1].split("; ", 1)[0]
        described = [f"{p} (default {d!r})" if has else f"{p} (required)" for p, has, d in expected]
        assert listed == ", ".join(described), name


def documented() -> dict[str, Advertised]:
    """docs/gradio-api.md's signatures, ``/name(a, b=1)``, by endpoint."""
    found = {}
    for name, arguments in re.findall(r"\| `(/\w+)\(([^`]*)\)` \|", text("docs/gradio-api.md")):
        call = ast.parse(f"f({arguments})", mode="eval").body
        assert isinstance(call, ast.Call), name
        required = [(arg.id, False, None) for arg in call.args if isinstance(arg, ast.Name)]
        defaults = [(kw.arg, True, ast.literal_eval(kw.value)) for kw in call.keywords]
        found[name] = required + defaults
    return found


def test_docs_table_gives_each_signature(endpoints):
    docs = documented()
    for name, expected in endpoints.items():
        assert name in docs, f"docs/gradio-api.md's table has no `{name}(...)` signature"
        assert docs[name] == expected, name


def call_plain(url: str, endpoint: str, data: list) -> list:
    """POST ``data`` to ``/gradio_api/call/<endpoint>`` and read the stream to its outputs."""
    reply = httpx.post(f"{url}/gradio_api/call/{endpoint}", json={"data": data}, timeout=WAIT_S)
    assert reply.status_code == 200, reply.text
    event = reply.json()["event_id"]
    outputs, kind = None, ""
    with httpx.stream("GET", f"{url}/gradio_api/call/{endpoint}/{event}", timeout=WAIT_S) as stream:
        for line in stream.iter_lines():
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: ") and kind in ("complete", "error"):
                outputs = json.loads(line.removeprefix("data: "))
    assert kind == "complete", outputs
    return outputs


def test_finetune_qa_with_the_file_alone_trains_at_its_documented_defaults(served, tmp_path):
    url, _ = served
    path = write_jsonl(tmp_path / "qa.jsonl", qa_records(20, unanswerable=4))
    client = gradio_client.Client(url + "/", verbose=False)
    *_, result = client.predict(gradio_client.handle_file(str(path)), api_name="/finetune_qa")
    assert result["stopped"] == "completed" and result["task"] == "qa"
    assert {k: result["settings"][k] for k in QA_DEFAULTS} == QA_DEFAULTS
    upload = httpx.post(f"{url}/gradio_api/upload", files={"files": path.open("rb")}, timeout=WAIT_S)
    assert upload.status_code == 200, upload.text
    file = {"path": upload.json()[0], "orig_name": path.name, "meta": {"_type": "gradio.FileData"}}
    plain = call_plain(url, "finetune_qa", [file])[-1]
    assert plain["stopped"] == "completed"
    assert {k: plain["settings"][k] for k in QA_DEFAULTS} == QA_DEFAULTS
