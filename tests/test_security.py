"""Security properties: what loads models, what picks them, what the server serves, and that
user text is never markup in a real browser."""

from __future__ import annotations

import ast
import functools
import http.client
import re
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest
from gradio_client.exceptions import AppError

from electra_demo import config

ROOT = Path(__file__).resolve().parent.parent
SECRET_MARKERS = ("root:x:0:0", "Hugging Face Spaces entry point", "def create_app", "ELECTRA_DEMO_")
SOURCES = sorted([*(ROOT / "electra_demo").rglob("*.py"), ROOT / "app.py"])
TIMEOUT = 60_000  # a bound on waiting for what must appear; a busy machine is slow, not wrong


# ---- (a) no remote code, safetensors only -------------------------------------------------------
@functools.cache  # parsed once for the module: the checks below walk every tree several times
def parsed() -> list[tuple[Path, ast.AST]]:
    return [(path, ast.parse(path.read_text(), filename=str(path))) for path in SOURCES]


def where(path: Path, node: ast.AST) -> str:
    return f"{path.relative_to(ROOT)}:{node.lineno}"


def test_sources_are_found():
    names = {p.relative_to(ROOT).as_posix() for p in SOURCES}
    assert {"app.py", "electra_demo/service.py", "electra_demo/runtime/backends.py"} <= names


def test_no_trust_remote_code_anywhere():
    for path in SOURCES:
        values = re.findall(r"trust_remote_code[\"']?\s*[:=]\s*([^\s,)}]+)", path.read_text())
        assert all(v == "False" for v in values), (path, values)
    for path, tree in parsed():
        for node in ast.walk(tree):
            if isinstance(node, ast.keyword) and node.arg == "trust_remote_code":
                value = node.value
                assert isinstance(value, ast.Constant) and value.value is False, where(path, value)
            if isinstance(node, ast.Dict):
                for key, value in zip(node.keys, node.values, strict=True):
                    if isinstance(key, ast.Constant) and key.value == "trust_remote_code":
                        assert isinstance(value, ast.Constant) and value.value is False, where(path, node)


def calls_in(tree: ast.AST) -> list[ast.Call]:
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "from_pretrained"
    ]


def from_pretrained_calls():
    for path, tree in parsed():
        for node in calls_in(tree):
            yield path, node


def test_models_load_from_safetensors_only():
    calls = list(from_pretrained_calls())
    assert calls, "no from_pretrained call found: has loading moved?"
    models = 0
    for path, node in calls:
        receiver = ast.unparse(node.func.value)
        if "Tokenizer" in receiver or receiver.endswith("Config"):
            continue  # tokenizers and configs read no weights (trust_remote_code is checked below)
        models += 1
        keywords = {k.arg: k.value for k in node.keywords if k.arg}
        value = keywords.get("use_safetensors")
        assert isinstance(value, ast.Constant) and value.value is True, (
            f"{where(path, node)}: {receiver}.from_pretrained without use_safetensors=True"
        )
    assert models >= 1


def test_every_from_pretrained_says_no_remote_code():
    """Each call passes trust_remote_code=False, directly or in a ``**kwargs`` dict that does."""
    for path, tree in parsed():
        safe_dicts = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(node.value, ast.Dict):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                pairs = zip(node.value.keys, node.value.values, strict=True)
                if any(
                    isinstance(k, ast.Constant)
                    and k.value == "trust_remote_code"
                    and isinstance(v, ast.Constant)
                    and v.value is False
                    for k, v in pairs
                ):
                    safe_dicts |= {t.id for t in targets if isinstance(t, ast.Name)}
        for node in calls_in(tree):
            direct = any(k.arg == "trust_remote_code" for k in node.keywords)
            spread = any(
                k.arg is None and isinstance(k.value, ast.Name) and k.value.id in safe_dicts
                for k in node.keywords
            )
            assert direct or spread, f"{where(path, node)} does not say trust_remote_code=False"


def test_no_pickle_loading():
    """Weights never come from pickles: no torch.load / pickle.load in the app."""
    for path in SOURCES:
        text = path.read_text()
        assert not re.search(r"\btorch\.load\(|\bpickle\.loads?\(|\bjoblib\.load\(", text), path


