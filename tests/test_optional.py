"""Optional parts fail in words: the Ray command-line tools without Ray, and integrated gradients
without Captum, say which package is missing and which requirements file installs it, on stderr,
on the page's endpoint and over /v1, never with a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from electra_demo import optional

ROOT = Path(__file__).resolve().parent.parent

# Runs a module as `python -m` would, in an interpreter where the named packages cannot be imported.
HIDDEN = """
import runpy, sys
hidden = set(sys.argv[1].split(","))

class Hide:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in hidden:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, Hide())
module, sys.argv = sys.argv[2], [sys.argv[2], *sys.argv[3:]]
runpy.run_module(module, run_name="__main__", alter_sys=True)
"""


def run_without(hidden: str, module: str, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-c", HIDDEN, hidden, module, *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.parametrize(
    "module, args",
    [
        ("electra_demo.serve_ray", ["--replicas", "1"]),
        ("electra_demo.batch_ray", ["in.txt", "out.jsonl", "--task", "detect"]),
    ],
)
def test_ray_tools_without_ray_say_what_to_install(module: str, args: list[str]):
    done = run_without("ray", module, *args)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr, done.stderr
    assert f"python -m {module} needs ray[serve,data], which is not installed here" in done.stderr
    assert "pip install -r requirements-scale.txt" in done.stderr


def test_batch_ray_without_pyarrow_says_so():
    done = run_without("pyarrow", "electra_demo.batch_ray", "in.txt", "out.jsonl", "--task", "detect")
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "needs pyarrow" in done.stderr and "requirements-scale.txt" in done.stderr


def test_require_names_a_broken_install_apart_from_a_missing_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "captum.attr", None)  # "import captum.attr" now fails
    with pytest.raises(optional.MissingDependency) as missing:
        optional.require("captum.attr", "Integrated gradients")
    assert str(missing.value) == (
        "Integrated gradients needs captum, which is not installed here. Install it with "
        "`pip install -r requirements.txt` (in the project's folder)."
    )
    assert optional.require("json", "x").dumps([]) == "[]"


@pytest.fixture
def no_captum(monkeypatch):
    for name in [n for n in sys.modules if n == "captum" or n.startswith("captum.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "captum", None)


def test_integrated_gradients_without_captum_is_a_message(no_captum, client, app_url):
    from gradio_client.exceptions import AppError

    args = ("sentiment", "A fine film.", "", "", "integrated_gradients", 4)
    with pytest.raises(AppError, match=r"needs captum, which is not installed.*requirements\.txt"):
        client.predict(*args, api_name="/explain")
    reply = httpx.post(
        app_url + "v1/explain",
        json={"task": "sentiment", "text": "A fine film.", "method": "integrated_gradients", "steps": 4},
        timeout=120,
    )
    assert reply.status_code == 503, reply.text
    error = reply.json()["error"]
    assert error["code"] == "missing_dependency" and "pip install -r requirements.txt" in error["message"]
    # gradient x input needs no Captum and still answers
    *_, result = client.predict(*args[:4], "gradient_x_input", 4, api_name="/explain")
    assert result["method"] == "gradient_x_input"


@pytest.fixture
def no_accelerate(monkeypatch):
    monkeypatch.setitem(sys.modules, "accelerate", None)  # find_spec and import both fail now


def test_fine_tuning_without_accelerate_is_a_message_and_starts_no_child(no_accelerate, client, tmp_path):
    """The Trainer's accelerate is checked before a training child starts: the visitor hears at
    once which package is missing (classify and tagging runs alike), and no child is left over."""
    from gradio_client.exceptions import AppError

    from tests.helpers.data import cue_rows, tag_sentences, write_conll, write_csv
    from tests.helpers.training import finetune_args, tag_args, workers

    expected = (
        r"Fine-tuning \(the Fine-tune tab\) needs accelerate, which is not installed here\. "
        r"Install it with `pip install -r requirements\.txt`"
    )
    table = write_csv(tmp_path / "labels.csv", cue_rows(40))
    with pytest.raises(AppError, match=expected):
        client.predict(*finetune_args(table, epochs=1), api_name="/finetune")
    tags = write_conll(tmp_path / "entities.conll", tag_sentences(40))
    with pytest.raises(AppError, match=expected):
        client.predict(*tag_args(tags, epochs=1), api_name="/finetune_tag")
    assert workers() == []


def test_check_finds_an_installed_package_without_importing_it():
    optional.check("json", "x")  # no error
    with pytest.raises(optional.MissingDependency, match="needs no_such_package_here"):
        optional.check("no_such_package_here", "A feature")