# ---- (b) model ids come only from the registry and the environment ------------------------------
SUSPICIOUS = re.compile(r"model|path|checkpoint|repo|revision|source|dir|url|hub|slot|env", re.I)
ALLOWED_COMPONENTS = {"Textbox", "Slider", "Number", "Dropdown", "Checkbox", "Radio"}
ENDPOINTS = {"/detect", "/corrupt", "/classify", "/tag", "/answer"}
# their last argument, `model`, takes only "" (the registry's slot) or a trained model's random id
# (ft-/ad-, from the demo's own store); anything else is refused before loading (tested below)
MODEL_ARGUMENT = {"/detect", "/corrupt", "/tag", "/answer", "/proofread"}


def test_api_has_no_parameter_that_names_a_model(client):
    api = client.view_api(return_format="dict", print_info=False)
    assert not api.get("unnamed_endpoints"), api.get("unnamed_endpoints")
    endpoints = api["named_endpoints"]
    assert set(endpoints) >= ENDPOINTS
    for name, endpoint in endpoints.items():
        for parameter in endpoint["parameters"]:
            label = f"{name}({parameter['parameter_name']})"
            if name in MODEL_ARGUMENT and parameter is endpoint["parameters"][-1]:
                assert parameter["parameter_name"] == "model", label
                continue
            assert not SUSPICIOUS.search(parameter["parameter_name"]), label
            if parameter["component"] == "File":
                # an upload (FileData): a server path in it is refused, see the test below
                assert name in UPLOADS and parameter["parameter_name"] == "file", label
                continue
            assert parameter["component"] in ALLOWED_COMPONENTS, (label, parameter["component"])
            kind = parameter["python_type"]["type"]
            assert "file" not in kind.lower() and "path" not in kind.lower(), (label, kind)
            assert parameter["type"].get("type") in {"string", "number", "integer", "boolean"}, label
            if parameter["parameter_name"] == "head":  # a closed list, not free text
                # the Classify tab's menu also offers zero-shot, which /classify refuses in words
                # (it has its own endpoint, /zeroshot)
                assert parameter["type"]["enum"] in (
                    list(config.CLASSIFY_HEADS),
                    [*config.CLASSIFY_HEADS, "zero-shot"],
                ), label
            if parameter["parameter_name"] == "aggregation":
                assert parameter["type"]["enum"] == list(config.AGGREGATIONS), label
    assert endpoints["/classify"]["parameters"][0]["parameter_name"] == "head"


# the endpoints that take an upload, with settings that would run on a readable file
UPLOADS = {
    "/batch": ["detect", "", "", "", "", "sentiment", "simple", 0.5, 3],
    "/finetune": ["text", "label", "", "discriminator", "head", 1, 5e-5, 16, 32, 0.2, 42],
    "/finetune_tag": ["discriminator", "head", 1, 5e-5, 16, 32, 0.2, 42],
    "/finetune_qa": ["discriminator", "head", 1, 5e-5, 16, 32, 8, 0.2, 42],
    "/adapt": ["", 20, 5e-5, 16, 32, 0.15, 0.1, 42],
}


def run_batch(app_url: str, path: str, api: str = "/batch") -> str:
    """``api`` over raw HTTP with ``path`` written into the FileData; the event stream's text."""
    file = {"path": path, "meta": {"_type": "gradio.FileData"}}
    base = app_url.rstrip("/") + "/gradio_api/call" + api
    with httpx.Client(timeout=60) as http:
        posted = http.post(base, json={"data": [file, *UPLOADS[api]]})
        if posted.status_code != 200:
            return f"refused: {posted.status_code}"
        return http.get(f"{base}/{posted.json()['event_id']}").text


@pytest.fixture
def batch_endpoint(client):
    if "/batch" not in client.view_api(return_format="dict", print_info=False)["named_endpoints"]:
        pytest.skip("no /batch endpoint")


def test_batch_reads_an_uploaded_file(app_url, batch_endpoint):
    """The control for the test below: the same call with a real upload answers."""
    uploaded = httpx.post(
        app_url.rstrip("/") + "/gradio_api/upload",
        files={"files": ("rows.txt", b"The chef cooked.\nParis is big.\n", "text/plain")},
    )
    assert uploaded.status_code == 200, uploaded.text
    assert "event: complete" in run_batch(app_url, uploaded.json()[0])


@pytest.mark.parametrize("path", ["/etc/passwd", str(ROOT / "app.py"), "../../app.py", "/proc/self/environ"])
@pytest.mark.parametrize("api", list(UPLOADS))
def test_uploads_refuse_a_server_path_as_their_file(app_url, batch_endpoint, path, api):
    """A caller can write any path into the FileData it sends; only uploads may be read."""
    stream = run_batch(app_url, path, api)
    assert "event: complete" not in stream, stream[:300]
    assert not any(marker in stream for marker in SECRET_MARKERS), stream[:300]


MODEL_NAMES = [
    "/etc/passwd",
    "/tmp",
    "../../../../etc",
    "./electra_demo",
    "~/.cache/huggingface",
    "google/electra-base-discriminator",
    "bert-base-uncased",
    "deepset/electra-base-squad2",
    "discriminator",
    "qa",
    "ELECTRA_DEMO_SENTIMENT",
    "file:///etc/passwd",
    "https://huggingface.co/google/electra-base-discriminator",
]


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_a_path_or_hub_id_as_head_is_refused(client, service, monkeypatch, name):
    loaded: list[str] = []
    original = service.load

    def spy(slot: str):
        loaded.append(slot)
        return original(slot)

    monkeypatch.setattr(service, "load", spy)
    with pytest.raises(AppError, match=r"not in the list of choices|Unknown head") as info:
        client.predict(name, "The chef cooked.", "", api_name="/classify")
    assert "Traceback" not in str(info.value)
    assert loaded == []  # refused before anything loads
    assert set(service.status()) == set(config.REGISTRY)  # no new slot appeared


@pytest.mark.parametrize("name", [n for n in MODEL_NAMES if n not in ("qa",)])
def test_a_path_or_hub_id_as_model_of_tag_and_answer_is_refused(client, service, monkeypatch, name):
    loaded: list[str] = []
    original = service.load
    monkeypatch.setattr(service, "load", lambda slot: loaded.append(slot) or original(slot))
    for args, api in (
        (["The chef cooked.", "simple", name], "/tag"),
        (["Who?", "The chef cooked.", 3, 15, True, 384, 128, name], "/answer"),
    ):
        with pytest.raises(AppError, match="the id of a model trained in the Fine-tune tab") as info:
            client.predict(*args, api_name=api)
        assert "Traceback" not in str(info.value)
    assert loaded == []  # refused before anything loads
    assert set(service.status()) == set(config.REGISTRY)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_the_service_itself_refuses_a_path_or_hub_id_as_head(service, name):
    """Behind Gradio's choice check, the service checks again (an API caller can skip the UI)."""
    from electra_demo.checks import InputError

    with pytest.raises(InputError, match="Unknown head"):
        service.classify(name, "The chef cooked.")


# ---- (c) the server serves no file but Gradio's own ---------------------------------------------


def file_paths(tiny_dir: Path) -> list[str]:
    app_py = str(ROOT / "app.py")
    return [
        "/file=/etc/passwd",
        "/gradio_api/file=/etc/passwd",
        f"/gradio_api/file={app_py}",
        "/gradio_api/file=../../app.py",
        "/gradio_api/file=app.py",
        "/gradio_api/file=./app.py",
        "/gradio_api/file=electra_demo/config.py",
        f"/gradio_api/file={ROOT}/../{ROOT.name}/app.py",
        "/gradio_api/file=%2Fetc%2Fpasswd",
        "/gradio_api/file=%252Fetc%252Fpasswd",
        "/gradio_api/file=..%2F..%2Fapp.py",
        "/gradio_api/file=%2e%2e/%2e%2e/app.py",
        "/gradio_api/file=%2e%2e%2f%2e%2e%2fapp.py",
        f"/gradio_api/file={app_py.replace('/', '%2F')}",
        "/gradio_api/file=//etc/passwd",
        "/gradio_api/file=file:///etc/passwd",
        "/gradio_api/file=/proc/self/environ",
        "/gradio_api/file=/proc/self/cmdline",
        "/gradio_api/file=/tmp/gradio/../../etc/passwd",
        f"/gradio_api/file={tiny_dir}/discriminator/config.json",
        "/file=../../app.py",
        "/static/../app.py",
        "/assets/../../app.py",
        "/assets/%2e%2e/%2e%2e/app.py",
        "/gradio_api/static/../../app.py",
        "/..%2f..%2fetc%2fpasswd",
        "/app.py",
    ]


def raw_get(app_url: str, path: str) -> tuple[int, bytes]:
    """GET exactly ``path``: http.client sends it as written (httpx would resolve the ``..``)."""
    url = urlparse(app_url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_no_file_outside_gradio_is_served(app_url, tiny_dir):
    served = []
    for path in file_paths(tiny_dir):
        status, body = raw_get(app_url, path)
        text = body.decode("utf-8", "replace")
        if status not in (400, 403, 404) or any(marker in text for marker in SECRET_MARKERS):
            served.append((path, status, text[:80]))
    assert served == []


def test_the_page_itself_is_served(app_url):
    """The control: the same raw GET does fetch what Gradio needs."""
    status, body = raw_get(app_url, "/")
    assert status == 200 and b"<html" in body.lower()
    status, _ = raw_get(app_url, "/gradio_api/info")
    assert status == 200


def test_an_uploaded_file_comes_back_only_as_an_attachment(app_url):
    """Gradio's upload route exists even without a file input: what it stores must never render."""
    html = b"<script>window.__pwned=1</script>"
    uploaded = httpx.post(
        app_url.rstrip("/") + "/gradio_api/upload", files={"files": ("x.html", html, "text/html")}
    )
    if uploaded.status_code != 200:
        return  # uploads refused: nothing is served
    got = httpx.get(app_url.rstrip("/") + "/gradio_api/file=" + uploaded.json()[0])
    assert "text/html" not in got.headers.get("content-type", "")
    assert got.headers.get("content-disposition", "").startswith("attachment")


def test_uploads_are_capped(app_url):
    """Gradio's upload route takes any file unless launch() caps it: 5 MB must be refused."""
    megabytes = b"x" * 5_000_000
    uploaded = httpx.post(
        app_url.rstrip("/") + "/gradio_api/upload",
        files={"files": ("big.bin", megabytes, "application/octet-stream")},
        timeout=60,
    )
    assert uploaded.status_code in (400, 403, 413), uploaded.status_code


# ---- (d) user text is never markup, in a real browser -------------------------------------------
ATTACK = (
    '<img src=x onerror="window.__pwned=1"> <script>window.__pwned=2</script> '
    '<a href="http://example.com/a">click</a> <svg onload="window.__pwned=3"></svg> '
    '<iframe src="javascript:window.__pwned=4"></iframe> <img src=y onerror=alert(1)> '
    "**bold** [link](http://example.com) ![img](http://example.com/a.png) "
    "<b>b</b> &lt;escaped&gt;"
)
QUESTION_ATTACK = '<img src=x onerror="window.__pwned=5"> [q](http://example.com) **who**?'


def squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


def shown_text(page, selector: str) -> str:
    """The text of a HighlightedText output, its token spans joined in order."""
    return page.locator(f"{selector} .textfield").evaluate(
        "field => Array.from(field.querySelectorAll('.token .text'), s => s.textContent).join('')"
    )


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name, exact=True).click()


def wait_tokens(page, selector: str) -> None:
    from playwright.sync_api import expect

    expect(page.locator(f"{selector} .textfield .token").first).to_be_visible(timeout=TIMEOUT)


def open_accordions(page) -> None:
    """Open every closed accordion in the visible tab (tables and JSON hold user text too)."""
    panel = page.get_by_role("tabpanel")
    for button in panel.locator("button.label-wrap:not(.open)").all():
        if button.is_visible():
            button.click()


def no_markup_from_user(page, selectors: list[str]) -> None:
    """No element from the user's text; summaries are the app's own Markdown (bold is theirs)."""
    for selector in selectors:
        region = page.locator(selector)
        assert region.count() >= 1, selector
        tags = "img, script, a, iframe, svg[onload]"
        if "summary" not in selector:
            tags += ", strong, em, b"
        found = region.locator(tags).count()
        assert found == 0, f"{selector} holds markup from the user's text"
    panel = page.get_by_role("tabpanel")
    assert panel.locator("[data-testid='json'] img, [data-testid='json'] a").count() == 0
    assert panel.locator("table img, table a, table script").count() == 0


@pytest.mark.browser
def test_no_tab_turns_user_text_into_markup(page, app_url):
    from playwright.sync_api import expect

    dialogs: list[str] = []

    def on_dialog(dialog) -> None:
        dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.goto(app_url)
    expect(page.locator("#detect-run")).to_be_visible(timeout=TIMEOUT)

    # Replaced tokens
    page.locator("#detect-text textarea").fill(ATTACK)
    page.locator("#detect-run").click()
    expect(page.locator("#detect-summary")).to_contain_text("words look replaced", timeout=TIMEOUT)
    wait_tokens(page, "#detect-tokens")
    wait_tokens(page, "#detect-words")
    open_accordions(page)
    expect(page.get_by_role("tabpanel").get_by_test_id("json")).to_contain_text("pwned", timeout=TIMEOUT)
    assert shown_text(page, "#detect-tokens") == ATTACK
    assert squeeze(page.locator("#detect-words .textfield").inner_text()) == squeeze(ATTACK)
    no_markup_from_user(page, ["#detect-tokens", "#detect-words", "#detect-summary"])

    # Corrupt & detect
    open_tab(page, "Corrupt & detect")
    page.locator("#corrupt-text textarea").fill(ATTACK)
    page.locator("#corrupt-run").click()
    expect(page.locator("#corrupt-summary")).to_contain_text("words masked", timeout=TIMEOUT)
    for selector in ("#corrupt-original", "#corrupt-corrupted", "#corrupt-view"):
        wait_tokens(page, selector)
    open_accordions(page)
    assert shown_text(page, "#corrupt-original") == ATTACK
    no_markup_from_user(
        page, ["#corrupt-original", "#corrupt-corrupted", "#corrupt-view", "#corrupt-summary"]
    )

    # Classify: a one-text head, then the pair head with both texts hostile
    open_tab(page, "Classify")
    page.locator("#classify-text textarea").fill(ATTACK)
    page.locator("#classify-run").click()
    expect(page.locator("#classify-summary")).to_contain_text("%", timeout=TIMEOUT)
    page.locator("#classify-head input").click()
    page.get_by_role("option", name=config.REGISTRY["nli"].display_name).click()
    expect(page.locator("#classify-pair textarea")).to_be_visible(timeout=TIMEOUT)
    page.locator("#classify-text textarea").fill(ATTACK)
    page.locator("#classify-pair textarea").fill(ATTACK)
    page.locator("#classify-run").click()
    expect(page.locator("#classify-label")).to_contain_text("entailment", timeout=TIMEOUT)
    open_accordions(page)
    no_markup_from_user(page, ["#classify-summary", "#classify-label"])

    # Entities
    open_tab(page, "Entities")
    page.locator("#tag-text textarea").fill(ATTACK)
    page.locator("#tag-run").click()
    expect(page.locator("#tag-summary")).to_contain_text("entities", timeout=TIMEOUT)
    wait_tokens(page, "#tag-entities")
    open_accordions(page)
    assert shown_text(page, "#tag-entities") == ATTACK
    no_markup_from_user(page, ["#tag-entities", "#tag-summary"])

    # Question answering
    open_tab(page, "Question answering")
    page.locator("#qa-question textarea").fill(QUESTION_ATTACK)
    page.locator("#qa-context textarea").fill(ATTACK)
    page.locator("#qa-run").click()
    expect(page.locator("#qa-summary")).to_contain_text("searched", timeout=TIMEOUT)
    wait_tokens(page, "#qa-context-view")
    open_accordions(page)
    assert shown_text(page, "#qa-context-view") == ATTACK
    no_markup_from_user(page, ["#qa-context-view", "#qa-summary"])

    # nothing ran, anywhere on the page, and no markup from the text exists anywhere
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert dialogs == []
    assert page.locator("img[src='x'], img[src='y'], img[src*='example.com']").count() == 0
    assert page.locator("a[href*='example.com'], iframe, svg[onload]").count() == 0
    assert not page.evaluate("Array.from(document.scripts).some(s => s.textContent.includes('__pwned'))")
    assert page.locator('[data-testid="toast-body"].error').count() == 0  # every run answered
